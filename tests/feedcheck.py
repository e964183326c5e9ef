"""Round-trip checks: parse the bytes we wrote with feedparser and compare with the store."""

from __future__ import annotations

import calendar
import html
import re
from datetime import datetime
from pathlib import Path

import feedparser
from feedparser.sanitizer import _sanitize_html

from publisher.config import Config
from publisher.feedspec import FeedSpec, document, feed_url
from publisher.formats import FORMATS, tag_scheme
from publisher.formats.head import feed_head
from publisher.model import Post


def parse(config: Config, spec: FeedSpec, fmt: str) -> feedparser.FeedParserDict:
    """Parse a written feed as a reader fetching it from its public URL would."""
    data = (config.feeds.folder / spec.path(fmt)).read_bytes()
    parsed: feedparser.FeedParserDict = FORMATS[fmt].read(data, feed_url(config, spec, fmt))
    return parsed


# What feedgen cannot write, and publisher adds: hub and RFC 5005 links, fh:archive, an entry's
# xml:lang, and Atom enclosure links (feedgen 1.0 writes an entry's links without rel, type or length).
_EXTRA_HEAD = re.compile(
    rb'( xmlns:fh="http://purl.org/syndication/history/1.0"'
    rb'|\n *<(atom:)?link href="[^"]*" rel="(hub|current|prev-archive|next-archive)"/>(?=\n)|\n *<fh:archive/>(?=\n)'
    rb'|(?<=<entry) xml:lang="[^"]*"|\n *<link href="[^"]*" rel="enclosure"[^>]*/>(?=\n))'
)


def instant(parsed: object) -> int:
    return calendar.timegm(parsed)  # type: ignore[arg-type]


def assert_round_trip(config: Config, spec: FeedSpec, fmt: str, posts: list[Post]) -> None:
    """The file is what feedgen writes for these posts (but for RSS text that looks like markup,
    where "&" and "<" are hexadecimal references), and what feedparser reads back equals what
    the store holds, entry by entry, in order."""
    written = (config.feeds.folder / spec.path(fmt)).read_bytes()
    feedgen_part = _EXTRA_HEAD.sub(b"", written).replace(b"&#x26;", b"&amp;").replace(b"&#x3C;", b"&lt;")
    assert feedgen_part == feedgen_reference(config, spec, fmt, posts)
    parsed = parse(config, spec, fmt)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == ("atom10" if fmt == "atom" else "rss20")
    feed = parsed.feed
    assert feed.title == spec.title
    links = {(link["rel"], link["href"]) for link in feed.links}
    assert ("self", feed_url(config, spec, fmt)) in links
    assert ("alternate", spec.page_url) in links
    assert set(links) - {("self", feed_url(config, spec, fmt)), ("alternate", spec.page_url)} == set(
        document(config, spec, fmt, max(p.updated for p in posts)).links
    )
    assert feed.language == config.site.language
    if fmt == "atom":
        assert feed.id == feed_url(config, spec, "atom", 0)  # every page: the subscription's id
        assert (feed.get("icon", ""), feed.get("logo", "")) == (config.site.icon, config.site.logo)
    else:
        assert feed.get("image", {}).get("href", "") == (config.site.logo or config.site.icon)
    newest = max(p.updated for p in posts)
    assert instant(feed.updated_parsed) == newest.timestamp()
    assert [e.id for e in parsed.entries] == [p.id for p in posts]
    for entry, post in zip(parsed.entries, posts, strict=True):
        # RSS titles carry no type: when one looks like HTML, feedparser treats it as HTML
        # and sanitises it, so compare with what its sanitiser makes of our text.
        html_title = fmt == "rss" and entry.title_detail.type == "text/html"
        assert entry.title == (_sanitize_html(post.title, "utf-8", "text/html") if html_title else post.title)
        assert entry.link == post.url
        assert [a["name"] for a in entry.authors] == [a.name for a in post.authors]
        assert all("email" not in a for a in entry.authors)
        if fmt == "atom":
            assert instant(entry.updated_parsed) == post.updated.timestamp()
        assert instant(entry.published_parsed) == post.published.timestamp()
        assert [t.term for t in entry.get("tags", [])] == [t.name for t in post.tags]
        if fmt == "atom":
            assert [t.label for t in entry.get("tags", [])] == [t.name for t in post.tags]
        assert html.unescape(entry.get("summary", "")) == post.summary
        _assert_media(entry, post, fmt, config.site.language)
        if config.feeds.full_content and post.html:
            assert entry.content[0].value == _sanitize_html(post.html, "utf-8", "text/html")
        else:
            assert "content" not in entry


