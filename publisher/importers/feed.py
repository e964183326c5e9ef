"""Any RSS 0.9x/1.0/2.0 or Atom feed -> its entries as posts, read with feedparser.

feedparser reads broken feeds too; what it recovers is imported and the damage is
reported, except a file cut short, whose last entry may be silently incomplete.
"""

from __future__ import annotations

import calendar
import html
import io
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax import SAXParseException

import feedparser

from ..config import Config
from ..content import html_to_text
from .common import XML_TRUNCATED, Batch, ImportedPost, Skipped, Source, fail, html_body, slug_for, xml_failure

EXPECTED = "an RSS 0.9x/1.0/2.0 or Atom feed"
_WXR_NAMESPACE = "http://wordpress.org/export/"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp)$", re.I)  # "treaty-talks.html" -> "treaty-talks"


def _position(source: Source, exc: SAXParseException) -> tuple[int, int]:
    """Line and column in the user's file: feedparser puts an XML declaration on a line
    of its own before a document that has none."""
    declared = source.data[:12].replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xff\xfe").startswith(b"<?xml")
    return exc.getLineNumber() - (0 if declared else 1), exc.getColumnNumber() + 1


def _problem(source: Source, exc: Exception) -> str:
    if isinstance(exc, SAXParseException):
        line, column = _position(source, exc)
        return f"line {line}, column {column}: {exc.getMessage()}"
    return str(exc)


def _parse(source: Source) -> tuple[Any, Exception | None]:
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
        raise xml_failure(source.name, problem.getMessage(), *_position(source, problem), EXPECTED)
    if not parsed.entries and (problem or not parsed.get("version")):
        raise fail(
            source.name, f"expected {EXPECTED}; " + (_problem(source, problem) if problem else "this is neither")
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


def _body_and_summary(entry: Any) -> tuple[str, str]:
    """The entry's content as the body, and its summary when that says something else;
    with no content, the summary is the body."""
    contents = entry.get("content") or []
    main = next((c for c in contents if c.get("type") in _HTML_TYPES), contents[0] if contents else None)
    summary = entry.get("summary_detail")
    if main is None:
        main, summary = summary, None
    if main is None:
        return "", ""
    body = html_body(_html(main), main.get("base", ""))
    return body, html_to_text(_html(summary)) if summary and summary.get("value") != main.get("value") else ""


def _slug(link: str, title: str) -> str:
    """The last word of the entry's URL path, so posts keep their addresses; else the title."""
    segment = _EXTENSION.sub("", unquote(urlsplit(link).path.rstrip("/").rpartition("/")[2]))
    return slug_for(segment if any(c.isalpha() for c in segment) else title)


def _post(entry: Any, feed_authors: tuple[str, ...], config: Config) -> ImportedPost | str:
    """The entry as a post, or why it cannot be one."""
    post_id = (entry.get("id") or entry.get("link") or "").strip()
    if not post_id:
        return "no id or link"
    title = _title(entry)
    if not title:
        return "no title"
    # dict.get: feedparser's own get("updated_parsed") answers with the published date.
    published_at, updated_at = dict.get(entry, "published_parsed"), dict.get(entry, "updated_parsed")
    if not (published_at or updated_at):
        return "no readable date"
    published = _local(published_at or updated_at, config)
    updated = _local(updated_at, config) if updated_at else None
    body, summary = _body_and_summary(entry)
    # feedparser offers the id as the link when there is none, even a "urn:uuid:..." one.
    link = entry.get("link", "") if entry.get("link", "").startswith(("http://", "https://")) else ""
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


def read(source: Source, config: Config) -> Batch:
    """Every readable entry in feed order; entries without an id, title or date are skipped."""
    parsed, problem = _parse(source)
    feed_authors = _names(parsed.feed.get("authors", []))
    posts = []
    skipped = []
    for number, entry in enumerate(parsed.entries, 1):
        result = _post(entry, feed_authors, config)
        if isinstance(result, str):
            title = _title(entry)
            skipped.append(Skipped(f'entry {number} "{title}"' if title else f"entry {number}", result))
        else:
            posts.append(result)
    warnings = (f"{source.name}: {_problem(source, problem)}; imported what could be read",) if problem else ()
    return Batch(tuple(posts), tuple(skipped), warnings)
