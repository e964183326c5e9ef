"""Text and HTML as feeds and e-mails may carry them: XML-clean text, safe HTML with absolute URLs,
plain text for titles, and summaries.

Every string that reaches a feed has the characters XML 1.0 forbids removed here,
once, so no later stage has to think about them.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from urllib.parse import urljoin

import nh3

# XML 1.0 Char production, minus the C1 controls and non-characters it discourages.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd\U00010000-\U0010ffff]")


# The same, for ASCII text: bytes.translate deletes them five times faster than a regex scans.
_XML_ILLEGAL_ASCII = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


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


# (The lookahead on the first letter halves the scan of a post's many other tags.)
_RAW_TEXT_OPEN = re.compile(
    r"<(?=[stxinp])(script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext)\b", re.I
)


# A start tag holding a relative URL (nh3 escapes "<" and ">" in attribute values).
_RELATIVE_URL_TAG = re.compile(r'<[a-zA-Z][^>]*?\s(?:href|src|cite)="(?!https?://)[^>]*>')


_ROOT_PATH = re.compile(r"/(?!/)[A-Za-z0-9_~%./-]*")  # "/img/map.png": no query, fragment or "//" host


# nh3 writes every attribute as name="value"; these are the ones holding a URL that is
# not yet absolute.
_URL_ATTRIBUTE = re.compile(r'(?<=\s)(href|src|cite)="(?!https?://)([^"]*)"')


_allowed_attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_allowed_attributes["*"] = {"dir", "lang", "title"}


_cleaner = nh3.Cleaner(attributes=_allowed_attributes, link_rel=None)


def clean_text(text: str) -> str:
    """Drop characters that XML 1.0 cannot carry (control characters, lone surrogates)."""
    if not text.isascii():
        return _XML_ILLEGAL.sub("", text)
    data = text.encode("ascii")
    kept = data.translate(None, _XML_ILLEGAL_ASCII)
    return text if len(kept) == len(data) else kept.decode("ascii")


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


def cap_quote_markers(markdown: str, notes: list[str]) -> str:
    """Markdown whose lines open at most MAX_NESTING blockquotes. Capping the HTML later
    works too, but a line of 100,000 ">" renders to 2.7 MB of HTML first."""
    if markdown.count(">") <= MAX_NESTING or not _DEEP_QUOTE.search(markdown):  # count: a fifth of the time
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
    return _collapse_space(_END_TAG.sub("", text) if "</" in text else text).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment, whitespace collapsed; for summaries and e-mail."""
    text = _TAG_RE.sub(lambda m: "" if m.group(2).lower() in _INLINE else " ", fragment)
    return _collapse_space(html.unescape(text)).strip()


def _collapse_space(text: str) -> str:
    """Every whitespace run other than a single space as one space. The regex only when one may be
    there (a tab, a line break or two spaces): it tries at every space, 6 us of a summary's 10."""
    return _SPACE.sub(" ", text) if "  " in text or not text.isprintable() else text


def summarize(body_html: str) -> str:
    """The first paragraph's text, cut at a word boundary near SUMMARY_LENGTH characters."""
    start = body_html.find("<p>")
    end = body_html.find("</p>", start)
    text = html_to_text(body_html[start + 3 : end] if start >= 0 and end >= 0 else body_html)
    if len(text) <= SUMMARY_LENGTH:
        return text
    cut = text.rfind(" ", 0, SUMMARY_LENGTH)
    return text[: cut if cut > SUMMARY_LENGTH // 2 else SUMMARY_LENGTH].rstrip(" ,;:.") + "…"
