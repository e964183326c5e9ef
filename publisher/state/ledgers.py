"""The feed ledger (what each written feed was made from) and the publish ledger (the order posts went out in)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from .database import Database


class FeedRecord(NamedTuple):
    """A feed file we wrote: the fingerprint of its inputs (the column keeps its old name, digest) and the stat of the bytes on disk.

    A named tuple, not a dataclass: every publish reads one per feed file, 20,000 on a large site.
    """

    fingerprint: str
    mtime_ns: int
    size: int


class FeedLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def records(self) -> dict[str, FeedRecord]:
        return {
            row["path"]: FeedRecord(row["digest"], row["mtime_ns"], row["size"])
            for row in self.db.rows("SELECT path, digest, mtime_ns, size FROM feeds")
        }

    def stats(self) -> list[tuple[str, int, int]]:
        """Each feed file's path with the stat it was written with: all that a publish with nothing
        to do needs (plain tuples without the fingerprints: a third of the time of records)."""
        return self.db.tuples("SELECT path, mtime_ns, size FROM feeds")

    def put(self, path: str, record: FeedRecord) -> None:
        self.db.execute(
            "INSERT INTO feeds (path, digest, mtime_ns, size) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
            " SET digest = excluded.digest, mtime_ns = excluded.mtime_ns, size = excluded.size",
            (path, record.fingerprint, record.mtime_ns, record.size),
        )

    def forget(self, path: str) -> None:
        self.db.execute("DELETE FROM feeds WHERE path = ?", (path,))


class PublishLedger:
    """Each post's place in the order of first publication: digests send what is newer than a watermark."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ids(self) -> set[str]:
        return {row["post_id"] for row in self.db.rows("SELECT post_id FROM published")}

    def seqs(self) -> dict[str, int]:
        """post id -> its place in the publish ledger (higher: published later)."""
        return {row["post_id"]: row["seq"] for row in self.db.rows("SELECT post_id, seq FROM published")}

    def record(self, post_ids: Iterable[str], when: datetime) -> None:
        self.db.many(
            "INSERT INTO published (post_id, first_published) VALUES (?, ?) ON CONFLICT (post_id) DO NOTHING",
            ((post_id, when.isoformat()) for post_id in post_ids),
        )
