"""Which feeds a site has, where they live and what they are called. No feedgen here:
planning a publish (and finding that nothing changed) must not pay for loading it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .formats import FORMATS, Document
from .model import Author, Tag

if TYPE_CHECKING:
    from .config import Config


@dataclass(frozen=True)
class FeedSpec:
    """One feed family member: the whole site, one tag or one author, in every configured format."""

    kind: str  # "site", "tag" or "author"
    slug: str  # "" for the site feed
    title: str
    description: str
    page_url: str  # the HTML page this feed mirrors (its alternate link)
    folder: str  # relative to the output folder: "", "tags/unpoa", "authors/jane-doe"

    def path(self, fmt: str) -> str:
        """Path of the feed file relative to the output folder, e.g. ``tags/unpoa/atom.xml``."""
        name = FORMATS[fmt].file_name
        return f"{self.folder}/{name}" if self.folder else name


def feed_url(config: Config, spec: FeedSpec, fmt: str) -> str:
    return config.site.url(config.feeds.url_path + spec.path(fmt))


def document(config: Config, spec: FeedSpec, fmt: str, newest: datetime) -> Document:
    """What the feed's document says besides its entries."""
    url = feed_url(config, spec, fmt)
    return Document(
        spec.title, spec.description, feed_url(config, spec, "atom"), url, spec.page_url, config.site.language, newest
    )


def site_spec(config: Config) -> FeedSpec:
    site = config.site
    return FeedSpec("site", "", site.title, site.subtitle or f"Posts from {site.title}", site.base_url, "")


def tag_spec(config: Config, tag: Tag) -> FeedSpec:
    site = config.site
    return FeedSpec(
        "tag",
        tag.slug,
        f"{site.title}: {tag.name}",
        f"Posts tagged “{tag.name}” on {site.title}",
        site.url(site.tag_url.format(slug=tag.slug)),
        f"tags/{tag.slug}",
    )


def author_spec(config: Config, author: Author) -> FeedSpec:
    site = config.site
    return FeedSpec(
        "author",
        author.slug,
        f"{site.title}: {author.name}",
        f"Posts by {author.name} on {site.title}",
        site.url(site.author_url.format(slug=author.slug)),
        f"authors/{author.slug}",
    )
