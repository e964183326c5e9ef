"""The W3C Feed Validation Service's warning rules that feeds like ours can trip, as a test helper.

The service itself cannot run in the test environment, so these checks restate the
rules it applies (class names from its logging.py) and fail where it would warn.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
# Every HTML element name, current and obsolete: the validator takes an end tag of any of
# them in a text construct for markup (ContainsHTML, ContainsUndeclaredHTML).
HTML_TAGS = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "address",
        "applet",
        "area",
        "article",
        "aside",
        "audio",
        "b",
        "base",
        "basefont",
        "bdi",
        "bdo",
        "big",
        "blink",
        "blockquote",
        "body",
        "br",
        "button",
        "canvas",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "data",
        "datalist",
        "dd",
        "del",
        "details",
        "dfn",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "fieldset",
        "figcaption",
        "figure",
        "font",
        "footer",
        "form",
        "frame",
        "frameset",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "header",
        "hgroup",
        "hr",
        "html",
        "i",
        "iframe",
        "img",
        "input",
        "ins",
        "isindex",
        "kbd",
        "keygen",
        "label",
        "legend",
        "li",
        "link",
        "listing",
        "main",
        "map",
        "mark",
        "marquee",
        "menu",
        "menuitem",
        "meta",
        "meter",
        "nav",
        "nobr",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "ol",
        "optgroup",
        "option",
        "output",
        "p",
        "param",
        "picture",
        "plaintext",
        "pre",
        "progress",
        "q",
        "rb",
        "rp",
        "rt",
        "rtc",
        "ruby",
        "s",
        "samp",
        "script",
        "search",
        "section",
        "select",
        "slot",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "style",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "template",
        "textarea",
        "tfoot",
        "th",
        "thead",
        "time",
        "title",
        "tr",
        "track",
        "tt",
        "u",
        "ul",
        "var",
        "video",
        "wbr",
        "xmp",
    ]
)
_END_TAG = re.compile(r"</(\w+)>")
_ENTITY = re.compile(r"&(#?\w+)")
_URL_ATTR = re.compile(r"""\s(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_RFC822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")  # fmt: skip
_UNSAFE = re.compile(r"<(script|iframe|object|embed|style|form)\b|\son\w+\s*=|javascript:", re.I)


def _plain_text(value: str | None, where: str) -> list[str]:
    """ContainsHTML / ContainsUndeclaredHTML: text with an HTML end tag or an entity reference."""
    value = value or ""
    problems = [f"{where}: HTML end tag </{t}>" for t in _END_TAG.findall(value) if t.lower() in HTML_TAGS]
    problems += [
        f"{where}: entity &{name}"
        for name in _ENTITY.findall(value)
        if name in name2codepoint or name == "apos" or not name.isalpha()
    ]
    return problems


_MARKUP_LIKE = re.compile(r"&#[x0-9]|<[/a-zA-Z]")


def _character_data(element: etree._Element | None, lines: list[bytes], where: str) -> list[str]:
    """CharacterData (RSS 2.0 plain text): text that reads as markup once decoded must be
    written with hexadecimal references; the validator looks for "&#x" on the element's lines."""
    if element is None or not _MARKUP_LIKE.search(element.text or ""):
        return []
    span = lines[element.sourceline - 1 : element.sourceline + (element.text or "").count("\n")]
    return [] if any(b"&#x" in line for line in span) else [f"{where}: CharacterData {element.text!r}"]


def _html(value: str | None, where: str, rss: bool) -> list[str]:
    """SecurityRisk(Attr), and in RSS ContainsRelRef: no scripts, handlers or relative links."""
    value = value or ""
    problems = [f"{where}: unsafe markup {m.group(0)!r}" for m in _UNSAFE.finditer(value)]
    if rss:
        problems += [f"{where}: relative URL {u!r}" for u in _URL_ATTR.findall(value) if not urlsplit(u).scheme]
    return problems


def lint_atom(data: bytes, url: str) -> list[str]:
    root = etree.fromstring(data)
    problems = []
    selfs = [link.get("href") for link in root.findall(f"{ATOM}link") if link.get("rel") == "self"]
    if selfs != [url]:
        problems.append(f"SelfDoesntMatchLocation: {selfs} != {url}")
    problems += _plain_text(root.findtext(f"{ATOM}title"), "feed title")
    seen_updated: set[str] = set()
    for n, entry in enumerate(root.findall(f"{ATOM}entry")):
        updated = entry.findtext(f"{ATOM}updated") or ""
        if updated in seen_updated:
            problems.append(f"entry {n}: DuplicateUpdated {updated}")
        seen_updated.add(updated)
        for tag in ("updated", "published"):
            if not _RFC3339.match(entry.findtext(f"{ATOM}{tag}") or ""):
                problems.append(f"entry {n}: {tag} is not RFC 3339")
        problems += _plain_text(entry.findtext(f"{ATOM}title"), f"entry {n} title")
        problems += [
            p for a in entry.findall(f"{ATOM}author") for p in _plain_text(a.findtext(f"{ATOM}name"), "author")
        ]
        for cat in entry.findall(f"{ATOM}category"):
            problems += _plain_text(cat.get("term"), "category term") + _plain_text(cat.get("label"), "category label")
        if entry.find(f"{ATOM}content") is None and entry.find(f"{ATOM}summary") is None:
            problems.append(f"entry {n}: MissingTextualContent")
        for tag in ("content", "summary"):
            problems += _html(entry.findtext(f"{ATOM}{tag}"), f"entry {n} {tag}", rss=False)
    return problems


def lint_rss(data: bytes, url: str) -> list[str]:
    channel = etree.fromstring(data).find("channel")
    lines = data.split(b"\n")
    problems = _character_data(channel.find("title"), lines, "channel title")
    problems += _character_data(channel.find("description"), lines, "channel description")
    selfs = [link.get("href") for link in channel.findall(f"{ATOM}link") if link.get("rel") == "self"]
    if selfs != [url]:
        problems.append(f"MissingAtomSelfLink / SelfDoesntMatchLocation: {selfs} != {url}")
    problems += _plain_text(channel.findtext("title"), "channel title")
    for n, item in enumerate(channel.findall("item")):
        guid = item.find("guid")
        if guid is None or guid.get("isPermaLink") not in ("true", "false"):
            problems.append(f"item {n}: MissingGuid or isPermaLink unset")
        if item.find("author") is not None and item.find(f"{DC}creator") is not None:
            problems.append(f"item {n}: DuplicateItemSemantics author + dc:creator")
        date = item.findtext("pubDate") or ""
        if not _RFC822.match(date) or parsedate_to_datetime(date) is None:
            problems.append(f"item {n}: pubDate {date!r} is not strict RFC 2822")
        problems += _plain_text(item.findtext("title"), f"item {n} title")
        problems += _character_data(item.find("title"), lines, f"item {n} title")
        problems += [p for c in item.findall("category") for p in _plain_text(c.text, "category")]
        problems += [p for c in item.findall("category") for p in _character_data(c, lines, "category")]
        problems += [p for c in item.findall(f"{DC}creator") for p in _plain_text(c.text, "dc:creator")]
        problems += _html(item.findtext("description"), f"item {n} description", rss=True)
        problems += _html(item.findtext(f"{CONTENT}encoded"), f"item {n} content:encoded", rss=True)
    return problems


def lint_feeds(folder: Path, feed_url: Callable[[str], str]) -> list[str]:
    """Every rule above over every feed under ``folder``; ``feed_url`` maps a feed's path there to its URL."""
    problems = []
    for path in sorted(folder.rglob("*.xml")):
        rel = path.relative_to(folder).as_posix()
        lint = lint_atom if path.name == "atom.xml" else lint_rss
        problems += [f"{rel}: {p}" for p in lint(path.read_bytes(), feed_url(rel))]
    return problems
