"""(site | tag | author, posts) -> Atom 1.0 / RSS 2.0 bytes via feedgen. Pure: no I/O, no clock."""

from __future__ import annotations

import copy
import html
from dataclasses import dataclass
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.feed import FeedGenerator

from .config import Config
from .model import Author, Post, Tag

MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml"}


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
        return f"{self.folder}/{fmt}.xml" if self.folder else f"{fmt}.xml"


def feed_url(config: Config, spec: FeedSpec, fmt: str) -> str:
    return config.site.url(config.feeds.url_path + spec.path(fmt))


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


def tag_scheme(config: Config) -> str:
    """The category scheme (Atom) and domain (RSS) naming the site's tag vocabulary."""
    return config.site.url(config.site.tag_url.format(slug="").rstrip("/") + "/")


class SharedEntry(FeedEntry):
    """A feedgen entry built into XML once and copied into every feed that lists it.

    A post appears in the site feed and in each of its tags' feeds; building its
    elements once instead of per feed is most of the cost of a full publish.
    """

    def __init__(self) -> None:
        super().__init__()
        self._xml: dict[str, Any] = {}

    def atom_entry(self, extensions: bool = True) -> Any:
        if "atom" not in self._xml:
            self._xml["atom"] = super().atom_entry(extensions)
        return copy.deepcopy(self._xml["atom"])

    def rss_entry(self, extensions: bool = True) -> Any:
        if "rss" not in self._xml:
            self._xml["rss"] = super().rss_entry(extensions)
        return copy.deepcopy(self._xml["rss"])


def build_entry(config: Config, post: Post) -> FeedEntry:
    """One post as a feedgen entry; built once per publish and shared by every feed holding it."""
    tz = config.site.tz
    entry = SharedEntry()
    entry.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    entry.guid(post.id, permalink=False)
    entry.title(post.title)
    entry.link(href=post.url, rel="alternate", type="text/html")
    entry.published(post.published.astimezone(tz))
    entry.updated(post.updated.astimezone(tz))
    # Names only: an e-mail address in a public feed is an invitation to spam, and
    # feedgen would also turn it into an RSS <author> beside <dc:creator>.
    for author in post.authors:
        entry.author({"name": author.name})
    entry.dc.dc_creator([a.name for a in post.authors])
    scheme = tag_scheme(config)
    for tag in post.tags:
        entry.category(term=tag.name, label=tag.name, scheme=scheme)
    if post.summary:
        # Both formats carry the summary as escaped HTML, so a reader can never mistake
        # text such as "<script>" in a summary for markup.
        entry.summary(html.escape(post.summary, quote=False), type="html")
    if config.feeds.full_content and post.html:
        entry.content(post.html, type="html")
    return entry


def render_feed(config: Config, spec: FeedSpec, entries: list[FeedEntry], posts: list[Post], fmt: str) -> bytes:
    """The bytes of one feed; ``updated`` comes from its newest entry, never from the clock."""
    site = config.site
    fg = FeedGenerator()
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    self_url = feed_url(config, spec, fmt)
    fg.id(feed_url(config, spec, "atom"))
    fg.title(spec.title)
    fg.subtitle(spec.description)
    fg.description(spec.description)
    fg.link(href=self_url, rel="self", type=MEDIA_TYPES[fmt])
    fg.link(href=spec.page_url, rel="alternate", type="text/html")  # last link is RSS's <link>
    fg.language(site.language)
    fg.generator("publisher")
    newest = max(post.updated for post in posts).astimezone(site.tz)
    fg.updated(newest)
    fg.lastBuildDate(newest)
    for entry in entries:
        fg.add_entry(entry, order="append")
    if fmt == "atom":
        return fg.atom_str(pretty=True)
    return fg.rss_str(pretty=True)
