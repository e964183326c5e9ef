"""content/ -> Post objects: front matter, Markdown -> safe HTML, absolute URLs.

Accepts the field names Hugo, Jekyll and Pelican users already have. Every
string that reaches a feed has the characters XML 1.0 forbids removed here,
once, so no later stage has to think about them.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urljoin

import nh3
import yaml

from .config import Config
from .errors import ContentProblem
from .markdown import render_markdown
from .model import Author, Post, Tag, slugify
from .sources import display_path

# XML 1.0 Char production, minus the C1 controls and non-characters it discourages.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd\U00010000-\U0010ffff]")
_XML_ILLEGAL_ASCII = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # the same, for ASCII text: quicker to scan
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")
_LOOSE_DATE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$", re.I
)
_TOML_LINE = re.compile(r"at line (\d+)")
_TAG_RE = re.compile(r"<(/?)([a-zA-Z0-9]*)[^>]*>")
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "i",
        "ins",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "var",
    ]
)
# Anything that may start a tag, up to its end or the end of the text (PHP's strip_tags, which
# WordPress's feeds use for titles): plain text carries no markup for a validator to flag.
_ANY_TAG = re.compile(r"<[A-Za-z/!?][^>]*(?:>|$)")
_END_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9]*\s*>")  # feed validators take one in text for markup
# Whitespace runs other than a single space (ASCII only: a no-break space is the author's choice).
_SPACE = re.compile(r"[\t\n\r\f\v][ \t\n\r\f\v]*| [ \t\n\r\f\v]+")
SUMMARY_LENGTH = 300
_RAW_TEXT_OPEN = re.compile(r"<(script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext)\b", re.I)
# A start tag holding a relative URL (nh3 escapes "<" and ">" in attribute values).
_RELATIVE_URL_TAG = re.compile(r'<[a-zA-Z][^>]*?\s(?:href|src|cite)="(?!https?://)[^>]*>')
_ROOT_PATH = re.compile(r"/(?!/)[A-Za-z0-9_~%./-]*")  # "/img/map.png": no query, fragment or "//" host
# nh3 writes every attribute as name="value"; these are the ones holding a URL that is
# not yet absolute.
_URL_ATTRIBUTE = re.compile(r'(?<=\s)(href|src|cite)="(?!https?://)([^"]*)"')


class _YamlLoader(yaml.CSafeLoader):
    """Safe YAML that leaves dates as text, so a bad date is reported with its key and line."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


# The front matter most posts have: one "key: value" per line, the value a quoted or
# plain string or a flow list of them. Anything else goes to the YAML parser.
_SIMPLE_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?:[ ]+(.*?))?[ ]*")
_FLOW_ITEM = re.compile(r"""[ ]*("[^"\\]*"|'(?:[^']|'')*'|[^\s"',\[\]{}#&*!|>%@`?:-][^,\[\]{}#:]*?)[ ]*(?:,|$)""")
_PLAIN_START = re.compile(r"""[^\s"',\[\]{}#&*!|>%@`?:-]""")


# First character -> the patterns of plain scalars YAML reads as something other than a string.
_NOT_TEXT = {first: [regexp for _tag, regexp in pairs] for first, pairs in _YamlLoader.yaml_implicit_resolvers.items()}


def _yaml_string(token: str, flow: bool) -> str | None:
    """A scalar token as YAML reads it, when YAML reads it as a string; None otherwise."""
    if not token.isprintable():
        return None
    quote = token[0]
    if quote in "\"'":
        inner = token[1:-1]
        if len(token) < 2 or token[-1] != quote:
            return None
        if quote == '"':
            return inner if '"' not in inner and "\\" not in inner else None
        return inner.replace("''", "'") if "'" not in inner.replace("''", "") else None
    if ": " in token or " #" in token or token.endswith(":") or not _PLAIN_START.match(token):
        return None
    if flow and any(c in token for c in ",[]{}"):
        return None
    if any(regexp.match(token) for regexp in _NOT_TEXT.get(token[0], ())):
        return None  # a number, a boolean or a null
    return token


