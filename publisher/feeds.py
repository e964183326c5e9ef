"""(site | tag | author, posts) -> Atom 1.0 / RSS 2.0 bytes via feedgen. Pure: no I/O, no clock."""

from __future__ import annotations

import copy
import html
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.feed import FeedGenerator

from .config import Config
from .feedspec import MEDIA_TYPES, FeedSpec, feed_url, tag_scheme
from .model import Post


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
