"""The state database: content index, feed ledger, publish ledger. All SQL lives here.

The schema is versioned with SQLite's ``user_version``; MIGRATIONS[n] takes a
database from version n to n + 1, so an older state file is upgraded in place.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from .errors import ContentProblem, StateError
from .model import Author, Post, Subscriber, Tag

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
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL,
        tags TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        created TEXT NOT NULL,
        confirmed TEXT
    );
    CREATE TABLE watermarks (
        subscriber INTEGER NOT NULL,
        digest TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (subscriber, digest)
    );
    CREATE TABLE digest_runs (
        id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL,
        slot TEXT NOT NULL,
        frozen TEXT NOT NULL,
        UNIQUE (digest, slot)
    );
    CREATE TABLE run_posts (
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        seq INTEGER NOT NULL,
        post_id TEXT NOT NULL,
        PRIMARY KEY (run, seq)
    );
    CREATE TABLE run_bodies (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        subject TEXT NOT NULL,
        text TEXT NOT NULL,
        html TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        subscriber INTEGER NOT NULL,
        body INTEGER NOT NULL REFERENCES run_bodies (id),
        fields TEXT NOT NULL,
        watermark INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retry', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        sent TEXT,
        UNIQUE (run, subscriber)
    );
    CREATE INDEX outbox_status ON outbox (status, run);
    """,
    """
    CREATE TABLE signups (
        address TEXT NOT NULL COLLATE NOCASE,
        client TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX signups_address ON signups (address, at);
    CREATE INDEX signups_client ON signups (client, at);
    CREATE TABLE subscriber_digests (
        subscriber INTEGER PRIMARY KEY,
        digest TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE skipped_slots (
        digest TEXT NOT NULL,
        slot TEXT NOT NULL,
        recorded TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (digest, slot)
    );
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        since TEXT NOT NULL
    );
    """,
    """
    DELETE FROM files;
    ALTER TABLE files ADD COLUMN html TEXT;
    """,
    # A post's fields as columns: reading back 10,000 posts no longer decodes 10,000 JSON
    # objects. The index is a cache: the next publish reads every file again.
    """
    DROP TABLE files;
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        problem TEXT,
        id TEXT,
        slug TEXT,
        title TEXT,
        published TEXT,
        updated TEXT,
        authors TEXT,
        tags TEXT,
        summary TEXT,
        html TEXT,
        url TEXT,
        draft INTEGER,
        revision TEXT
    );
    """,
    # Two more outbox states: 'bounced' (the server refused the recipient for good) apart from
    # 'failed', and 'unknown' (no reply to a message already handed over: maybe delivered).
    """
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES digest_runs (id),
        subscriber INTEGER NOT NULL,
        body INTEGER NOT NULL REFERENCES run_bodies (id),
        fields TEXT NOT NULL,
        watermark INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'retry', 'sent', 'failed', 'bounced', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        sent TEXT,
        UNIQUE (run, subscriber)
    );
    INSERT INTO outbox_new SELECT * FROM outbox;
    UPDATE outbox_new SET status = 'bounced' WHERE status = 'failed' AND error GLOB '5[0-9][0-9] *'
        AND subscriber IN (SELECT id FROM subscribers WHERE status = 'bounced');
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    CREATE INDEX outbox_status ON outbox (status, run);
    """,
    # Messages read from the bounce mailbox: each recorded in the transaction that applies it,
    # so a message read again after a crash is recognised and never applied twice.
    """
    CREATE TABLE mail_processed (
        key TEXT PRIMARY KEY,
        outcome TEXT NOT NULL,
        subscriber INTEGER,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX mail_processed_subscriber ON mail_processed (subscriber, outcome, at);
    """,
    # Confirmation e-mails wait here, as sent bytes, for the sender: a sign-up never waits for SMTP.
    """
    CREATE TABLE confirmations (
        id INTEGER PRIMARY KEY,
        subscriber INTEGER NOT NULL,
        sender TEXT NOT NULL,
        address TEXT NOT NULL,
        message BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'retry', 'sent', 'failed', 'bounced', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        error TEXT,
        queued TEXT NOT NULL,
        sent TEXT
    );
    CREATE INDEX confirmations_status ON confirmations (status);
    """,
)