def _simple_yaml(source: str) -> dict[str, Any] | None:
    """What yaml.load gives for the common front matter, several times faster; None for the rest."""
    if any(c in source for c in "\x85\u2028\u2029"):
        return None  # line breaks to YAML, not to str.split("\n")
    meta: dict[str, Any] = {}
    for line in source.split("\n"):
        if not line.strip(" ") or line.startswith("#"):
            continue
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None or len(line) > 1024 or _yaml_string(key := match.group(1), False) is None:
            return None
        value = match.group(2)
        if not value:
            meta[key] = None
            continue
        parsed = _flow_items(value[1:-1]) if value[0] == "[" and value[-1] == "]" else _yaml_string(value, False)
        if parsed is None:
            return None
        meta[key] = parsed
    return meta or None


def _flow_items(inner: str) -> list[str] | None:
    """The strings of a one-line flow list such as ``["UNPoA", 'ATT', small arms]``."""
    items, pos = [], 0
    while pos < len(inner) and inner[pos:].strip(" "):
        match = _FLOW_ITEM.match(inner, pos)
        if match is None or (item := _yaml_string(match.group(1), True)) is None:
            return None
        items.append(item)
        pos = match.end()
    return items if not inner.rstrip(" ").endswith(",") else None


_allowed_attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_allowed_attributes["*"] = {"dir", "lang", "title"}
_cleaner = nh3.Cleaner(attributes=_allowed_attributes, link_rel=None)


class BadPost(Exception):
    """Raised while reading one file; turned into a ContentProblem by the caller."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def clean_text(text: str) -> str:
    """Drop characters that XML 1.0 cannot carry (control characters, lone surrogates)."""
    return (_XML_ILLEGAL_ASCII if text.isascii() else _XML_ILLEGAL).sub("", text)


def sanitize_html(body: str, base_url: str, notes: list[str] | None = None) -> str:
    """Remove anything executable and make every link and image URL absolute against base_url.

    Elements nested deeper than MAX_NESTING are left out (their text stays), with a note in
    ``notes``: the sanitiser's time grows with the square of the depth.
    """
    body, dropped = _cap_nesting(body)
    if dropped and notes is not None:
        notes.append(f"HTML nested deeper than {MAX_NESTING} levels: {dropped} deeper tags left out")

    def absolute(match: re.Match[str]) -> str:
        return f'{match.group(1)}="{html.escape(join_url(base_url, html.unescape(match.group(2)).strip()))}"'

    def in_tag(match: re.Match[str]) -> str:
        return _URL_ATTRIBUTE.sub(absolute, match.group(0))

    return _RELATIVE_URL_TAG.sub(in_tag, _cleaner.clean(_defuse_unclosed(body)))


MAX_NESTING = 100  # browsers stop at a few hundred; no real post comes near
# Elements that never nest: void ones, and those whose end tag is optional (an open <p> or
# <li> is closed by the next one, so counting them would see depth where there is none).
_FLAT = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
     "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup", "rb", "rt", "rp",
     "rtc", "colgroup", "caption"]
)  # fmt: skip
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*>")


def _cap_nesting(body: str) -> tuple[str, int]:
    """The HTML without the start and end tags of elements deeper than MAX_NESTING; how many
    tags went. One pass: linear in the text, whatever its depth."""
    if body.count("<") <= MAX_NESTING:
        return body, 0
    open_names: list[str] = []
    deeper: Counter[str] = Counter()  # elements left out, by name, still open
    cuts: list[tuple[int, int]] = []
    for match in _TAG_TOKEN.finditer(body):
        name = match.group(2).lower()
        if name in _FLAT or match.group(0).endswith("/>"):
            continue
        if not match.group(1):
            if len(open_names) < MAX_NESTING:
                open_names.append(name)
                continue
            deeper[name] += 1
        elif deeper[name]:  # the innermost elements close first: those left out
            deeper[name] -= 1
        else:
            if name in open_names:
                del open_names[len(open_names) - 1 - open_names[::-1].index(name) :]
            continue
        cuts.append(match.span())
    if not cuts:
        return body, 0
    parts, start = [], 0
    for begin, end in cuts:
        parts.append(body[start:begin])
        start = end
    parts.append(body[start:])
    return "".join(parts), len(cuts)


# More than MAX_NESTING blockquote markers opening a line ("> > > …" or ">>>…").
_DEEP_QUOTE = re.compile(rf"^(?:[ \t]*>){{{MAX_NESTING + 1},}}", re.M)


def _cap_quote_markers(markdown: str, notes: list[str]) -> str:
    """Markdown whose lines open at most MAX_NESTING blockquotes. Capping the HTML later
    works too, but a line of 100,000 ">" renders to 2.7 MB of HTML first."""
    if not _DEEP_QUOTE.search(markdown):
        return markdown
    notes.append(f"blockquotes nested deeper than {MAX_NESTING} levels: the deeper ones left out")
    return _DEEP_QUOTE.sub(">" * MAX_NESTING, markdown)


def join_url(base_url: str, url: str) -> str:
    """urljoin, without its cost for the most common case: a path from the site's root."""
    if _ROOT_PATH.fullmatch(url) and "/." not in url and base_url.startswith(("https://", "http://")):
        root = base_url.find("/", base_url.index("//") + 2)
        return (base_url if root < 0 else base_url[:root]) + url
    return urljoin(base_url, url)


