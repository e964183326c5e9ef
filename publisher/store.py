"""The state database: content index, feed ledger, publish ledger. All SQL lives here.

The schema is versioned with SQLite's ``user_version``; MIGRATIONS[n] takes a
database from version n to n + 1, so an older state file is upgraded in place.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import ContentProblem, StateError
from .model import Author, Post, Tag

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        post TEXT,
        problem TEXT
    );
    CREATE TABLE feeds (
        path TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE TABLE published (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        post_id TEXT NOT NULL UNIQUE,
        first_published TEXT NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class CachedFile:
    """What the index knows of one content file: its stat, its hash and what it parsed to."""

    mtime_ns: int
    size: int
    sha256: str
    result: Post | ContentProblem


@dataclass(frozen=True)
class FeedRecord:
    """A feed file we wrote: the digest of its inputs and the stat of the bytes on disk."""

    digest: str
    mtime_ns: int
    size: int


def post_to_json(post: Post) -> str:
    return json.dumps(
        {
            "id": post.id,
            "slug": post.slug,
            "title": post.title,
            "published": post.published.isoformat(),
            "updated": post.updated.isoformat(),
            "authors": [[a.name, a.email] for a in post.authors],
            "tags": [t.name for t in post.tags],
            "summary": post.summary,
            "html": post.html,
            "url": post.url,
            "source": post.source,
            "draft": post.draft,
            "revision": post.revision,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def post_from_json(text: str) -> Post:
    d = json.loads(text)
    return Post(
        id=d["id"],
        slug=d["slug"],
        title=d["title"],
        published=datetime.fromisoformat(d["published"]),
        updated=datetime.fromisoformat(d["updated"]),
        authors=tuple(Author(name, email) for name, email in d["authors"]),
        tags=tuple(Tag(name) for name in d["tags"]),
        summary=d["summary"],
        html=d["html"],
        url=d["url"],
        source=d["source"],
        draft=d["draft"],
        revision=d["revision"],
    )


def _problem_to_json(problem: ContentProblem) -> str:
    return json.dumps([problem.path, problem.message, problem.line])


class Store:
    """A connection to the state database; use as a context manager."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"state database {path}: {exc}; expected a publisher state file") from exc
        except OSError as exc:
            raise StateError(f"state database {path}: {exc.strerror}") from exc
        self.path = path

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                f"state database is schema version {version}, newer than this publisher ({len(MIGRATIONS)}); upgrade"
            )
        for number in range(version, len(MIGRATIONS)):
            self.db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work: everything in it is committed together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # content index
    def cached_files(self) -> dict[str, CachedFile]:
        out = {}
        for path, mtime_ns, size, sha, post, problem in self.db.execute(
            "SELECT path, mtime_ns, size, sha256, post, problem FROM files"
        ):
            result = post_from_json(post) if post is not None else ContentProblem(*json.loads(problem))
            out[path] = CachedFile(mtime_ns, size, sha, result)
        return out

    def put_files(self, files: Iterable[tuple[str, CachedFile]]) -> None:
        rows = []
        for path, cached in files:
            post, problem = (
                (post_to_json(cached.result), None)
                if isinstance(cached.result, Post)
                else (None, _problem_to_json(cached.result))
            )
            rows.append((path, cached.mtime_ns, cached.size, cached.sha256, post, problem))
        self.db.executemany(
            "INSERT OR REPLACE INTO files (path, mtime_ns, size, sha256, post, problem) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def forget_files(self, paths: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in paths))

    def forget_all_files(self) -> None:
        self.db.execute("DELETE FROM files")

    # feed ledger
    def feed_records(self) -> dict[str, FeedRecord]:
        return {
            path: FeedRecord(digest, mtime_ns, size)
            for path, digest, mtime_ns, size in self.db.execute("SELECT path, digest, mtime_ns, size FROM feeds")
        }

    def put_feed(self, path: str, record: FeedRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO feeds (path, digest, mtime_ns, size) VALUES (?, ?, ?, ?)",
            (path, record.digest, record.mtime_ns, record.size),
        )

    def forget_feed(self, path: str) -> None:
        self.db.execute("DELETE FROM feeds WHERE path = ?", (path,))

    # publish ledger
    def published_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT post_id FROM published")}

    def record_published(self, post_ids: Iterable[str], when: datetime) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO published (post_id, first_published) VALUES (?, ?)",
            ((post_id, when.isoformat()) for post_id in post_ids),
        )
