"""Which posts each feed document lists, as the last full publish planned it.

An edit that leaves a post's place in every feed alone (same id, permalink, dates, tags,
authors, draft state) then re-renders only the documents that list the post, reading
only their posts: its cost follows the change, not the site.
"""

from __future__ import annotations

from collections.abc import Iterable

from .database import Database


class FeedMembers:
    """Per feed document (a feed's subscription document or one archive page): its
    description as JSON, a hash of what it lists, and the content files it lists."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def hashes(self) -> dict[str, str]:
        return {row["doc"]: row["members"] for row in self.db.rows("SELECT doc, members FROM feed_docs")}

    def put(self, docs: Iterable[tuple[str, str, str, list[str]]]) -> None:
        """Each (document, description, members hash, posts), replacing what it listed before:
        one statement of each kind for all of them (a cold 10,000-post site has 1,000)."""
        docs = list(docs)
        self.db.many(
            "INSERT INTO feed_docs (doc, spec, members) VALUES (?, ?, ?) ON CONFLICT (doc) DO UPDATE"
            " SET spec = excluded.spec, members = excluded.members",
            ((doc, spec, members) for doc, spec, members, _paths in docs),
        )
        self.forget_posts(doc for doc, *_rest in docs)
        self.db.many(
            "INSERT INTO feed_posts (doc, path) VALUES (?, ?)",
            ((doc, path) for doc, _spec, _members, paths in docs for path in paths),
        )

    def forget_posts(self, docs: Iterable[str]) -> None:
        self.db.many("DELETE FROM feed_posts WHERE doc = ?", ((doc,) for doc in docs))

    def forget(self, docs: Iterable[str]) -> None:
        docs = list(docs)
        self.forget_posts(docs)
        self.db.many("DELETE FROM feed_docs WHERE doc = ?", ((doc,) for doc in docs))

    def listing(self, paths: Iterable[str]) -> dict[str, tuple[str, list[str]]]:
        """The documents that list any of these content files: doc -> (its description, every file it lists)."""
        wanted = list(paths)
        docs: set[str] = set()
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            sql = f"SELECT DISTINCT doc FROM feed_posts WHERE path IN ({', '.join('?' * len(chunk))})"
            docs.update(row["doc"] for row in self.db.rows(sql, chunk))
        found: dict[str, tuple[str, list[str]]] = {}
        for doc in sorted(docs):
            spec = self.db.value("SELECT spec FROM feed_docs WHERE doc = ?", (doc,))
            listed = [row["path"] for row in self.db.rows("SELECT path FROM feed_posts WHERE doc = ?", (doc,))]
            found[doc] = (spec, listed)
        return found
