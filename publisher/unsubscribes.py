"""Unsubscribes go to a small SQLite file of their own first, then into the state database.

A publish can hold the state database's write lock for minutes; a reader's
one-click unsubscribe must neither wait for it nor be lost. So an unsubscribe
is first written to <state>-unsubscribes.db, which only ever sees short
transactions, and reaches the subscribers table at once when the state
database is free, else at the next chance: the web app's mailer thread, and
always before a digest is frozen or sent.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from .errors import StateError
from .model import Subscriber
from .store import Store

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS unsubscribes"
    " (id INTEGER PRIMARY KEY, subscriber INTEGER NOT NULL, address TEXT NOT NULL, at TEXT NOT NULL)"
)


def journal_path(state: Path) -> Path:
    """Beside the state file, named after it: back both up together."""
    return state.with_name(f"{state.stem}-unsubscribes.db")


def _journal(state: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    """One statement on the journal over a connection of its own; an error is a one-line StateError."""
    path = journal_path(state)
    try:
        path.touch(mode=0o600)  # subscriber addresses: readable by the owner only, like the state file
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            db.execute(_SCHEMA)
            return db.execute(sql, params).fetchall()
        finally:
            db.close()
    except OSError as exc:
        raise StateError(f"unsubscribe journal {path}: {exc.strerror}") from exc
    except sqlite3.Error as exc:
        raise StateError(f"unsubscribe journal {path}: {exc}") from exc


def record_unsubscribe(state: Path, subscriber: Subscriber, at: datetime) -> None:
    """Write down that this subscriber unsubscribed at ``at``; never waits for the state database."""
    _journal(
        state,
        "INSERT INTO unsubscribes (subscriber, address, at) VALUES (?, ?, ?)",
        (subscriber.id, subscriber.address, at.isoformat()),
    )


def apply_unsubscribes(store: Store) -> int:
    """Mark every recorded unsubscribe in the state database, then forget it; returns how many changed.

    Applying twice changes nothing more (a crash between the two steps loses nothing). An entry is
    skipped when its id now belongs to another address, or the reader confirmed a new sign-up since.
    """
    if not journal_path(store.path).exists():
        return 0
    rows = _journal(store.path, "SELECT id, subscriber, address, at FROM unsubscribes ORDER BY id")
    if not rows:
        return 0
    changed = 0
    with store.transaction():
        for _id, subscriber_id, address, at in rows:
            now = store.subscriber_by_id(subscriber_id)
            if now is None or now.address.lower() != address.lower() or now.status not in ("active", "pending"):
                continue
            if now.confirmed is not None and now.confirmed > datetime.fromisoformat(at):
                continue
            store.set_subscriber_status(subscriber_id, "unsubscribed")
            changed += 1
    _journal(store.path, "DELETE FROM unsubscribes WHERE id <= ?", (rows[-1][0],))
    return changed


def apply_if_free(state: Path) -> None:
    """Apply recorded unsubscribes now unless another process holds the state database (then: later)."""
    with Store(state, timeout=0) as store:
        try:
            apply_unsubscribes(store)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
