"""Any RSS 0.9x/1.0/2.0 or Atom feed -> its entries as posts, read with feedparser.

feedparser reads broken feeds too; what it recovers is imported and the damage is
reported, except a file cut short, whose last entry may be silently incomplete.
"""

from __future__ import annotations

import calendar
import dataclasses
import html
import io
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax import SAXParseException

import feedparser

from ..config import Config
from ..sanitize import html_to_text
from .common import (
    XML_TRUNCATED,
    Batch,
    ImportedPost,
    Skipped,
    Source,
    attributes,
    counted,
    fail,
    html_body,
    media_links,
    slug_for,
    xml_failure,
)

EXPECTED = "an RSS 0.9x/1.0/2.0 or Atom feed"
_WXR_NAMESPACE = "http://wordpress.org/export/"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp)$", re.I)  # "treaty-talks.html" -> "treaty-talks"
_LEADING_SPACE = b" \t\r\n"
_ENTRY_TAG = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s/>]")
# Feed services' additions to a post: links to ads and share buttons ("flares"), and the
# 1x1 images that count readers. Their URLs: feedads.*, /~ff/ (flares), /~r/NAME/~4/ (counters).
_ANCHOR = re.compile(r"<a\b([^>]*)>.*?</a\s*>", re.I | re.S)
_IMAGE = re.compile(r"<img\b([^>]*)>(?:\s*</img\s*>)?", re.I)
_AD_PATH = re.compile(r"/~ff/")
_COUNTER_PATH = re.compile(r"/~r/[^/]+/~4/")
_EMPTY_BLOCK = re.compile(r"<(p|div)\b[^>]*>(?:\s|<br\s*/?>)*</\1\s*>", re.I)
_PROXY_PATH = "/~r/"  # feeds.feedburner.com/~r/NAME/~3/..., feedproxy.google.com/~r/...


def _trim(source: Source) -> tuple[Source, int]:
    """The feed without the blank lines some servers send before ``<?xml`` (which an XML
    parser rejects: the declaration must come first), and how many lines went."""
    data = source.data.lstrip(_LEADING_SPACE)
    if len(data) == len(source.data) or not data.startswith(b"<?xml"):
        return source, 0
    return dataclasses.replace(source, data=data), source.data[: len(source.data) - len(data)].count(b"\n")


def _position(source: Source, exc: SAXParseException, lines_before: int) -> tuple[int, int]:
    """Line and column in the user's file: feedparser puts an XML declaration on a line
    of its own before a document that has none."""
    declared = source.data[:12].replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xff\xfe").startswith(b"<?xml")
    line, column = exc.getLineNumber() or 1, exc.getColumnNumber() or 0
    return line - (0 if declared else 1) + lines_before, column + 1


def _problem(source: Source, exc: Exception, lines_before: int) -> str:
    if isinstance(exc, SAXParseException):
        line, column = _position(source, exc, lines_before)
        return f"line {line}, column {column}: {exc.getMessage()}"
    return str(exc)


def _parse(source: Source, lines_before: int) -> tuple[Any, Exception | None]:
    """The parsed feed and the problem feedparser recovered from, if any."""
    # A stream, never bytes or str: feedparser opens a str or bytes that names a file or URL
    # and parses what it finds there, so a feed whose text is "/home/me/secret.xml" would
    # import that file. HTML is taken as the feed has it and cleaned by html_body with the sanitiser publish
    # uses; feedparser's own cleaning rewrites it (it sorts attributes), so a post would
    # change on every trip through a feed.
    parsed = feedparser.parse(
        io.BytesIO(source.data), response_headers=dict(source.headers), sanitize_html=False, resolve_relative_uris=False
    )
    if any(uri.startswith(_WXR_NAMESPACE) for uri in parsed.get("namespaces", {}).values()):
        raise fail(source.name, "this is a WordPress export (WXR); use 'publisher import wordpress'")
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(problem, SAXParseException) and (problem.getMessage() in XML_TRUNCATED or not parsed.entries):
        raise xml_failure(source.name, problem.getMessage(), *_position(source, problem, lines_before), EXPECTED)
    if not parsed.entries and (problem or not parsed.get("version")):
        raise fail(
            source.name,
            f"expected {EXPECTED}; " + (_problem(source, problem, lines_before) if problem else "this is neither"),
        )
    return parsed, problem


def _local(parsed_time: time.struct_time, config: Config) -> datetime:
    """feedparser's UTC time as the site's local time, so front matter reads naturally."""
    return datetime.fromtimestamp(calendar.timegm(parsed_time), UTC).astimezone(config.site.tz)


def _names(people: list[dict[str, str]]) -> tuple[str, ...]:
    """Display names only: an address in a public feed is an invitation to spam."""
    return tuple(dict.fromkeys(name for person in people if (name := person.get("name", "").strip())))


def _html(detail: dict[str, str]) -> str:
    """A text construct's value as HTML; plain text becomes escaped paragraphs."""
    if detail.get("type") in _HTML_TYPES:
        return detail["value"]
    paragraphs = (p.strip() for p in _PARAGRAPH_BREAK.split(detail["value"]))
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)


def _title(entry: Any) -> str:
    detail = entry.get("title_detail") or {}
    return html_to_text(_html(detail)) if detail.get("value") else ""


def _is_ad(url: str) -> bool:
    parts = urlsplit(url.strip())
    return (parts.hostname is not None and parts.hostname.startswith("feedads.")) or bool(_AD_PATH.search(parts.path))


