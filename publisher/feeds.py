"""(site | tag | author, posts) -> Atom 1.0 / RSS 2.0 bytes. Pure: no I/O, no clock.

feedgen writes each feed's head. Each post's entry is written once, as text,
and joined into every feed that lists it: a post sits in the site feed and in
each of its tags' feeds, and building an lxml tree per entry per feed was most
of the time of a full publish. The entry text is byte for byte what feedgen
writes for the same entry (tests/feedcheck.py holds the feedgen reference the
tests compare it with).
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from feedgen.feed import FeedGenerator  # first: it loads the lxml.etree that feedgen.ext.dc needs

# isort: split
from feedgen.ext.dc import DcEntryExtension, DcExtension

from .config import Config
from .feedspec import MEDIA_TYPES, FeedSpec, feed_url, tag_scheme
from .model import Post

# Where the entries go: right before the end of the feed's head as feedgen writes it.
_ENTRIES_END = {"atom": b"</feed>\n", "rss": b"  </channel>\n</rss>\n"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(value: str, amp: str = "&amp;", lt: str = "&lt;") -> str:
    """Character data escaped as libxml2 escapes it (or with other references for & and <)."""
    value = value.replace("&", amp).replace("<", lt).replace(">", "&gt;")
    return value.replace("\r", "&#13;") if "\r" in value else value


# Text that a feed validator would take for markup in RSS (which has no way to say "plain
# text"): an end tag, a tag, or a character reference. The W3C validator's CharacterData
# rule wants such text written with hexadecimal references, which every parser reads as text.
_LOOKS_LIKE_MARKUP = re.compile(r"&#[x0-9]|<[/a-zA-Z]")


def _rss_text(value: str) -> str:
    """Plain text for an RSS element: as _text, but "&" and "<" as hexadecimal references
    where the text looks like markup (a title such as "Why <b> is not bold")."""
    return _text(value, "&#x26;", "&#x3C;") if _LOOKS_LIKE_MARKUP.search(value) else _text(value)


def _attr(value: str) -> str:
    """An attribute value escaped as libxml2 escapes it."""
    value = _text(value).replace('"', "&quot;")
    return value.replace("\n", "&#10;").replace("\t", "&#9;")


def _rfc2822(when: datetime) -> str:
    """RSS's date format, in English whatever the process locale."""
    return f"{_DAYS[when.weekday()]}, {when:%d} {_MONTHS[when.month - 1]} {when:%Y %H:%M:%S %z}"


def entry_xml(config: Config, post: Post) -> dict[str, bytes]:
    """One post's entry in each configured format, indented for its place in a feed.

    Authors appear by name only: an e-mail address in a public feed is an invitation
    to spam. Both formats carry the summary as escaped HTML, so a reader can never
    mistake text such as "<script>" in a summary for markup.
    """
    tz = config.site.tz
    scheme = _attr(tag_scheme(config))
    content = _text(post.html) if config.feeds.full_content and post.html else ""
    summary = _text(html.escape(post.summary, quote=False))
    published = post.published.astimezone(tz)
    out: dict[str, bytes] = {}
    if "atom" in config.feeds.formats:
        parts = [
            f"  <entry>\n    <id>{_text(post.id)}</id>\n    <title>{_text(post.title)}</title>\n",
            f"    <updated>{post.updated.astimezone(tz).isoformat()}</updated>\n",
            *(f"    <author>\n      <name>{_text(a.name)}</name>\n    </author>\n" for a in post.authors),
            f'    <content type="html">{content}</content>\n' if content else "",
            f'    <link href="{_attr(post.url)}"/>\n',
            f'    <summary type="html">{summary}</summary>\n' if summary else "",
            *(
                f'    <category term="{n}" scheme="{scheme}" label="{n}"/>\n'
                for n in (_attr(t.name) for t in post.tags)
            ),
            f"    <published>{published.isoformat()}</published>\n  </entry>\n",
        ]
        out["atom"] = "".join(parts).encode()
    if "rss" in config.feeds.formats:
        parts = [
            f"    <item>\n      <title>{_rss_text(post.title)}</title>\n      <link>{_text(post.url)}</link>\n",
            f"      <description>{summary or content}</description>\n" if summary or content else "",
            f"      <content:encoded>{content}</content:encoded>\n" if summary and content else "",
            f'      <guid isPermaLink="false">{_text(post.id)}</guid>\n',
            *(f'      <category domain="{scheme}">{_rss_text(t.name)}</category>\n' for t in post.tags),
            f"      <pubDate>{_rfc2822(published)}</pubDate>\n",
            *(f"      <dc:creator>{_text(a.name)}</dc:creator>\n" for a in post.authors),
            "    </item>\n",
        ]
        out["rss"] = "".join(parts).encode()
    return out


def feed_head(config: Config, spec: FeedSpec, newest: datetime, fmt: str) -> FeedGenerator:
    """A feed with everything but its entries; ``updated`` is the newest entry's, never the clock's."""
    site = config.site
    fg = FeedGenerator()
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)  # xmlns:dc for dc:creator
    fg.id(feed_url(config, spec, "atom"))
    fg.title(spec.title)
    fg.subtitle(spec.description)
    fg.description(spec.description)
    fg.link(href=feed_url(config, spec, fmt), rel="self", type=MEDIA_TYPES[fmt])
    fg.link(href=spec.page_url, rel="alternate", type="text/html")  # last link is RSS's <link>
    fg.language(site.language)
    fg.generator("publisher")
    fg.updated(newest.astimezone(site.tz))
    fg.lastBuildDate(newest.astimezone(site.tz))
    return fg


def _rss_head(head: bytes, spec: FeedSpec) -> bytes:
    """feedgen's RSS head with the channel's title and description escaped as _rss_text does."""
    for tag, value in (("title", spec.title), ("description", spec.description)):
        if _LOOKS_LIKE_MARKUP.search(value):
            old, new = (f"<{tag}>{escape(value)}</{tag}>".encode() for escape in (_text, _rss_text))
            head = head.replace(old, new, 1)
    return head


def render_feed(config: Config, spec: FeedSpec, entries: list[bytes], newest: datetime, fmt: str) -> bytes:
    """The bytes of one feed: its head from feedgen, then its entries (from entry_xml), newest first."""
    fg = feed_head(config, spec, newest, fmt)
    head = fg.atom_str(pretty=True) if fmt == "atom" else _rss_head(fg.rss_str(pretty=True), spec)
    cut = head.rindex(_ENTRIES_END[fmt])
    return b"".join([head[:cut], *entries, head[cut:]])
