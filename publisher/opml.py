"""OPML 2.0 (http://opml.org/spec2.opml): the tag and author feeds in one file a feed reader
imports to follow them all at once.

One builder serves both the ``feeds/feeds.opml`` that publish writes and the web app's
OPML of the tags a reader ticks. No clock in it: the same feeds give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .feeds import FeedChanges
from .feedspec import FeedSpec, feed_url
from .files import read_or_none, write_atomically
from .formats.xmltext import text
from .model import FeedKind
from .state import FeedRecord, State

if TYPE_CHECKING:
    from .config import Config

FILE_NAME = "feeds.opml"  # in the feeds folder
MEDIA_TYPE = "text/x-opml"  # the type OPML 2.0 names
_MARK = b"<!-- generator: publisher -->"  # an OPML file publisher wrote, and may remove


def opml(config: Config, title: str, specs: Iterable[FeedSpec]) -> bytes:
    """An OPML 2.0 document with one outline per feed, in the order given. Each outline's
    xmlUrl is the feed in the first of [feeds] formats; type="rss" is what OPML 2.0 asks
    of any feed subscription, whatever its format."""
    from xml.sax.saxutils import quoteattr  # it loads urllib.request, http.client and ssl: 13 ms a publish

    fmt = config.feeds.formats[0]
    outlines = "".join(
        f'    <outline type="rss" text={quoteattr(spec.title)} title={quoteattr(spec.title)}'
        f" xmlUrl={quoteattr(feed_url(config, spec, fmt))} htmlUrl={quoteattr(spec.page_url)}/>\n"
        for spec in specs
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{_MARK.decode()}\n"
        '<opml version="2.0">\n'
        f"  <head>\n    <title>{text(title)}</title>\n  </head>\n"
        f"  <body>\n{outlines}  </body>\n</opml>\n"
    ).encode()


def site_opml(config: Config, specs: Iterable[FeedSpec]) -> bytes | None:
    """The site's feeds.opml: its tag feeds, then its author feeds (those publish writes),
    each kind in slug order. None when there is none: OPML's body needs an outline."""
    wanted = [s for s in specs if s.kind in (FeedKind.TAG, FeedKind.AUTHOR) and not s.page]
    if not config.feeds.opml or not wanted:
        return None
    wanted.sort(key=lambda s: (s.kind != FeedKind.TAG, s.slug))
    return opml(config, f"{config.site.title}: every feed", wanted)


def update_opml(config: Config, store: State, specs: Iterable[FeedSpec], record: FeedRecord | None) -> FeedChanges:
    """Write feeds.opml when its bytes change, or remove it when it is no longer wanted (the
    one publisher wrote: recorded in the feed ledger, or carrying its mark)."""
    path = config.feeds.folder / FILE_NAME
    data = site_opml(config, specs)
    old = read_or_none(path)
    changes = FeedChanges()
    if data is None:
        if old is not None and (record or _MARK in old):
            path.unlink()
            changes.removed.append(FILE_NAME)
        if record:
            store.feeds.forget(FILE_NAME)
        return changes
    if old != data:
        write_atomically(path, data)
        changes.written.append(FILE_NAME)
    stat = path.stat()
    store.feeds.put(FILE_NAME, FeedRecord("", stat.st_mtime_ns, stat.st_size))
    return changes