@dataclass(frozen=True)
class MailEvent:
    """One processed message of the bounce mailbox that concerned a subscriber."""

    subscriber: int
    address: str
    status: str
    outcome: str
    detail: str
    at: datetime


class CachedFile(NamedTuple):
    """What the index knows of one content file: its stat, its hash and what it parsed to.

    A named tuple, not a dataclass: 10,000 of them are made on every publish.
    """

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


@dataclass(frozen=True)
class OutboxItem:
    """One recipient's message of a frozen run, without the shared body it points to."""

    id: int
    run: int
    digest: str
    slot: datetime
    frozen: datetime
    subscriber: int
    subscriber_status: str | None  # None: the subscriber was removed after the run was frozen
    body: int
    fields: dict[str, str]
    watermark: int
    status: str
    attempts: int
    not_before: datetime | None


@dataclass(frozen=True)
class Waiting:
    """A digest's messages still to send: how many, and when the first may go (None: now)."""

    count: int
    first: datetime | None


@dataclass(frozen=True)
class QueuedConfirmation:
    """A confirmation e-mail waiting to be sent, with its subscriber's status now (None: removed)."""

    id: int
    subscriber: int
    subscriber_status: str | None
    sender: str
    address: str
    message: bytes
    attempts: int
    not_before: datetime | None


@dataclass(frozen=True)
class RunSummary:
    """A digest run and how many of its messages are in each outbox state."""

    digest: str
    slot: datetime
    frozen: datetime
    counts: dict[str, int]


POST_FORMAT = 4  # bump when what a post holds changes: cached posts are then read again


@dataclass(frozen=True)
class LockHolder:
    """The process holding a named lock, as it recorded itself."""

    pid: int
    host: str
    since: datetime

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.since:%Y-%m-%d %H:%M:%S %Z}"


# The columns of the files table after its stat and hash: a problem (JSON), or a post's fields.
_RESULT_COLUMNS = "problem, id, slug, title, published, updated, authors, tags, summary, html, url, draft, revision"


def _result_columns(result: Post | ContentProblem) -> tuple[object, ...]:
    """A content file's row after its stat and hash: the problem, or the post's fields."""
    if isinstance(result, ContentProblem):
        return (_problem_to_json(result),) + (None,) * 12
    return (
        None,
        result.id,
        result.slug,
        result.title,
        result.published.isoformat(),
        result.updated.isoformat(),
        _names_json([[a.name, a.email] for a in result.authors]),
        _names_json([t.name for t in result.tags]),
        result.summary,
        result.html,
        result.url,
        result.draft,
        result.revision,
    )


_names_json = json.JSONEncoder(ensure_ascii=False).encode


# A site has far fewer tags and authors than posts: the posts read back share them (and
# each tag works out its slug once). Bounded: the scheduler and the web app live long.
_tag = functools.lru_cache(maxsize=1 << 16)(Tag)


@functools.lru_cache(maxsize=1 << 14)
def _tags(text: str) -> tuple[Tag, ...]:
    return tuple(_tag(name) for name in json.loads(text))


@functools.lru_cache(maxsize=1 << 10)
def _authors(text: str) -> tuple[Author, ...]:
    return tuple(Author(name, email) for name, email in json.loads(text))


def _result(row: tuple) -> Post | ContentProblem:
    """What a row of the files table (from its path on) holds: the post, or the problem."""
    path, problem, post_id, slug, title, published, updated, authors, tags, summary, html, url, draft, revision = row
    if problem is not None:
        return ContentProblem(*json.loads(problem))
    return Post(
        id=post_id,
        slug=slug,
        title=title,
        published=datetime.fromisoformat(published),
        updated=datetime.fromisoformat(updated),
        authors=_authors(authors),
        tags=_tags(tags),
        summary=summary,
        html=html,
        url=url,
        source=path,
        draft=bool(draft),
        revision=revision,
    )


def _problem_to_json(problem: ContentProblem) -> str:
    return json.dumps([problem.path, problem.message, problem.line])