def _is_counter(values: dict[str, str]) -> bool:
    """A 1x1 image, or a feed service's reader counter, whatever its size."""
    tiny = values.get("width", "").strip() in ("0", "1") and values.get("height", "").strip() in ("0", "1")
    return tiny or bool(_COUNTER_PATH.search(urlsplit(values.get("src", "").strip()).path))


def _strip_feed_service(fragment: str, tally: Counter[str]) -> str:
    """The body without the ads, share buttons and counters a feed service added to it."""
    found = Counter[str]()

    def anchor(match: re.Match[str]) -> str:
        if _is_ad(attributes(match[1]).get("href", "")):
            found["ad"] += 1
            return ""
        return match[0]

    def image(match: re.Match[str]) -> str:
        values = attributes(match[1])
        kind = "counter" if _is_counter(values) else "ad" if _is_ad(values.get("src", "")) else ""
        found[kind] += 1
        return "" if kind else match[0]

    fragment = _IMAGE.sub(image, _ANCHOR.sub(anchor, fragment))
    del found[""]
    if not found:
        return fragment
    tally.update(found)
    return _EMPTY_BLOCK.sub("", fragment)  # the paragraph or div that held only what went


def _body_and_summary(entry: Any, tally: Counter[str]) -> tuple[str, str]:
    """The entry's content as the body, and its summary when that says something else;
    with no content, the summary is the body."""
    contents = entry.get("content") or []
    main = next((c for c in contents if c.get("type") in _HTML_TYPES), contents[0] if contents else None)
    summary = entry.get("summary_detail")
    if main is None:
        main, summary = summary, None
    if main is None:
        return "", ""
    fragment, embeds = media_links(_strip_feed_service(_html(main), tally))
    tally["embed"] += embeds
    body = html_body(fragment, main.get("base", ""))
    return body, html_to_text(_html(summary)) if summary and summary.get("value") != main.get("value") else ""


def _web(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _link(entry: Any) -> str:
    """The post's own address: feedburner:origLink, else an alternate link that does not go
    through a feed service's redirect (feedparser keeps the last <link> it sees as ``link``)."""
    original = (entry.get("feedburner_origlink") or "").strip()
    if _web(original):
        return original
    alternates = [
        link.get("href", "").strip() for link in entry.get("links", []) if link.get("rel", "alternate") == "alternate"
    ]
    candidates = [url for url in [*alternates, entry.get("link", "")] if _web(url)]
    # feedparser offers the id as the link when there is none, even a "urn:uuid:..." one.
    return next((url for url in candidates if not urlsplit(url).path.startswith(_PROXY_PATH)), "") or next(
        iter(candidates), ""
    )


def _slug(link: str, title: str) -> str:
    """The last word of the entry's URL path, so posts keep their addresses; else the title."""
    segment = _EXTENSION.sub("", unquote(urlsplit(link).path.rstrip("/").rpartition("/")[2]))
    return slug_for(segment if any(c.isalpha() for c in segment) else title)


def _post(entry: Any, feed_authors: tuple[str, ...], config: Config, tally: Counter[str]) -> ImportedPost | str:
    """The entry as a post, or why it cannot be one; what was taken out of its body is counted in ``tally``."""
    link = _link(entry)
    post_id = (entry.get("id") or link or entry.get("link") or "").strip()
    if not post_id:
        return "no id or link"
    title = _title(entry)
    if not title:
        return "no title"
    # dict.get: feedparser's own get("updated_parsed") answers with the published date.
    published_at, updated_at = dict.get(entry, "published_parsed"), dict.get(entry, "updated_parsed")
    first = published_at or updated_at
    if not first:
        return "no readable date"
    published = _local(first, config)
    updated = _local(updated_at, config) if updated_at else None
    body, summary = _body_and_summary(entry, tally)
    tags = (tag.get("label") or tag.get("term") or "" for tag in entry.get("tags", []))
    return ImportedPost(
        id=post_id,
        title=title,
        slug=_slug(link, title),
        published=published,
        updated=updated if updated and updated > published else None,
        authors=_names(entry.get("authors", [])) or feed_authors,
        tags=tuple(dict.fromkeys(t.strip() for t in tags if t.strip())),
        summary=summary,
        link=link,
        body=body,
    )


def _read_so_far(source: Source, parsed: Any, problem: Exception, lines_before: int) -> str:
    """The warning for a feed read past an error: how many of its entries could be read."""
    found = len(_ENTRY_TAG.findall(source.data))
    read = len(parsed.entries)
    if found > read:
        return f"{source.name}: {_problem(source, problem, lines_before)}; only {read} of its {found} entries could be read"
    return f"{source.name}: {_problem(source, problem, lines_before)}; imported what could be read"


def read(source: Source, config: Config) -> Batch:
    """Every readable entry in feed order; entries without an id, title or date are skipped."""
    source, lines_before = _trim(source)
    parsed, problem = _parse(source, lines_before)
    feed_authors = _names(parsed.feed.get("authors", []))
    posts = []
    skipped = []
    tally = Counter[str]()
    for number, entry in enumerate(parsed.entries, 1):
        result = _post(entry, feed_authors, config, tally)
        if isinstance(result, str):
            title = _title(entry)
            skipped.append(Skipped(f'entry {number} "{title}"' if title else f"entry {number}", result))
        else:
            posts.append(result)
    warnings = (_read_so_far(source, parsed, problem, lines_before),) if problem else ()
    changes = [
        counted(tally[key], *words)
        for key, words in (
            ("embed", ("embed became a link", "embeds became links")),
            ("counter", ("tracking image removed", "tracking images removed")),
            ("ad", ("feed-ad link removed", "feed-ad links removed")),
        )
        if tally[key]
    ]
    return Batch(tuple(posts), tuple(skipped), warnings, changes=tuple(changes))
