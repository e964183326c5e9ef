"""content/ -> Post objects: front matter, Markdown -> safe HTML, absolute URLs.

Accepts the field names Hugo, Jekyll and Pelican users already have. Front
matter is split off by frontmatter.py; every string is cleaned by sanitize.py
before it reaches a Post.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from .config import Config
from .config.values import LANGUAGE_TAG
from .errors import ContentProblem
from .frontmatter import BadPost, split_front_matter
from .markdown import render_markdown
from .model import Author, Enclosure, Post, Tag, slugify
from .sanitize import cap_quote_markers, clean_text, join_url, plain_text, sanitize_html, summarize
from .sources import display_path

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")
_LOOSE_DATE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$", re.I
)


@dataclass(frozen=True)
class _Fields:
    """Front matter plus the file's text, to find the line of a field in error messages."""

    meta: dict[str, Any]
    text: str

    def line(self, key: str) -> int | None:
        found = re.search(rf"^\s*{re.escape(key)}\s*[:=]", self.text, re.M | re.I)
        return self.text.count("\n", 0, found.start()) + 1 if found else None

    def first(self, *keys: str) -> tuple[str, Any] | None:
        for key in keys:
            if self.meta.get(key) not in (None, ""):
                return key, self.meta[key]
        return None

    def fail(self, key: str, message: str) -> BadPost:
        return BadPost(message, self.line(key))


