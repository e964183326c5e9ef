"""The feed formats publisher writes, one module each; adding a format is one module here.

Each module gives a FeedFormat: its name, media type, file name, entry and document
renderers, and the reader the tests parse it back with.
"""

from __future__ import annotations

from . import atom, jsonfeed, rss
from .base import Document, FeedFormat, tag_scheme

FORMATS: dict[str, FeedFormat] = {f.name: f for f in (atom.FORMAT, rss.FORMAT, jsonfeed.FORMAT)}
NAMES: tuple[str, ...] = tuple(FORMATS)

__all__ = ["FORMATS", "NAMES", "Document", "FeedFormat", "tag_scheme"]
