"""Unsubscribes waiting to reach the subscribers table.

On SQLite they wait in a small file of their own, <state>-unsubscribes.db, which
only ever sees short transactions: a publish holding the state file's write lock
never makes a reader's unsubscribe wait. On PostgreSQL they wait in a table of the
same database: a plain insert takes no lock a publish holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import StateError
from .database import SQLITE, Database

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS unsubscribes"
    " (id INTEGER PRIMARY KEY, subscriber INTEGER NOT NULL, address TEXT NOT NULL, at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class QueuedUnsubscribe:
    id: int
    subscriber: int
    address: str
    at: datetime


def journal_path(state: Path) -> Path:
    """Beside the state file, named after it: back both up together."""
    return state.with_name(f"{state.stem}-unsubscribes.db")


@contextmanager
def _journal(state: Path) -> Iterator[Database]:
    """The journal over a connection of its own; an error is a one-line StateError naming it."""
    path = journal_path(state)

    def translate(exc: Exception) -> StateError:
        return StateError(f"unsubscribe journal {path}: {exc}")

    try:
        path.touch(mode=0o600)  # subscriber addresses: readable by the owner only, like the state file
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    except OSError as exc:
        raise StateError(f"unsubscribe journal {path}: {exc.strerror}") from exc
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    connection.row_factory = sqlite3.Row
    db = Database(connection, SQLITE, str(path), sqlite3.Error, translate)
    try:
        db.execute(_SCHEMA)
        yield db
    finally:
        db.close()


@contextmanager
def _same(db: Database) -> Iterator[Database]:
    yield db


class UnsubscribeQueue:
    def __init__(self, db: Database, state_file: Path | None) -> None:
        """``state_file``: the SQLite state file the journal sits beside (None: the queue is a table of ``db``)."""
        self._state_file = state_file
        self._connect: Callable[[], AbstractContextManager[Database]] = (
            (lambda: _journal(state_file)) if state_file is not None else (lambda: _same(db))
        )

    def record(self, subscriber: int, address: str, at: datetime) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO unsubscribes (subscriber, address, at) VALUES (?, ?, ?)",
                (subscriber, address, at.isoformat()),
            )

    def waiting(self) -> list[QueuedUnsubscribe]:
        """Every recorded unsubscribe, oldest first."""
        if self._state_file is not None and not journal_path(self._state_file).exists():
            return []
        with self._connect() as db:
            rows = db.rows("SELECT id, subscriber, address, at FROM unsubscribes ORDER BY id")
        return [
            QueuedUnsubscribe(r["id"], r["subscriber"], r["address"], datetime.fromisoformat(r["at"])) for r in rows
        ]

    def back_up_beside(self, target: Path) -> Path | None:
        """Copy the SQLite journal beside a state backup at ``target``, so that restoring the pair loses no
        unsubscribe; returns the copy, or None when there is no journal (or the queue is a table of ``db``)."""
        if self._state_file is None or not journal_path(self._state_file).exists():
            return None
        from .sqlite import backup

        copy = journal_path(target)
        with self._connect() as db:
            backup(db, copy)
        return copy

    def forget_through(self, last: int) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM unsubscribes WHERE id <= ?", (last,))
