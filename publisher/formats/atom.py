"""Atom 1.0 (RFC 4287), with RFC 5005 archive links and WebSub hub links."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import Document, FeedFormat, tag_scheme
from .xmltext import HISTORY_NS, attr, media_image, splice, text

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Enclosure, Post

MEDIA_TYPE = "application/atom+xml"


def entry(config: Config, post: Post) -> bytes:
    """One post's <entry>, byte for byte what feedgen writes for it (tests/feedcheck.py), but for
    its xml:lang and enclosure links: feedgen 1.0 drops a link's rel, type and length, which
    would make an enclosure a second alternate link.

    Authors appear by name only: an e-mail address in a public feed is an invitation to
    spam. The summary is escaped HTML, so text such as "<script>" is never taken for markup.
    """
    tz = config.site.tz
    scheme = attr(tag_scheme(config))
    content = text(post.html) if config.feeds.full_content and post.html else ""
    summary = text(html.escape(post.summary, quote=False))
    lang = f' xml:lang="{attr(post.lang)}"' if post.lang else ""
    parts = [
        f"  <entry{lang}>\n    <id>{text(post.id)}</id>\n    <title>{text(post.title)}</title>\n",
        f"    <updated>{post.updated.astimezone(tz).isoformat()}</updated>\n",
        *(f"    <author>\n      <name>{text(a.name)}</name>\n    </author>\n" for a in post.authors),
        f'    <content type="html">{content}</content>\n' if content else "",
        f'    <link href="{attr(post.url)}"/>\n',
        *(
            f'    <link href="{attr(e.url)}" rel="enclosure" type="{attr(e.type)}"{_length(e)}/>\n'
            for e in post.enclosures
        ),
        f'    <summary type="html">{summary}</summary>\n' if summary else "",
        *(f'    <category term="{n}" scheme="{scheme}" label="{n}"/>\n' for n in (attr(t.name) for t in post.tags)),
        f"    <published>{post.published.astimezone(tz).isoformat()}</published>\n",
        media_image(post, "    "),
        "  </entry>\n",
    ]
    return "".join(parts).encode()


def _length(enclosure: Enclosure) -> str:
    return "" if enclosure.length is None else f' length="{enclosure.length}"'


def document(config: Config, doc: Document, entries: Sequence[bytes]) -> bytes:
    """feedgen's head, the extra links, then the entries (from entry()), newest first."""
    from .head import feed_head  # feedgen and lxml: only when a feed is written

    head = feed_head(config, doc, MEDIA_TYPE).atom_str(pretty=True)
    extra = "".join(f'  <link href="{attr(href)}" rel="{rel}"/>\n' for rel, href in doc.links)
    if doc.archive:
        extra += "  <fh:archive/>\n"
    namespaces = f' xmlns:fh="{HISTORY_NS}"' if doc.archive else ""
    root = b'xmlns="http://www.w3.org/2005/Atom"'  # in the root tag, wherever feedgen puts other namespaces
    return splice(head, b"</feed>\n", list(entries), extra, root, namespaces)


def read(data: bytes, url: str) -> Any:
    import feedparser

    return feedparser.parse(
        data, response_headers={"content-location": url, "content-type": f"{MEDIA_TYPE}; charset=utf-8"}
    )


FORMAT = FeedFormat("atom", "Atom", MEDIA_TYPE, "atom.xml", ".xml", entry, document, read)
