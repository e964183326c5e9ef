"""The data model: frozen dataclasses shared by every stage, and the slug rules."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

_NON_SLUG = re.compile(r"[^a-z0-9]+")
# Latin letters that Unicode does not decompose into an ASCII base letter.
_LATIN = str.maketrans({"æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ł": "l", "þ": "th", "ð": "d", "ı": "i"})


@functools.cache
def slugify(text: str) -> str:
    """ASCII-safe, case-insensitive slug; never empty and never a path.

    Accents fold to their base letter (``Désarmement`` -> ``desarmement``) and
    every other run of non-alphanumerics becomes one hyphen. Text with no ASCII
    letters or digits at all (``日本``) gets ``x-`` plus a short hash of its
    case-folded form, so it still has a stable, distinct slug.
    """
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_LATIN)).encode("ascii", "ignore")
    slug = _NON_SLUG.sub("-", folded.decode("ascii")).strip("-")
    if slug:
        return slug
    return "x-" + hashlib.sha1(text.casefold().encode()).hexdigest()[:10]


SLUG_BYTES = 80  # a tag's or author's slug names a folder: well under any file system's 255
# Symbols that tell names apart: C, C++ and C#; .NET and NET. "+" anywhere; "#" or "♯"
# closing a word (C#, F#; not #hashtag); "." opening a word (.NET; not ASP.NET or 1.5).
_MEANINGFUL = re.compile(r"\+|(?<=[A-Za-z0-9])[#♯](?![A-Za-z0-9])|(?<![A-Za-z0-9.])\.(?=[A-Za-z])")
_SYMBOL_WORDS = {"+": " plus ", "#": " sharp", "♯": " sharp", ".": " dot"}


@functools.cache
def name_slug(name: str) -> str:
    """The slug of a tag or author name: its feed folder and URL, stable across publishes.

    As slugify, but symbols that carry meaning become words (``C++`` -> ``c-plus-plus``,
    ``C#`` -> ``c-sharp``, ``.NET`` -> ``dotnet``), and a slug longer than SLUG_BYTES is
    cut and ends in a hash of the whole slug, so two long names sharing a prefix stay apart.
    """
    slug = slugify(_MEANINGFUL.sub(lambda m: _SYMBOL_WORDS[m.group(0)], name))
    if len(slug) <= SLUG_BYTES:
        return slug
    digest = hashlib.sha1(slug.encode()).hexdigest()[:10]
    return slug[: SLUG_BYTES - len(digest) - 1].rstrip("-") + "-" + digest


@dataclass(frozen=True, order=True)
class Author:
    """A post author; the e-mail is optional and only used where a format wants one."""

    name: str
    email: str | None = None

    @functools.cached_property
    def slug(self) -> str:
        return name_slug(self.name)


@dataclass(frozen=True, order=True)
class Tag:
    """A tag keeps the spelling the author chose; its slug is its identity.

    ``pinned``: the slug the site's config gives this tag when it is not the one its
    name gives (an old feed URL kept through a rename).
    """

    name: str
    pinned: str = ""

    @functools.cached_property  # planning 2,000 feeds asks a tag for its slug over 100,000 times
    def slug(self) -> str:
        return self.pinned or name_slug(self.name)


@dataclass(frozen=True)
class Enclosure:
    """A media file a post carries (a podcast's episode, say): feeds list it for readers to fetch.

    ``length`` in bytes, None when the post does not say (RSS then writes 0, as it advises)."""

    url: str
    type: str
    length: int | None = None


@dataclass(frozen=True, slots=True)  # slots: a large site holds 10,000s of them
class Post:
    """One publishable post, fully resolved: absolute URLs, sanitised HTML, aware dates."""

    id: str
    slug: str
    title: str
    published: datetime
    updated: datetime
    authors: tuple[Author, ...]
    tags: tuple[Tag, ...]
    summary: str
    html: str
    url: str
    source: str
    draft: bool = False
    revision: str = ""  # hash of the source file's text: changes whenever the post may have
    image: str = ""  # absolute URL of the post's picture
    enclosures: tuple[Enclosure, ...] = ()
    lang: str = ""  # the post's language when not the site's

    def sort_key(self) -> tuple[float, str]:
        """Newest first; equal timestamps fall back to the source path, A to Z."""
        return (-self.published.timestamp(), self.source)


class SubscriberStatus(StrEnum):
    """Where a reader stands; only ACTIVE readers get digests."""

    PENDING = "pending"  # signed up, confirmation link not used yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # a hard bounce, or soft bounces adding up to one


class OutboxStatus(StrEnum):
    """What became of a queued message (a digest's or a confirmation e-mail)."""

    PENDING = "pending"  # not tried yet
    RETRY = "retry"  # a 4xx: waits for its not_before
    SENT = "sent"
    BOUNCED = "bounced"  # the server refused the recipient for good
    FAILED = "failed"  # refused for good, but not for the recipient's address
    UNKNOWN = "unknown"  # handed over in full, no reply in time: maybe delivered


class MailOutcome(StrEnum):
    """What a message read from the bounce mailbox turned out to be."""

    HARD = "hard bounce"
    SOFT = "soft bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto-reply"
    IGNORED = "ignored"
    UNRECOGNISED = "unrecognised"


class FeedKind(StrEnum):
    """The feeds a site has: one for every post, one per tag, one per author."""

    SITE = "site"
    TAG = "tag"
    AUTHOR = "author"


@dataclass(frozen=True)
class Subscriber:
    """A digest reader. ``tags`` are tag slugs; None follows every tag."""

    id: int
    address: str
    name: str
    tags: tuple[str, ...] | None
    status: str
    created: datetime
    confirmed: datetime | None = None
    language: str | None = None  # the page's at sign-up: their e-mails speak it (None: the site's)