BUSY_SECONDS = 10.0  # how long a write waits for another process's transaction before saying so
_PRIVATE_FOLDER = 0o700  # the state file lists every subscriber's address: for its owner's eyes only
_LOW_SPACE = 1 << 20  # bytes free below which a disk I/O error is taken to be a full disk


def state_error(path: Path, exc: sqlite3.Error) -> StateError:
    """One line for a failed database operation: what went wrong with which file, and what to do."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StateError(f"another publisher process holds {path}; try again when it ends")
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _disk_full(path)):
        return StateError(f"the disk holding {path} is full; free some space and run again (nothing was changed)")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return damaged(path, str(exc))
    if code == sqlite3.SQLITE_READONLY:
        return StateError(f"state database {path} cannot be written ({exc}); expected a writable file and folder")
    return StateError(f"state database {path}: {exc}")


def damaged(path: Path, detail: str) -> StateError:
    return StateError(
        f"state database {path} is damaged ({detail}); check it with 'publisher db check' "
        "(PRAGMA integrity_check), restore a backup, or move it aside with 'publisher db reset'"
    )


def _disk_full(path: Path) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < _LOW_SPACE


def _statements(script: str) -> Iterator[str]:
    """A migration's statements one by one: executescript would commit the open transaction."""
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement
            statement = ""


