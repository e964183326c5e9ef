"""What every importer reads and produces: the source's bytes, one record per post, and the
helpers that turn foreign text into a Markdown body publisher renders back unchanged."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.parsers.expat import errors as expat_errors

from ..errors import ImportFailed
from ..model import name_slug, slugify
from ..sanitize import sanitize_html

SLUG_LENGTH = 80  # keeps "YYYY-MM-DD-slug.md" well under every file system's name limit

# What must not start a line of text: a heading, quote, list, rule, fence or setext marker.
_BLOCK_MARKER = re.compile(r"^(\d+)?([.)#>+\-=~])")
# Characters that start Markdown inline syntax: emphasis, code, links, raw HTML, table cells.
_INLINE_MARKER = re.compile(r"([\\`*_\[\]<|])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_BLANK_LINE = re.compile(r"(\n[ \t]*)\n")
# CommonMark HTML blocks that run to the next blank line (type 6); anything else is wrapped in a div.
_HTML_BLOCK = re.compile(
    r"</?(address|article|aside|blockquote|details|dialog|div|dl|fieldset|figcaption|figure|footer|form"
    r"|h[1-6]|header|hr|li|main|menu|nav|ol|p|section|table|ul)(?=[\s/>]|$)",
    re.I,
)
# name="value", name='value' or name=value, in an HTML tag or a WordPress shortcode.
_ATTRIBUTE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>\]]+))""")
_IFRAME = re.compile(r"<iframe\b([^>]*)>(?:.*?</iframe\s*>)?", re.I | re.S)
_AUDIO_VIDEO = re.compile(r"<(audio|video)\b([^>]*)>(.*?)</\1\s*>", re.I | re.S)
_SOURCE = re.compile(r"<source\b([^>]*)>", re.I)
# Expat's messages for a document that stops before its root element is closed.
XML_TRUNCATED = {
    expat_errors.XML_ERROR_NO_ELEMENTS,
    expat_errors.XML_ERROR_UNCLOSED_TOKEN,
    expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
}


@dataclass(frozen=True)
class Source:
    """The bytes to import and, for a URL, the HTTP headers a feed parser uses to decode them."""

    name: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedPost:
    """One post as an importer read it, before it has a file.

    ``published`` is a date alone when the source gives no time, a naive datetime for a
    time in the site's zone, or an aware datetime for an exact instant.
    """

    id: str
    title: str
    slug: str
    published: date | datetime
    updated: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    summary: str = ""
    link: str = ""
    body: str = ""


@dataclass(frozen=True)
class Skipped:
    """A source item left out, and why: shown to the user, counted in the summary."""

    what: str
    reason: str
    plural: str = ""  # the reason for several items, when it is a noun: "drafts"


@dataclass(frozen=True)
class Batch:
    """Everything one source yielded: posts in source order, what was left out, what to warn
    about, notes on single posts, and what was changed in the bodies (for the summary)."""

    posts: tuple[ImportedPost, ...]
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 new post", "2 new posts": a number with its noun in agreement."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def fail(source: str, message: str, line: int | None = None) -> ImportFailed:
    """The one-line error for a bad source: ``import: SOURCE[:LINE]: message``."""
    where = f"{source}:{line}" if line else source
    return ImportFailed(f"import: {where}: {message}")


def xml_failure(source: str, message: str, line: int, column: int, expected: str) -> ImportFailed:
    """A parser's complaint as a user reads it; a file cut short is named as such."""
    if message in XML_TRUNCATED:
        return fail(source, f"the XML ends unfinished at line {line}, so the file looks truncated; expected {expected}")
    if message == expat_errors.XML_ERROR_INVALID_TOKEN:
        message += " (a stray '<' or '&', or bytes that are not in the encoding the file declares)"
    return fail(source, f"not well-formed XML at line {line}, column {column}: {message}; expected {expected}")


def slug_for(text: str) -> str:
    """A post slug from a title or a WordPress post_name, cut at a word boundary."""
    slug = slugify(text)
    if len(slug) <= SLUG_LENGTH:
        return slug
    cut = slug.rfind("-", 0, SLUG_LENGTH + 1)
    return slug[: cut if cut > 0 else SLUG_LENGTH]


def markdown_text(line: str) -> str:
    """One line of plain text as Markdown that renders to exactly that text."""
    line = _ENTITY.sub(r"\\&", _INLINE_MARKER.sub(r"\\\1", line.strip()))
    return _BLOCK_MARKER.sub(r"\1\\\2", line)


def html_body(fragment: str, base_url: str) -> str:
    """An HTML fragment as a Markdown body that renders to itself.

    The fragment is sanitised the way publish will sanitise it, with relative URLs made
    absolute against where it came from (publish would resolve them against the new post).
    Markdown passes HTML through untouched only inside an HTML block, which must start
    with a block-level tag and ends at the first blank line; so a fragment that starts
    otherwise is wrapped in a div, and each blank line gets a newline character reference,
    which reads the same in HTML but is not blank.
    """
    fragment = sanitize_html(fragment, base_url).strip()
    if fragment and not _HTML_BLOCK.match(fragment):
        fragment = f"<div>{fragment}</div>"
    return _BLANK_LINE.sub(r"\1&#10;", fragment)


def attributes(text: str) -> dict[str, str]:
    """The attributes of a tag or shortcode, names in lower case, entities decoded."""
    return {name.lower(): html.unescape(next((v for v in rest if v), "")) for name, *rest in _ATTRIBUTE.findall(text)}


def media_link(url: str, title: str = "") -> str:
    """A link to embedded media, named by its title (else by its URL)."""
    url = html.escape(url.strip())
    return f'<a href="{url}">{html.escape(title.strip()) or url}</a>' if url else ""


def media_links(fragment: str) -> tuple[str, int]:
    """<iframe>, <video> and <audio> as links to what they play, and how many: the sanitiser
    drops these elements, and with them the only trace of what the author embedded."""
    count = 0

    def link(tag: str, inner: str = "") -> str:
        nonlocal count
        values = attributes(tag)
        sources = (attributes(found).get("src", "") for found in _SOURCE.findall(inner))
        url = next((u for u in (values.get("src", ""), *sources) if u.strip()), "")
        count += bool(url)
        return media_link(url, values.get("title", ""))

    fragment = _IFRAME.sub(lambda m: link(m[1]), fragment)
    return _AUDIO_VIDEO.sub(lambda m: link(m[2], m[3]), fragment), count


def merge_tags(*groups: Iterable[str]) -> tuple[str, ...]:
    """Tags in order, one per slug: the first spelling wins, as publish would merge them anyway."""
    by_slug: dict[str, str] = {}
    for name in itertools.chain(*groups):
        by_slug.setdefault(name_slug(name), name)
    return tuple(by_slug.values())
