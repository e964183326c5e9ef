"""Which feeds a site has, where they live and what they are called. No feedgen here:
planning a publish (and finding that nothing changed) must not pay for loading it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .formats import FORMATS, Document
from .model import Author, FeedKind, Tag

if TYPE_CHECKING:
    from .config import Config


@dataclass(frozen=True)
class FeedSpec:
    """One feed family member: the whole site, one tag or one author, in every configured format."""

    kind: FeedKind
    slug: str  # "" for the site feed
    title: str
    description: str
    page_url: str  # the HTML page this feed mirrors (its alternate link)
    folder: str  # relative to the output folder: "", "tags/unpoa", "authors/jane-doe"
    page: int = 0  # an RFC 5005 archive page's number, oldest first; 0: the subscription document
    prev_page: int = 0  # the page before this one (for the subscription document: the newest page)
    next_page: int = 0

    def path(self, fmt: str) -> str:
        """Path of the feed file relative to the output folder, e.g. ``tags/unpoa/atom.xml``,
        ``tags/unpoa/archive/3.xml``."""
        return self._path(fmt, self.page)

    def _path(self, fmt: str, page: int) -> str:
        name = f"archive/{page}{FORMATS[fmt].archive_suffix}" if page else FORMATS[fmt].file_name
        return f"{self.folder}/{name}" if self.folder else name

    def page_path(self, fmt: str, page: int) -> str:
        """Path of another page of the same feed (0: its subscription document)."""
        return self._path(fmt, page)


def feed_url(config: Config, spec: FeedSpec, fmt: str, page: int | None = None) -> str:
    """The public URL of the feed's file, or of another of its pages."""
    path = spec.path(fmt) if page is None else spec.page_path(fmt, page)
    return config.site.url(config.feeds.url_path + path)


def document(config: Config, spec: FeedSpec, fmt: str, newest: datetime, media: bool = False) -> Document:
    """What the feed's document says besides its entries: RFC 5005 links between the
    subscription document and its archive pages. Every page has the subscription's Atom id.
    ``media``: an entry has an image, written with Media RSS."""
    links = [] if spec.page else [("hub", hub) for hub in config.websub.hubs]  # archive pages do not change
    if spec.page:
        links.append(("current", feed_url(config, spec, fmt, 0)))
    if spec.prev_page:
        links.append(("prev-archive", feed_url(config, spec, fmt, spec.prev_page)))
    if spec.page:  # the newest page's next is the subscription document (0): no archive page is a dead end
        links.append(("next-archive", feed_url(config, spec, fmt, spec.next_page)))
    return Document(
        spec.title,
        spec.description,
        feed_url(config, spec, "atom", 0),
        feed_url(config, spec, fmt),
        spec.page_url,
        config.site.language,
        newest,
        tuple(links),
        archive=bool(spec.page),
        media=media,
    )


def site_spec(config: Config) -> FeedSpec:
    site = config.site
    return FeedSpec(FeedKind.SITE, "", site.title, site.subtitle or f"Posts from {site.title}", site.base_url, "")


def tag_spec(config: Config, tag: Tag) -> FeedSpec:
    site = config.site
    return FeedSpec(
        FeedKind.TAG,
        tag.slug,
        f"{site.title}: {tag.name}",
        f"Posts tagged “{tag.name}” on {site.title}",
        site.url(site.tag_url.format(slug=tag.slug)),
        f"tags/{tag.slug}",
    )


def author_spec(config: Config, author: Author) -> FeedSpec:
    site = config.site
    return FeedSpec(
        FeedKind.AUTHOR,
        author.slug,
        f"{site.title}: {author.name}",
        f"Posts by {author.name} on {site.title}",
        site.url(site.author_url.format(slug=author.slug)),
        f"authors/{author.slug}",
    )
