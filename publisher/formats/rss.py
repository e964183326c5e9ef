"""RSS 2.0, with atom:link for the self, hub and RFC 5005 archive links."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import Document, FeedFormat, tag_scheme
from .xmltext import HISTORY_NS, LOOKS_LIKE_MARKUP, attr, media_image, rfc2822, rss_text, splice, text

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Post

MEDIA_TYPE = "application/rss+xml"


def entry(config: Config, post: Post) -> bytes:
    """One post's <item>, byte for byte what feedgen writes for it (but for text that looks
    like markup, see rss_text). Authors by name only, the summary as escaped HTML."""
    scheme = attr(tag_scheme(config))
    content = text(post.html) if config.feeds.full_content and post.html else ""
    summary = text(html.escape(post.summary, quote=False))
    parts = [
        f"    <item>\n      <title>{rss_text(post.title)}</title>\n      <link>{text(post.url)}</link>\n",
        f"      <description>{summary or content}</description>\n" if summary or content else "",
        f"      <content:encoded>{content}</content:encoded>\n" if summary and content else "",
        f'      <guid isPermaLink="false">{text(post.id)}</guid>\n',
        *(f'      <category domain="{scheme}">{rss_text(t.name)}</category>\n' for t in post.tags),
        _enclosure(post),
        f"      <pubDate>{rfc2822(post.published.astimezone(config.site.tz))}</pubDate>\n",
        *(f"      <dc:creator>{text(a.name)}</dc:creator>\n" for a in post.authors),
        media_image(post, "      "),
        "    </item>\n",
    ]
    return "".join(parts).encode()


def _enclosure(post: Post) -> str:
    """RSS allows one enclosure per item: the post's first (publish warns of the others). Its
    length is required: 0 when the post does not give it, as the RSS Advisory Board advises."""
    if not post.enclosures:
        return ""
    first = post.enclosures[0]
    return f'      <enclosure url="{attr(first.url)}" length="{first.length or 0}" type="{attr(first.type)}"/>\n'


def _escape_head(head: bytes, doc: Document) -> bytes:
    """feedgen's head with the channel's title and description escaped as rss_text does."""
    for tag, value in (("title", doc.title), ("description", doc.description)):
        if LOOKS_LIKE_MARKUP.search(value):
            old, new = (f"<{tag}>{escape(value)}</{tag}>".encode() for escape in (text, rss_text))
            head = head.replace(old, new, 1)
    return head


def document(config: Config, doc: Document, entries: Sequence[bytes]) -> bytes:
    """feedgen's head, the extra links, then the items (from entry()), newest first."""
    from .head import feed_head  # feedgen and lxml: only when a feed is written

    head = _escape_head(feed_head(config, doc, MEDIA_TYPE).rss_str(pretty=True), doc)
    extra = "".join(f'    <atom:link href="{attr(href)}" rel="{rel}"/>\n' for rel, href in doc.links)
    if doc.archive:
        extra += "    <fh:archive/>\n"
    namespaces = f' xmlns:fh="{HISTORY_NS}"' if doc.archive else ""
    return splice(head, b"  </channel>\n</rss>\n", list(entries), extra, b"<rss", namespaces)


def read(data: bytes, url: str) -> Any:
    import feedparser

    return feedparser.parse(
        data, response_headers={"content-location": url, "content-type": f"{MEDIA_TYPE}; charset=utf-8"}
    )


FORMAT = FeedFormat("rss", "RSS", MEDIA_TYPE, "rss.xml", ".rss.xml", entry, document, read)
