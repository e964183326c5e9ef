"""The web pages' view of the tags, kept at publish time (publisher/tagindex.py).

A front page or a tag page reads this table only: its cost follows the tags it shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from ..model import Post
from ..tagindex import PostLink, TagSummary, folded
from .database import Database

_EVERY = 2**62


def _link_json(link: PostLink) -> list[str]:
    return [link.title, link.url, link.published.isoformat()]


class WebTags:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, tags: Iterable[TagSummary]) -> None:
        """The tags as of this publish, replacing the last publish's."""
        self.db.execute("DELETE FROM web_tags")
        self.db.many(
            "INSERT INTO web_tags (slug, name, search, position, posts, newest) VALUES (?, ?, ?, ?, ?, ?)",
            (
                (t.slug, t.name, t.search, t.position, t.posts, json.dumps([_link_json(p) for p in t.newest]))
                for t in tags
            ),
        )

    def retitle(self, posts: Iterable[Post]) -> None:
        """Posts' new titles in the tags' newest lists, after an edit that moved no post."""
        for post in posts:
            for tag in post.tags:
                summary = self.one(tag.slug)
                if summary is None:
                    continue
                newest = [
                    PostLink(post.title, link.url, link.published) if link.url == post.url else link
                    for link in summary.newest
                ]
                if tuple(newest) != summary.newest:
                    self.db.execute(
                        "UPDATE web_tags SET newest = ? WHERE slug = ?",
                        (json.dumps([_link_json(p) for p in newest]), tag.slug),
                    )

    def page(self, search: str = "", offset: int = 0, limit: int | None = None) -> tuple[int, list[TagSummary]]:
        """(how many tags match, those from ``offset``) in human order, without their newest posts;
        ``search`` is matched inside each name, case and accents folded (tagindex.folded)."""
        where, values = "", []
        if search:  # a scan of the names; without one, the position index gives the page alone
            where = "WHERE search LIKE ? ESCAPE '\\'"
            values = ["%" + folded(search).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"]
        total = self.db.value(f"SELECT count(*) FROM web_tags {where}", values)
        count = _EVERY if limit is None else int(limit)  # SQLite takes OFFSET only after a LIMIT
        rows = self.db.rows(
            f"SELECT slug, name, position, posts FROM web_tags {where} ORDER BY position LIMIT {count} OFFSET {int(offset)}",
            values,
        )
        return total, [TagSummary(r["slug"], r["name"], r["position"], r["posts"], ()) for r in rows]

    def one(self, slug: str) -> TagSummary | None:
        row = self.db.row("SELECT slug, name, position, posts, newest FROM web_tags WHERE slug = ?", (slug,))
        if row is None:
            return None
        newest = tuple(PostLink(t, u, datetime.fromisoformat(d)) for t, u, d in json.loads(row["newest"]))
        return TagSummary(row["slug"], row["name"], row["position"], row["posts"], newest)
