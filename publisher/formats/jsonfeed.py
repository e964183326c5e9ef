"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1): fixed key order, UTF-8, no clock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import Document, FeedFormat

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Enclosure, Post

MEDIA_TYPE = "application/feed+json"
VERSION = "https://jsonfeed.org/version/1.1"


def item(config: Config, post: Post) -> dict[str, Any]:
    """One post as a JSON Feed item. An item must carry content_html or content_text: without
    the full content (or without HTML), the summary is the item's text."""
    tz = config.site.tz
    out: dict[str, Any] = {"id": post.id, "url": post.url, "title": post.title}
    if config.feeds.full_content and post.html:
        out["content_html"] = post.html
        if post.summary:
            out["summary"] = post.summary
    else:
        out["content_text"] = post.summary
    out["date_published"] = post.published.astimezone(tz).isoformat()
    out["date_modified"] = post.updated.astimezone(tz).isoformat()
    if post.authors:
        out["authors"] = [{"name": a.name} for a in post.authors]
    if post.tags:
        out["tags"] = [t.name for t in post.tags]
    if post.image:
        out["image"] = post.image
    if post.lang:
        out["language"] = post.lang
    if post.enclosures:
        out["attachments"] = [_attachment(e) for e in post.enclosures]
    return out


def _attachment(enclosure: Enclosure) -> dict[str, Any]:
    out: dict[str, Any] = {"url": enclosure.url, "mime_type": enclosure.type}
    if enclosure.length is not None:
        out["size_in_bytes"] = enclosure.length
    return out


def entry(config: Config, post: Post) -> bytes:
    return json.dumps(item(config, post), ensure_ascii=False).encode()


def document(config: Config, doc: Document, entries: Sequence[bytes]) -> bytes:
    """The feed object with its items (from entry()), newest first, one to a line."""
    head: dict[str, Any] = {
        "version": VERSION,
        "title": doc.title,
        "home_page_url": doc.page_url,
        "feed_url": doc.self_url,
        "description": doc.description,
    }
    if config.site.logo or config.site.icon:
        head["icon"] = config.site.logo or config.site.icon  # a large image; favicon: the small one
    if config.site.icon:
        head["favicon"] = config.site.icon
    head["language"] = doc.language
    hubs = [{"type": "WebSub", "url": href} for rel, href in doc.links if rel == "hub"]
    if hubs:
        head["hubs"] = hubs
    text = json.dumps(head, ensure_ascii=False, indent=2).encode()
    items = b"[\n    " + b",\n    ".join(entries) + b"\n  ]" if entries else b"[]"
    return text[: -len(b"\n}")] + b',\n  "items": ' + items + b"\n}\n"


def read(data: bytes, url: str) -> Any:
    return json.loads(data)


FORMAT = FeedFormat("json", "JSON Feed", MEDIA_TYPE, "feed.json", "", entry, document, read)
