"""What every feed format is given and gives: the registry's record and a document's head."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Post


@dataclass(frozen=True)
class Document:
    """Everything a feed document says besides its entries, in terms no format owns.

    ``links`` are the extra (rel, href) pairs: WebSub hubs and RFC 5005's archive links.
    """

    title: str
    description: str
    feed_id: str  # the Atom id: the subscription document's Atom URL, the same for every page
    self_url: str
    page_url: str  # the HTML page the feed mirrors
    language: str
    newest: datetime  # the newest entry's update time: never the clock's
    links: tuple[tuple[str, str], ...] = ()
    archive: bool = False  # an RFC 5005 archive page, whose entries never change once full
    media: bool = False  # an entry carries a Media RSS image: the media namespace is declared


@dataclass(frozen=True)
class FeedFormat:
    """One feed format: adding a format is one module giving one of these."""

    name: str  # as [feeds] formats names it
    label: str  # as pages show it
    media_type: str
    file_name: str  # the subscription document's name in its feed folder
    archive_suffix: str  # an archive page's name after its number ("" : the format has no archives)
    entry: Callable[[Config, Post], bytes]  # one post, rendered once for every feed listing it
    document: Callable[[Config, Document, Sequence[bytes]], bytes]
    read: Callable[[bytes, str], Any]  # the bytes as a reader at that URL sees them (for tests)


def tag_scheme(config: Config) -> str:
    """The category scheme (Atom) and domain (RSS) naming the site's tag vocabulary."""
    return config.site.url(config.site.tag_url.format(slug="").rstrip("/") + "/")