def _assert_media(entry: feedparser.FeedParserDict, post: Post, fmt: str, language: str) -> None:
    """Enclosures (RSS: the first only), the Media RSS image and (Atom) the entry's language, read back."""
    wanted = post.enclosures if fmt == "atom" else post.enclosures[:1]
    found = [(e.href, e.type, e.get("length")) for e in entry.get("enclosures", [])]
    default = "0" if fmt == "rss" else None
    assert found == [(e.url, e.type, default if e.length is None else str(e.length)) for e in wanted]
    images = [m["url"] for m in entry.get("media_content", [])], [m["url"] for m in entry.get("media_thumbnail", [])]
    assert images == (([post.image], [post.image]) if post.image else ([], []))
    if fmt == "atom":
        assert entry.title_detail.language == (post.lang or language)


def feed_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.xml"))


def feedgen_reference(config: Config, spec: FeedSpec, fmt: str, posts: list[Post]) -> bytes:
    """The feed as feedgen writes it when given every entry: what the written file must equal."""
    doc = document(config, spec, fmt, max(p.updated for p in posts), media=any(p.image for p in posts))
    fg = feed_head(config, doc, FORMATS[fmt].media_type)
    tz = config.site.tz
    for post in posts:
        entry = fg.add_entry(order="append")
        entry.guid(post.id, permalink=False)
        entry.title(post.title)
        entry.link(href=post.url, rel="alternate", type="text/html")
        if post.enclosures and fmt == "rss":  # one per item, with a length
            first = post.enclosures[0]
            entry.enclosure(url=first.url, length=str(first.length or 0), type=first.type)
        if post.image:
            entry.media.content(url=post.image, medium="image", group=None)
            entry.media.thumbnail(url=post.image, group=None)
        entry.published(post.published.astimezone(tz))
        entry.updated(post.updated.astimezone(tz))
        for author in post.authors:
            entry.author({"name": author.name})
        entry.dc.dc_creator([a.name for a in post.authors])
        for tag in post.tags:
            entry.category(term=tag.name, label=tag.name, scheme=tag_scheme(config))
        if post.summary:
            entry.summary(html.escape(post.summary, quote=False), type="html")
        if config.feeds.full_content and post.html:
            entry.content(post.html, type="html")
    return fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)


def assert_json_round_trip(config: Config, spec: FeedSpec, posts: list[Post]) -> None:
    """The JSON Feed file read back equals what the store holds, item by item, in order."""
    url = feed_url(config, spec, "json")
    feed = FORMATS["json"].read((config.feeds.folder / spec.path("json")).read_bytes(), url)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert (feed["title"], feed["home_page_url"], feed["feed_url"]) == (spec.title, spec.page_url, url)
    assert feed["language"] == config.site.language
    assert (feed.get("icon", ""), feed.get("favicon", "")) == (config.site.logo or config.site.icon, config.site.icon)
    assert [item["id"] for item in feed["items"]] == [p.id for p in posts]
    for item, post in zip(feed["items"], posts, strict=True):
        assert (item["url"], item["title"]) == (post.url, post.title)
        if config.feeds.full_content and post.html:
            assert item["content_html"] == post.html
            assert item.get("summary", "") == post.summary
        else:
            assert item["content_text"] == post.summary
        assert datetime.fromisoformat(item["date_published"]) == post.published
        assert datetime.fromisoformat(item["date_modified"]) == post.updated
        assert [a["name"] for a in item.get("authors", [])] == [a.name for a in post.authors]
        assert item.get("tags", []) == [t.name for t in post.tags]
        assert (item.get("image", ""), item.get("language", "")) == (post.image, post.lang)
        attachments = [(a["url"], a["mime_type"], a.get("size_in_bytes")) for a in item.get("attachments", [])]
        assert attachments == [(e.url, e.type, e.length) for e in post.enclosures]