def _schema_version(db: sqlite3.Connection) -> int:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StateError(
            f"state database is schema version {version}, newer than this publisher ({len(MIGRATIONS)}); upgrade"
        )
    return version


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to date. The version is read again once the write lock is held:
    another process may have migrated the file while this one waited for it."""
    if _schema_version(db) == len(MIGRATIONS):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for number in range(_schema_version(db), len(MIGRATIONS)):
            for statement in _statements(MIGRATIONS[number]):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _create(path: Path) -> None:
    """A new state file appears complete or not at all, readable by its owner only.

    Another process never sees it empty: an empty state file is one that lost its data.
    """
    path.parent.mkdir(mode=_PRIVATE_FOLDER, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")  # mode 0600
    os.close(fd)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file: later opens need no exclusive lock
            _migrate(db)
        finally:
            db.close()
        os.link(tmp, path)  # its name, unless another process gave it one first
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        Path(tmp).unlink(missing_ok=True)


def move_aside(path: Path, when: datetime) -> Path:
    """Rename a damaged state file (and its write-ahead log) out of the way, keeping it whole,
    so that the next open starts a new one; refuses a file that passes the integrity check."""
    try:
        with Store(path) as store:
            problems = store.problems()
    except StateError:
        pass  # empty, not a database, or too damaged to open
    else:
        if not problems:
            raise StateError(f"state database {path} passes the integrity check; nothing to reset")
    aside = path.with_name(f"{path.name}.damaged-{when:%Y%m%dT%H%M%S}")
    for suffix in ("-wal", ""):
        if Path(f"{path}{suffix}").exists():
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
    Path(f"{path}-shm").unlink(missing_ok=True)  # an index of the log, rebuilt from it
    return aside


class Store:
    """A connection to the state database; use as a context manager.

    A database error inside the ``with`` block leaves it as a one-line StateError naming the file.
    """

    def __init__(self, path: Path, *, timeout: float | None = None) -> None:
        """``timeout``: seconds a write waits for another process's transaction (BUSY_SECONDS)."""
        self.path = path
        self.db: sqlite3.Connection | None = None
        try:
            if not path.exists():
                _create(path)
            if path.stat().st_size == 0:
                raise StateError(
                    f"state database {path} is empty (0 bytes): its data was lost; restore a backup, "
                    "or run 'publisher db reset' to move it aside and start with no subscribers"
                )
            self.db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_SECONDS if timeout is None else timeout)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            _migrate(self.db)
        except sqlite3.Error as exc:
            self.close()
            raise state_error(path, exc) from None
        except OSError as exc:
            self.close()
            raise StateError(f"state database {path}: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):
            raise state_error(self.path, exc) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work: everything in it is committed together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:  # SQLite already rolled back after a full disk, say
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def problems(self, *, quick: bool = False) -> list[str]:
        """What SQLite's integrity check finds wrong with the file (quick: without checking indexes)."""
        rows = self.db.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check").fetchall()
        return [] if rows == [("ok",)] else [row[0] for row in rows]

    def backup(self, target: Path) -> None:
        """A consistent copy of the database taken while others may use it (SQLite's online backup)."""
        target.parent.mkdir(mode=_PRIVATE_FOLDER, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new")  # mode 0600
        os.close(fd)
        try:
            copy = sqlite3.connect(tmp, isolation_level=None)
            try:
                self.db.backup(copy)
            finally:
                copy.close()
            os.link(tmp, target)  # never over an existing file
        finally:
            Path(tmp).unlink(missing_ok=True)

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # content index
    def cached_files(self, html: bool = True) -> dict[str, CachedFile]:
        """Every indexed content file; ``html=False`` leaves each post's HTML out (as ""), to be
        read with html_of for the few posts that need it."""
        columns = _RESULT_COLUMNS if html else _RESULT_COLUMNS.replace("html", "'' AS html")
        return {
            row[0]: CachedFile(row[1], row[2], row[3], _result(row[:1] + row[4:]))
            for row in self.db.execute(f"SELECT path, mtime_ns, size, sha256, {columns} FROM files")
        }

    def html_of(self, paths: Iterable[str]) -> dict[str, str]:
        """The indexed HTML of these content files (those that are posts)."""
        wanted = list(paths)
        out: dict[str, str] = {}
        if not wanted:
            return out
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            out.update(
                self.db.execute(
                    f"SELECT path, html FROM files WHERE html IS NOT NULL AND path IN ({', '.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return out

    def restat_files(self, stats: Iterable[tuple[str, int, int]]) -> None:
        """New (mtime, size) for files whose bytes are as indexed (after a checkout, say)."""
        self.db.executemany("UPDATE files SET mtime_ns = ?, size = ? WHERE path = ?", ((m, s, p) for p, m, s in stats))

    def put_files(self, files: Iterable[tuple[str, CachedFile]]) -> None:
        rows = (  # a generator: 10,000 serialised posts never sit in memory at once
            (path, cached.mtime_ns, cached.size, cached.sha256, *_result_columns(cached.result))
            for path, cached in files
        )
        self.db.executemany(
            f"INSERT OR REPLACE INTO files (path, mtime_ns, size, sha256, {_RESULT_COLUMNS}) VALUES ({'?, ' * 16}?)",
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

    # subscribers
    _SELECT_SUBSCRIBER = "SELECT id, address, name, tags, status, created, confirmed FROM subscribers"

    @staticmethod
    def _subscriber(row: tuple, tag_lists: dict[str, tuple[str, ...]] | None = None) -> Subscriber:
        """``tag_lists``: tags columns already parsed (many subscribers follow the same tags)."""
        sid, address, name, tags, status, created, confirmed = row
        parsed = None if tags is None or tag_lists is None else tag_lists.get(tags)
        if tags is not None and parsed is None:
            parsed = tuple(json.loads(tags))
            if tag_lists is not None:
                tag_lists[tags] = parsed
        return Subscriber(
            id=sid,
            address=address,
            name=name,
            tags=parsed,
            status=status,
            created=datetime.fromisoformat(created),
            confirmed=datetime.fromisoformat(confirmed) if confirmed else None,
        )

    def subscriber(self, address: str) -> Subscriber | None:
        """The subscriber with this address, compared case-insensitively."""
        row = self.db.execute(self._SELECT_SUBSCRIBER + " WHERE address = ?", (address,)).fetchone()
        return self._subscriber(row) if row else None

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        row = self.db.execute(self._SELECT_SUBSCRIBER + " WHERE id = ?", (subscriber_id,)).fetchone()
        return self._subscriber(row) if row else None

    def subscribers(self) -> list[Subscriber]:
        return [self._subscriber(row) for row in self.db.execute(self._SELECT_SUBSCRIBER + " ORDER BY id")]

    def insert_subscribers(self, subscribers: Iterable[Subscriber]) -> None:
        """Insert new subscribers; their ``id`` is ignored and assigned by the database."""
        self.db.executemany(
            "INSERT INTO subscribers (address, name, tags, status, created, confirmed) VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    s.address,
                    s.name,
                    json.dumps(list(s.tags)) if s.tags is not None else None,
                    s.status,
                    s.created.isoformat(),
                    s.confirmed.isoformat() if s.confirmed else None,
                )
                for s in subscribers
            ),
        )

    def delete_subscriber(self, subscriber_id: int) -> None:
        # Unsent messages go too: a new subscriber may later be given the same id.
        self.db.execute(
            "UPDATE outbox SET status = 'failed', error = 'not sent: the subscriber was removed'"
            " WHERE subscriber = ? AND status IN ('pending', 'retry')",
            (subscriber_id,),
        )
        self.db.execute("DELETE FROM watermarks WHERE subscriber = ?", (subscriber_id,))
        self.db.execute("DELETE FROM subscriber_digests WHERE subscriber = ?", (subscriber_id,))
        self.db.execute("UPDATE mail_processed SET subscriber = NULL WHERE subscriber = ?", (subscriber_id,))
        self.db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))

    def set_subscriber_status(self, subscriber_id: int, status: str) -> None:
        self.db.execute("UPDATE subscribers SET status = ? WHERE id = ?", (status, subscriber_id))

    def active_subscribers(self, digest: str) -> list[tuple[Subscriber, int]]:
        """Every active subscriber of this digest (those who chose no digest get every one) with the
        last published.seq they received in it (0: none)."""
        rows = self.db.execute(
            "SELECT s.id, s.address, s.name, s.tags, s.status, s.created, s.confirmed, COALESCE(w.seq, 0)"
            " FROM subscribers s LEFT JOIN watermarks w ON w.subscriber = s.id AND w.digest = ?"
            " LEFT JOIN subscriber_digests d ON d.subscriber = s.id"
            " WHERE s.status = 'active' AND (d.digest IS NULL OR d.digest = ?) ORDER BY s.id",
            (digest, digest),
        )
        tag_lists: dict[str, tuple[str, ...]] = {}
        return [(self._subscriber(row[:7], tag_lists), row[7]) for row in rows]

    def watermark(self, subscriber_id: int, digest: str) -> int:
        row = self.db.execute(
            "SELECT seq FROM watermarks WHERE subscriber = ? AND digest = ?", (subscriber_id, digest)
        ).fetchone()
        return row[0] if row else 0

    # digest runs and the outbox
    def published_seqs(self) -> dict[str, int]:
        """post id -> its place in the publish ledger (higher: published later)."""
        return dict(self.db.execute("SELECT post_id, seq FROM published"))

    def run_exists(self, digest: str, slot: datetime) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM digest_runs WHERE digest = ? AND slot = ?", (digest, slot.isoformat())
        ).fetchone()
        return row is not None

    def insert_run(
        self,
        digest: str,
        slot: datetime,
        frozen: datetime,
        posts: Iterable[tuple[int, str]],
        bodies: list[tuple[str, str, str]],
        messages: Iterable[tuple[int, int, str, int]],
    ) -> int:
        """A run with its (seq, post id)s, its shared (subject, text, html) bodies and one outbox
        row per (subscriber, index into bodies, fields JSON, watermark)."""
        run = self.db.execute(
            "INSERT INTO digest_runs (digest, slot, frozen) VALUES (?, ?, ?)",
            (digest, slot.isoformat(), frozen.isoformat()),
        ).lastrowid
        self.db.executemany(
            "INSERT INTO run_posts (run, seq, post_id) VALUES (?, ?, ?)", ((run, seq, pid) for seq, pid in posts)
        )
        body_ids = [
            self.db.execute(
                "INSERT INTO run_bodies (run, subject, text, html) VALUES (?, ?, ?, ?)", (run, *body)
            ).lastrowid
            for body in bodies
        ]
        self.db.executemany(
            "INSERT INTO outbox (run, subscriber, body, fields, watermark) VALUES (?, ?, ?, ?, ?)",
            ((run, sub, body_ids[index], fields, mark) for sub, index, fields, mark in messages),
        )
        return run

    def open_messages(self, digest: str) -> list[OutboxItem]:
        """Messages of this digest still to send (pending or waiting for a retry), oldest run first."""
        rows = self.db.execute(
            "SELECT o.id, o.run, r.digest, r.slot, r.frozen, o.subscriber, s.status, o.body, o.fields,"
            " o.watermark, o.status, o.attempts, o.not_before"
            " FROM outbox o JOIN digest_runs r ON r.id = o.run LEFT JOIN subscribers s ON s.id = o.subscriber"
            " WHERE r.digest = ? AND o.status IN ('pending', 'retry') ORDER BY o.id",
            (digest,),
        )
        return [
            OutboxItem(
                oid, run, name, datetime.fromisoformat(slot), datetime.fromisoformat(frozen), sub, sub_status,
                body, json.loads(fields), mark, status, attempts,
                datetime.fromisoformat(not_before) if not_before else None,
            )
            for oid, run, name, slot, frozen, sub, sub_status, body, fields, mark, status, attempts, not_before in rows
        ]  # fmt: skip

    def run_body(self, body: int) -> tuple[str, str, str]:
        """The shared (subject, text, html) of one render."""
        return self.db.execute("SELECT subject, text, html FROM run_bodies WHERE id = ?", (body,)).fetchone()

    def mark_sent(self, item: OutboxItem, when: datetime) -> None:
        """The server took the message: record it and move the subscriber's watermark in one go."""
        self.db.execute("UPDATE outbox SET status = 'sent', sent = ? WHERE id = ?", (when.isoformat(), item.id))
        self.db.execute(
            "INSERT INTO watermarks (subscriber, digest, seq) VALUES (?, ?, ?)"
            " ON CONFLICT (subscriber, digest) DO UPDATE SET seq = max(seq, excluded.seq)",
            (item.subscriber, item.digest, item.watermark),
        )

    def mark_retry(self, item: OutboxItem, not_before: datetime, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'retry', attempts = attempts + 1, not_before = ?, error = ? WHERE id = ?",
            (not_before.isoformat(), error, item.id),
        )

    def mark_done(self, item: OutboxItem, status: str, error: str) -> None:
        """A message that is not sent again by itself: 'failed', 'bounced' or 'unknown'."""
        self.db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, error = ? WHERE id = ?", (status, error, item.id)
        )

    def requeue(self, digest: str | None) -> int:
        """Failed and outcome-unknown messages to active subscribers are to be sent again; how many."""
        return self.db.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, not_before = NULL WHERE status IN ('failed', 'unknown')"
            " AND subscriber IN (SELECT id FROM subscribers WHERE status = 'active')"
            " AND run IN (SELECT id FROM digest_runs WHERE ? IS NULL OR digest = ?)",
            (digest, digest),
        ).rowcount

    def run_summaries(self) -> list[RunSummary]:
        """Every run, newest slot first, with its outbox counts by status."""
        runs: dict[int, RunSummary] = {}
        for run, digest, slot, frozen, status, count in self.db.execute(
            "SELECT r.id, r.digest, r.slot, r.frozen, o.status, count(o.id) FROM digest_runs r"
            " LEFT JOIN outbox o ON o.run = r.id GROUP BY r.id, o.status ORDER BY r.slot DESC, r.digest"
        ):
            summary = runs.setdefault(
                run, RunSummary(digest, datetime.fromisoformat(slot), datetime.fromisoformat(frozen), {})
            )
            if status is not None:
                summary.counts[status] = count
        return list(runs.values())

    # web sign-ups: rate limits, confirmation, preferences
    def record_signup(self, address: str, client: str, at: datetime, forget_before: datetime) -> None:
        """Note a confirmation e-mail sent; sign-ups older than ``forget_before`` are dropped."""
        self.db.execute("DELETE FROM signups WHERE at < ?", (forget_before.isoformat(),))
        self.db.execute("INSERT INTO signups (address, client, at) VALUES (?, ?, ?)", (address, client, at.isoformat()))

    def signup_times(self, address: str) -> list[datetime]:
        """When confirmation e-mails went to this address, newest first."""
        rows = self.db.execute("SELECT at FROM signups WHERE address = ? ORDER BY at DESC", (address,))
        return [datetime.fromisoformat(at) for (at,) in rows]

    def client_signups(self, client: str, since: datetime) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM signups WHERE client = ? AND at >= ?", (client, since.isoformat())
        ).fetchone()
        return row[0]

    def queue_confirmation(
        self, subscriber: int, sender: str, address: str, message: bytes, when: datetime, forget_before: datetime
    ) -> None:
        """A confirmation e-mail for the sender; finished ones older than ``forget_before`` are dropped."""
        self.db.execute(
            "DELETE FROM confirmations WHERE status IN ('sent', 'failed') AND queued < ?", (forget_before.isoformat(),)
        )
        self.db.execute(
            "INSERT INTO confirmations (subscriber, sender, address, message, queued) VALUES (?, ?, ?, ?, ?)",
            (subscriber, sender, address, message, when.isoformat()),
        )

    def open_confirmations(self) -> list[QueuedConfirmation]:
        """Confirmation e-mails still to send (pending or waiting for a retry), oldest first."""
        rows = self.db.execute(
            "SELECT c.id, c.subscriber, s.status, c.sender, c.address, c.message, c.attempts, c.not_before"
            " FROM confirmations c LEFT JOIN subscribers s ON s.id = c.subscriber"
            " WHERE c.status IN ('pending', 'retry') ORDER BY c.id"
        )
        return [
            QueuedConfirmation(*row[:7], datetime.fromisoformat(row[7]) if row[7] else None)  # type: ignore[arg-type]
            for row in rows
        ]

    def confirmation_sent(self, confirmation: int, when: datetime) -> None:
        self.db.execute(
            "UPDATE confirmations SET status = 'sent', sent = ? WHERE id = ?", (when.isoformat(), confirmation)
        )

    def confirmation_retry(self, confirmation: int, not_before: datetime, error: str) -> None:
        self.db.execute(
            "UPDATE confirmations SET status = 'retry', attempts = attempts + 1, not_before = ?, error = ?"
            " WHERE id = ?",
            (not_before.isoformat(), error, confirmation),
        )

    def confirmation_done(self, confirmation: int, status: str, error: str) -> None:
        """A confirmation e-mail that is not sent again by itself: 'failed', 'bounced' or 'unknown'."""
        self.db.execute(
            "UPDATE confirmations SET status = ?, attempts = attempts + 1, error = ? WHERE id = ?",
            (status, error, confirmation),
        )

    def confirm_subscriber(self, subscriber_id: int, when: datetime) -> None:
        self.db.execute(
            "UPDATE subscribers SET status = 'active', confirmed = ? WHERE id = ?", (when.isoformat(), subscriber_id)
        )

    def set_preferences(self, subscriber_id: int, tags: tuple[str, ...] | None, digest: str | None) -> None:
        """A subscriber's tags (None: every tag) and digest (None: every digest)."""
        self.db.execute(
            "UPDATE subscribers SET tags = ? WHERE id = ?",
            (json.dumps(list(tags)) if tags is not None else None, subscriber_id),
        )
        self.db.execute("DELETE FROM subscriber_digests WHERE subscriber = ?", (subscriber_id,))
        if digest is not None:
            self.db.execute(
                "INSERT INTO subscriber_digests (subscriber, digest) VALUES (?, ?)", (subscriber_id, digest)
            )

    def subscriber_digest(self, subscriber_id: int) -> str | None:
        row = self.db.execute("SELECT digest FROM subscriber_digests WHERE subscriber = ?", (subscriber_id,)).fetchone()
        return row[0] if row else None

    # the scheduler's ledger: slots sent (digest_runs) or skipped, and the locks of running processes
    def last_slots(self) -> dict[str, datetime]:
        """digest -> its latest slot that was frozen or skipped."""
        last: dict[str, datetime] = {}
        for digest, slot in self.db.execute(
            "SELECT digest, slot FROM digest_runs UNION ALL SELECT digest, slot FROM skipped_slots"
        ):
            when = datetime.fromisoformat(slot)
            if digest not in last or when > last[digest]:
                last[digest] = when
        return last

    def waiting(self) -> dict[str, Waiting]:
        """digest -> its messages still to send (pending, or waiting for a retry), for digests that have any."""
        return {
            digest: Waiting(count, None if unscheduled else datetime.fromisoformat(first))
            for digest, count, unscheduled, first in self.db.execute(
                "SELECT r.digest, count(*), sum(o.not_before IS NULL), min(o.not_before)"
                " FROM outbox o JOIN digest_runs r ON r.id = o.run"
                " WHERE o.status IN ('pending', 'retry') GROUP BY r.digest"
            )
        }

    def record_skipped(self, digest: str, slot: datetime, when: datetime, reason: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO skipped_slots (digest, slot, recorded, reason) VALUES (?, ?, ?, ?)",
            (digest, slot.isoformat(), when.isoformat(), reason),
        )

    def skipped_slots(self, digest: str) -> list[tuple[datetime, str]]:
        """(slot, reason) of every skipped slot of this digest, oldest first."""
        rows = self.db.execute("SELECT slot, reason FROM skipped_slots WHERE digest = ? ORDER BY slot", (digest,))
        return [(datetime.fromisoformat(slot), reason) for slot, reason in rows]

    def lock_holder(self, name: str) -> LockHolder | None:
        row = self.db.execute("SELECT pid, host, since FROM locks WHERE name = ?", (name,)).fetchone()
        return LockHolder(row[0], row[1], datetime.fromisoformat(row[2])) if row else None

    def take_lock(self, name: str, holder: LockHolder) -> None:
        """Record ``holder`` as the lock's owner, replacing an earlier one the caller found gone."""
        self.db.execute(
            "INSERT OR REPLACE INTO locks (name, pid, host, since) VALUES (?, ?, ?, ?)",
            (name, holder.pid, holder.host, holder.since.isoformat()),
        )

    def release_lock(self, name: str, holder: LockHolder) -> None:
        """Drop the lock if ``holder`` still owns it."""
        self.db.execute("DELETE FROM locks WHERE name = ? AND pid = ? AND host = ?", (name, holder.pid, holder.host))

    # the bounce mailbox: what each message did, recorded with its effect
    def mail_seen(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM mail_processed WHERE key = ?", (key,)).fetchone() is not None

    def record_mail(self, key: str, outcome: str, subscriber: int | None, detail: str, at: datetime) -> None:
        self.db.execute(
            "INSERT INTO mail_processed (key, outcome, subscriber, detail, at) VALUES (?, ?, ?, ?, ?)",
            (key, outcome, subscriber, detail, at.isoformat()),
        )

    def mail_times(self, subscriber: int, outcome: str, since: datetime, until: datetime) -> list[datetime]:
        """When this subscriber's messages with this outcome were dated, within [since, until], oldest first."""
        rows = self.db.execute(
            "SELECT at FROM mail_processed WHERE subscriber = ? AND outcome = ? AND at >= ? AND at <= ? ORDER BY at",
            (subscriber, outcome, since.isoformat(), until.isoformat()),
        )
        return [datetime.fromisoformat(at) for (at,) in rows]

    def mail_outcomes(self) -> dict[str, int]:
        """outcome -> how many messages of the bounce mailbox had it."""
        return dict(self.db.execute("SELECT outcome, count(*) FROM mail_processed GROUP BY outcome"))

    def mail_events(self, outcomes: Iterable[str]) -> dict[int, MailEvent]:
        """subscriber id -> their latest message with one of these outcomes."""
        wanted = list(outcomes)
        rows = self.db.execute(
            "SELECT m.subscriber, s.address, s.status, m.outcome, m.detail, m.at FROM mail_processed m"
            " JOIN subscribers s ON s.id = m.subscriber"
            f" WHERE m.outcome IN ({', '.join('?' * len(wanted))}) ORDER BY m.at, m.rowid",
            wanted,
        )
        return {row[0]: MailEvent(*row[:5], datetime.fromisoformat(row[5])) for row in rows}