def _string_list(fields: _Fields, key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise fields.fail(key, f"{key}: expected a list or a comma-separated string, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, dict | list):
            raise fields.fail(key, f"{key}: expected plain names, got {item!r}")
        name = plain_text(str(item))
        if name:
            out.append(name)
    return out


def _author(fields: _Fields, key: str, value: Any) -> Author:
    if isinstance(value, dict):
        name, mail = value.get("name"), value.get("email")
        if not isinstance(name, str) or not name.strip():
            raise fields.fail(key, f"{key}: an author table needs a name, got {value!r}")
        return Author(plain_text(name), clean_text(str(mail)).strip() if mail else None)
    if not isinstance(value, str):
        raise fields.fail(key, f"{key}: expected a name, got {value!r}")
    if "<" in value:  # "Name <address>"
        name, mail = email.utils.parseaddr(value)
        if mail and "@" in mail:
            return Author(plain_text(name or mail), clean_text(mail))
    return Author(plain_text(value))


def _authors(fields: _Fields, default: Author) -> tuple[Author, ...]:
    found = fields.first("authors", "author")
    if found is None:
        return (default,)
    key, value = found
    if isinstance(value, list):
        authors = [_author(fields, key, v) for v in value]
    elif key == "authors" and isinstance(value, str):
        authors = [Author(name) for name in _string_list(fields, key, value)]
    else:
        authors = [_author(fields, key, value)]
    unique = list(dict.fromkeys(a for a in authors if a.name))
    return tuple(unique) or (default,)


def _tags(fields: _Fields, config: Config, notes: list[str]) -> tuple[Tag, ...]:
    """The post's tags, at most tags.max_per_post: each tag feed lists all of its posts' tags."""
    keys = ("tags", "tag", "keywords") + (("categories", "category") if config.content.categories == "tags" else ())
    names: dict[str, Tag] = {}  # one per spelling, case aside; publish merges spellings sharing a slug
    for key in keys:
        if fields.meta.get(key) not in (None, ""):
            for name in _string_list(fields, key, fields.meta[key]):
                names.setdefault(name.casefold(), Tag(name))
    limit = config.tags.max_per_post
    if len(names) > limit:
        notes.append(f"{len(names)} tags; only the first {limit} are kept (tags.max_per_post)")
    return tuple(names.values())[:limit]


def _parse_date_text(text: str) -> datetime | None:
    """ISO 8601, Jekyll's "2024-5-1 10:00:00 +0100" / "... UTC", or an RFC 2822 date."""
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        pass
    loose = _LOOSE_DATE.match(text)
    if loose:
        year, month, day, hour, minute, second, zone = loose.groups()
        zone = {"Z": "+00:00", "UTC": "+00:00", "GMT": "+00:00"}.get((zone or "").upper(), zone or "")
        iso = f"{year}-{int(month):02d}-{int(day):02d}T{int(hour or 0):02d}:{minute or '00'}:{second or '00'}{zone}"
        try:
            return datetime.fromisoformat(iso)
        except ValueError:
            return None
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def parse_when(fields: _Fields, key: str, value: Any, config: Config) -> datetime:
    """A front matter date in any common spelling -> an aware datetime, whole seconds."""
    when: datetime | None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime.combine(value, time())
    else:
        when = _parse_date_text(value.strip()) if isinstance(value, str) else None
    if when is None:
        raise fields.fail(key, f"{key}: {value!r} is not a date; expected YYYY-MM-DD or an ISO 8601 date-time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=config.site.tz)
    try:
        when.astimezone(UTC).astimezone(config.site.tz)
    except (OverflowError, ValueError):
        raise fields.fail(key, f"{key}: {value!r} is out of range; expected a year between 1 and 9998") from None
    return when.replace(microsecond=0)


def _slug(fields: _Fields, source: str, config: Config) -> str:
    found = fields.first("slug")
    if found:
        return slugify(str(found[1]))
    folder, _, name = source.rpartition("/")
    stem = name.rpartition(".")[0] or name
    if stem == "index":  # a page bundle, content/<slug>/index.md
        stem = folder.rpartition("/")[2] if folder else config.content.folder.name
    return slugify(_DATE_PREFIX.sub("", stem))


def _draft(fields: _Fields) -> bool:
    for key, draft_when in (("draft", True), ("published", False)):
        value = fields.meta.get(key)
        if value is not None:
            if not isinstance(value, bool):
                raise fields.fail(key, f"{key}: expected true or false, got {value!r}")
            if value is draft_when:
                return True
    status = fields.meta.get("status")
    return isinstance(status, str) and status.strip().lower() in ("draft", "hidden")


_MEDIA_TYPE = re.compile(r"[a-z]+/[a-z0-9][a-z0-9.+-]*", re.I)
_SHORTHANDS = ("audio", "video")  # Hugo's and Jekyll themes' front matter for one media file
_TYPES = mimetypes.MimeTypes()  # Python's own table only: the system's files differ between machines


def _url(fields: _Fields, key: str, value: Any, base: str) -> str:
    """A URL from the front matter, absolute against the post's permalink as its links are."""
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise fields.fail(key, f"{key}: expected a URL or a path relative to the post, got {value!r}")
    return join_url(base, clean_text(value.strip()))


def _image(fields: _Fields, base: str) -> str:
    found = fields.first("image")
    if found is None:
        return ""
    value = found[1]
    if isinstance(value, dict):  # jekyll-seo-tag's image: {path: ..., alt: ...}
        value = value.get("path") or value.get("url")
    return _url(fields, "image", value, base)


def _enclosure(fields: _Fields, key: str, value: Any, base: str) -> Enclosure:
    """One {url, type, length} table, or (audio:, video:) a bare URL whose type its name tells."""
    table = value if isinstance(value, dict) else {"url": value}
    if not isinstance(value, dict) and key == "enclosures":
        raise fields.fail(key, f"{key}: expected a list of tables with url, type and length, got {value!r}")
    if set(table) - {"url", "type", "length"} or "url" not in table:
        raise fields.fail(key, f"{key}: expected a table with url, type and length, got {value!r}")
    url = _url(fields, key, table["url"], base)
    kind = table.get("type") or _TYPES.guess_type(url.partition("?")[0])[0]
    if not isinstance(kind, str) or not _MEDIA_TYPE.fullmatch(kind):
        raise fields.fail(key, f"{key}: {url}: expected a type such as 'audio/mpeg', got {table.get('type')!r}")
    length = table.get("length")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise fields.fail(key, f"{key}: {url}: expected the length in bytes as a whole number, got {length!r}")
    return Enclosure(url, kind.lower(), length)


def _enclosures(fields: _Fields, base: str, config: Config, notes: list[str]) -> tuple[Enclosure, ...]:
    found = []
    for key in ("enclosures", *_SHORTHANDS):
        value = fields.meta.get(key)
        if value not in (None, "", []):
            found += [_enclosure(fields, key, v, base) for v in (value if isinstance(value, list) else [value])]
    unique = tuple(dict.fromkeys(found))
    if len(unique) > 1 and "rss" in config.feeds.formats:
        notes.append(f"{len(unique)} enclosures; RSS carries one per item: its feeds list only {unique[0].url}")
    return unique


def _lang(fields: _Fields) -> str:
    found = fields.first("lang", "language")
    if found is None:
        return ""
    if not isinstance(found[1], str) or not LANGUAGE_TAG.fullmatch(found[1].strip()):
        raise fields.fail(found[0], f"{found[0]}: expected a language tag such as 'fr' or 'pt-BR', got {found[1]!r}")
    return found[1].strip()


def parse_post(text: str, source: str, config: Config, notes: list[str] | None = None) -> Post:
    """One post file's text -> a Post; raises BadPost naming the line when it can.

    ``source`` is the file's path below the content folder, with "/" separators. What
    had to be left out to publish the post is said in ``notes`` (each line naming the file).
    """
    said: list[str] = []
    text = clean_text(text.removeprefix("\ufeff").replace("\r\n", "\n"))
    meta, body = split_front_matter(text)
    fields = _Fields(meta, text)
    found = fields.first("title")
    title = plain_text(str(found[1])) if found else ""
    if not title:
        raise BadPost("missing title: add 'title: ...' to the front matter", fields.line("title") or 1)
    found = fields.first("date")
    if found is None:
        raise BadPost("missing date: add 'date: YYYY-MM-DD' to the front matter", 1)
    published = parse_when(fields, found[0], found[1], config)
    found = fields.first("updated", "lastmod", "modified", "last_modified_at")
    updated = parse_when(fields, found[0], found[1], config) if found else published
    if updated < published:
        raise fields.fail(found[0] if found else "date", "updated: earlier than the publication date")
    slug = _slug(fields, source, config)
    local = published.astimezone(config.site.tz)
    url = config.site.url(
        config.site.permalink.format(
            year=f"{local.year:04d}", month=f"{local.month:02d}", day=f"{local.day:02d}", slug=slug
        )
    )
    # clean_text again: character references (&#1;) become characters only here
    body_html = clean_text(sanitize_html(render_markdown(cap_quote_markers(body, said)), url, said))
    found = fields.first("summary", "description", "excerpt")
    # An entry needs some text: a post with neither body nor summary is summed up by its title.
    summary = (plain_text(str(found[1])) if found else "") or summarize(body_html) or title
    found = fields.first("id", "guid")
    post_id = clean_text(str(found[1])).strip() if found else f"tag:{config.site.domain},{local:%Y-%m-%d}:{slug}"
    post = Post(
        id=post_id,
        slug=slug,
        title=title,
        published=published,
        updated=updated,
        authors=_authors(fields, config.site.author),
        tags=_tags(fields, config, said),
        summary=summary,
        html=body_html,
        url=url,
        source=source,
        draft=_draft(fields),
        revision=hashlib.sha256(text.encode()).hexdigest()[:20],
        image=_image(fields, url),
        enclosures=_enclosures(fields, url, config, said),
        lang=_lang(fields),
    )
    if notes is not None:
        notes += (f"{display_path(config, source)}: {note}" for note in said)
    return post


def decode(raw: bytes) -> str:
    """UTF-8 text of a post file; a BadPost naming the line of the first bad byte otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BadPost(f"not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8", line) from None


def read_post(source: str, raw: bytes, config: Config, notes: list[str] | None = None) -> Post | ContentProblem:
    """A post, or the problem that stops this file from being one; see parse_post for ``notes``."""
    try:
        return parse_post(decode(raw), source, config, notes)
    except BadPost as exc:
        return ContentProblem(display_path(config, source), str(exc), exc.line)
