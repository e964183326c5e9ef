"""The state: content index, ledgers, subscribers, digest runs, sign-ups, locks; on SQLite or PostgreSQL.

``open_state`` opens the database the configuration names ([state] path, or
[state] url / PUBLISHER_DATABASE_URL for PostgreSQL) and hands back a State:
one repository per aggregate over one connection, used as a context manager.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Protocol

from ..errors import StateError
from .claims import OutboxClaims
from .content import POST_FORMAT, CachedFile, ContentIndex, Meta
from .database import SQLITE, Database
from .ledgers import FeedLedger, FeedRecord, PublishLedger
from .locks import LockHolder, Locks
from .mail import MailEvent, MailRecords
from .members import FeedMembers
from .pace import SendPace
from .runs import DigestRuns, OutboxItem, RunSummary, Waiting
from .signups import Confirmations, QueuedConfirmation, Signups
from .subscribers import Subscribers
from .unsubscribe_queue import UnsubscribeQueue
from .websub import WebSubPings
from .webtags import WebTags

__all__ = [
    "POST_FORMAT",
    "URL_ENV",
    "CachedFile",
    "FeedRecord",
    "LockHolder",
    "MailEvent",
    "OutboxItem",
    "QueuedConfirmation",
    "RunSummary",
    "State",
    "Waiting",
    "database_url",
    "open_postgres_url",
    "open_state",
]

URL_ENV = "PUBLISHER_DATABASE_URL"  # wins over [state] url: a password never needs to sit in config.toml


class Where(Protocol):
    """What the configuration says of the state ([state] path and url): config.StateConfig."""

    @property
    def path(self) -> Path: ...

    @property
    def url(self) -> str | None: ...


class State:
    """One connection to the state database and a repository per aggregate; use as a context manager."""

    def __init__(self, db: Database, path: Path, url: str | None) -> None:
        self.db = db
        self.path = path  # the SQLite file ([state] path): on PostgreSQL, only where sibling files go
        self.url = url
        self.label = db.label  # the file, or the URL without its password
        self.meta = Meta(db)
        self.content = ContentIndex(db)
        self.feeds = FeedLedger(db)
        self.published = PublishLedger(db)
        self.subscribers = Subscribers(db)
        self.runs = DigestRuns(db)
        self.claims = OutboxClaims(db)
        self.pace = SendPace(db)
        self.signups = Signups(db)
        self.confirmations = Confirmations(db)
        self.mail = MailRecords(db)
        self.locks = Locks(db)
        self.unsubscribes = UnsubscribeQueue(db, path if db.dialect is SQLITE else None)
        self.websub = WebSubPings(db)
        self.web_tags = WebTags(db)
        self.members = FeedMembers(db)

    @property
    def is_sqlite(self) -> bool:
        return self.db.dialect is SQLITE

    def reopen(self, *, timeout: float | None = None) -> State:
        """Another connection to the same database (``timeout``: how long its writes wait)."""
        return _open(self.path, self.url, timeout)

    @contextmanager
    def transaction(self, *, row_locks: bool = False) -> Iterator[None]:
        """One atomic unit of work, one writer at a time: committed together or not at all
        (``row_locks``: work on rows that lock themselves, see Database.transaction)."""
        with self.db.transaction(row_locks=row_locks):
            yield

    def problems(self, *, quick: bool = False) -> list[str]:
        """What a check of the database finds wrong (SQLite: its integrity check)."""
        if self.is_sqlite:
            from .sqlite import problems

            return problems(self.db, quick=quick)
        from .postgres import problems as postgres_problems

        return postgres_problems(self.db)

    def backup(self, target: Path) -> list[Path]:
        """A consistent copy of the SQLite file, taken while others may use it, and of the unsubscribe
        journal beside it (unsubscribes not yet applied live only there); returns the files written."""
        if not self.is_sqlite:
            raise StateError(f"'publisher db backup' copies a SQLite state file; back up {self.label} with pg_dump")
        from .sqlite import backup
        from .unsubscribe_queue import journal_path

        for path in (target, journal_path(target)):
            if path.exists():
                raise StateError(f"{path} already exists; expected the name of a new file")
        backup(self.db, target)
        journal = self.unsubscribes.back_up_beside(target)
        return [target] if journal is None else [target, journal]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def database_url(configured: str | None) -> str | None:
    """The PostgreSQL URL in use: PUBLISHER_DATABASE_URL, else [state] url, else None (SQLite)."""
    return os.environ.get(URL_ENV) or configured or None


def _open(path: Path, url: str | None, timeout: float | None) -> State:
    if url is None:
        from .sqlite import open_sqlite

        return State(open_sqlite(path, timeout), path, None)
    if not url.startswith(("postgresql://", "postgres://")):
        raise StateError(f"state database URL {url.split('@')[-1]!r}: expected postgresql://user@host/dbname")
    from .postgres import open_postgres

    return State(open_postgres(url, timeout), path, url)


def open_postgres_url(url: str, beside: Path) -> State:
    """The PostgreSQL database at ``url`` itself, whatever PUBLISHER_DATABASE_URL says (``beside``: [state] path)."""
    return _open(beside, url, None)


def open_state(where: Where | Path, *, timeout: float | None = None) -> State:
    """The configured state database: PostgreSQL when a URL is set (PUBLISHER_DATABASE_URL wins), else the
    SQLite file; a Path is that SQLite file. ``timeout``: seconds a write waits for another process's
    transaction before a one-line StateBusy."""
    if isinstance(where, Path):
        return _open(where, None, timeout)
    return _open(where.path, database_url(where.url), timeout)
