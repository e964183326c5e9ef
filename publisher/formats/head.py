"""The head of an Atom or RSS feed as feedgen writes it. Loaded only when a feed is written:
planning a publish (and finding that nothing changed) must not pay for feedgen and lxml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedgen.feed import FeedGenerator  # first: it loads the lxml.etree that feedgen.ext.dc needs

# isort: split
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension

from .base import Document

if TYPE_CHECKING:
    from ..config import Config


def feed_head(config: Config, doc: Document, media_type: str) -> FeedGenerator:
    """A feed with everything but its entries and extra links; ``updated`` is the newest entry's."""
    tz = config.site.tz
    fg = FeedGenerator()
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)  # xmlns:dc for dc:creator
    if doc.media:  # xmlns:media, only where an entry has an image
        fg.register_extension("media", MediaExtension, MediaEntryExtension)
    fg.id(doc.feed_id)
    fg.title(doc.title)
    fg.subtitle(doc.description)
    fg.description(doc.description)
    fg.link(href=doc.self_url, rel="self", type=media_type)
    fg.link(href=doc.page_url, rel="alternate", type="text/html")  # last link is RSS's <link>
    fg.language(doc.language)
    fg.generator("publisher")
    if config.site.icon:
        fg.icon(config.site.icon)
    if config.site.logo:
        fg.logo(config.site.logo)  # and RSS's <image>
    elif config.site.icon:
        fg.image(config.site.icon)
    fg.updated(doc.newest.astimezone(tz))
    fg.lastBuildDate(doc.newest.astimezone(tz))
    return fg
