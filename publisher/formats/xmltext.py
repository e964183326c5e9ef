"""Text and dates as the XML formats write them: libxml2's escaping, RFC 822 dates, and the
extra head elements (links, fh:archive) that feedgen cannot write."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import Post

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005's fh:


def text(value: str, amp: str = "&amp;", lt: str = "&lt;") -> str:
    """Character data escaped as libxml2 escapes it (or with other references for & and <)."""
    value = value.replace("&", amp).replace("<", lt).replace(">", "&gt;")
    return value.replace("\r", "&#13;") if "\r" in value else value


# Text that a feed validator would take for markup in RSS (which has no way to say "plain
# text"): an end tag, a tag, or a character reference. The W3C validator's CharacterData
# rule wants such text written with hexadecimal references, which every parser reads as text.
LOOKS_LIKE_MARKUP = re.compile(r"&#[x0-9]|<[/a-zA-Z]")


def rss_text(value: str) -> str:
    """Plain text for an RSS element: as text(), but "&" and "<" as hexadecimal references
    where the text looks like markup (a title such as "Why <b> is not bold")."""
    return text(value, "&#x26;", "&#x3C;") if LOOKS_LIKE_MARKUP.search(value) else text(value)


def attr(value: str) -> str:
    """An attribute value escaped as libxml2 escapes it."""
    value = text(value).replace('"', "&quot;")
    return value.replace("\n", "&#10;").replace("\t", "&#9;")


def rfc2822(when: datetime) -> str:
    """RSS's date format, in English whatever the process locale."""
    return f"{_DAYS[when.weekday()]}, {when:%d} {_MONTHS[when.month - 1]} {when:%Y %H:%M:%S %z}"


def media_image(post: Post, indent: str) -> str:
    """A post's image as Media RSS, as feedgen's media extension writes it outside a group."""
    if not post.image:
        return ""
    url = attr(post.image)
    return f'{indent}<media:content url="{url}" medium="image"/>\n{indent}<media:thumbnail url="{url}"/>\n'


def splice(head: bytes, end: bytes, entries: list[bytes], extra: str, root: bytes, namespaces: str) -> bytes:
    """A head as feedgen writes it with the entries (and any extra head elements) put before
    ``end``, and any extra namespace declarations added to the ``root`` start tag."""
    if namespaces:
        head = head.replace(root, root + namespaces.encode(), 1)
    cut = head.rindex(end)
    return b"".join([head[:cut], extra.encode(), *entries, head[cut:]])