def _defuse_unclosed(body: str) -> str:
    """Text that merely mentions <script> (no </script> before the paragraph ends) stays text.

    An HTML parser reads everything after such a tag as the element's content, and
    the sanitiser then drops it: the rest of the post would silently vanish.
    """

    def defuse(match: re.Match[str]) -> str:
        name = match.group(1)
        following = re.compile(rf"</{name}\s*>|</p>|<{name}\b", re.I).search(body, match.end())
        closed = following is not None and following.group(0).lower().startswith(f"</{name.lower()}")
        return match.group(0) if closed else "&lt;" + match.group(0)[1:]

    return _RAW_TEXT_OPEN.sub(defuse, body)


def plain_text(text: str) -> str:
    """Titles, tags, names and summaries are text: HTML tags go (``<script>x</script> Arms``
    -> ``x Arms``, as WordPress's feeds strip them), entities become characters (as Hugo,
    Jekyll and WordPress users write them: ``&lt;html&gt;`` stays as the text ``<html>``,
    but an escaped end tag goes too), whitespace collapses."""
    if text.isprintable() and "<" not in text and "&" not in text and "  " not in text:
        return text.strip()  # nothing to remove, decode or collapse: most names and titles
    text = clean_text(html.unescape(_ANY_TAG.sub("", clean_text(text))))
    return _SPACE.sub(" ", _END_TAG.sub("", text) if "</" in text else text).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment, whitespace collapsed; for summaries and e-mail."""
    text = _TAG_RE.sub(lambda m: "" if m.group(2).lower() in _INLINE else " ", fragment)
    return _SPACE.sub(" ", html.unescape(text)).strip()


def summarize(body_html: str) -> str:
    """The first paragraph's text, cut at a word boundary near SUMMARY_LENGTH characters."""
    start = body_html.find("<p>")
    end = body_html.find("</p>", start)
    text = html_to_text(body_html[start + 3 : end] if start >= 0 and end >= 0 else body_html)
    if len(text) <= SUMMARY_LENGTH:
        return text
    cut = text.rfind(" ", 0, SUMMARY_LENGTH)
    return text[: cut if cut > SUMMARY_LENGTH // 2 else SUMMARY_LENGTH].rstrip(" ,;:.") + "…"


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML (---) or TOML (+++) front matter from the Markdown body."""
    lines = text.split("\n")
    opener = lines[0].rstrip()
    if opener not in ("---", "+++"):
        raise BadPost("no front matter: expected a first line of '---' (YAML) or '+++' (TOML)", 1)
    closers = ("---", "...") if opener == "---" else ("+++",)
    for end in range(1, len(lines)):
        if lines[end].rstrip() in closers:
            break
    else:
        raise BadPost(f"front matter opened with '{opener}' is never closed", 1)
    source = "\n".join(lines[1:end])
    if opener == "---":
        try:
            meta = _simple_yaml(source)
            if meta is None:
                meta = yaml.load(source, Loader=_YamlLoader) if source.strip() else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise BadPost(f"invalid YAML front matter: {problem}", mark.line + 2 if mark else 1) from exc
    else:
        try:
            meta = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_LINE.search(str(exc))
            raise BadPost(f"invalid TOML front matter: {exc}", int(found.group(1)) + 1 if found else 1) from exc
    if not isinstance(meta, dict):
        raise BadPost("front matter must be a mapping of field names to values", 2)
    return {str(k).lower(): v for k, v in meta.items()}, "\n".join(lines[end + 1 :])


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
    body_html = clean_text(sanitize_html(render_markdown(_cap_quote_markers(body, said)), url, said))
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
