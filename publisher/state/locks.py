"""Named locks: who holds each (pid, host, since) and, on PostgreSQL, the advisory lock that is the lock itself.

On SQLite the row is the lock, and a holder on this host that is gone is taken
over. On PostgreSQL a session advisory lock is held beside the row: the server
releases it when the holder's connection ends, even on another host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .database import POSTGRES, Database


@dataclass(frozen=True)
class LockHolder:
    """The process holding a named lock, as it recorded itself."""

    pid: int
    host: str
    since: datetime

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.since:%Y-%m-%d %H:%M:%S %Z}"


class Locks:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def held_by_server(self) -> bool:
        """Whether the server keeps the lock (and frees it when its holder disconnects)."""
        return self.db.dialect is POSTGRES

    def try_server_lock(self, name: str) -> bool:
        """Take the server's lock ``name`` for this connection, unless another connection holds it."""
        key = "hashtext(current_schema() || ':lock:' || ?)"
        return bool(self.db.value(f"SELECT pg_try_advisory_lock({key})", (name,)))

    def release_server_lock(self, name: str) -> None:
        self.db.value("SELECT pg_advisory_unlock(hashtext(current_schema() || ':lock:' || ?))", (name,))

    def holder(self, name: str) -> LockHolder | None:
        row = self.db.row("SELECT pid, host, since FROM locks WHERE name = ?", (name,))
        return LockHolder(row["pid"], row["host"], datetime.fromisoformat(row["since"])) if row else None

    def take(self, name: str, holder: LockHolder) -> None:
        """Record ``holder`` as the lock's owner, replacing an earlier one the caller found gone."""
        self.db.execute(
            "INSERT INTO locks (name, pid, host, since) VALUES (?, ?, ?, ?) ON CONFLICT (name)"
            " DO UPDATE SET pid = excluded.pid, host = excluded.host, since = excluded.since",
            (name, holder.pid, holder.host, holder.since.isoformat()),
        )

    def release(self, name: str, holder: LockHolder) -> None:
        """Drop the lock if ``holder`` still owns it."""
        self.db.execute("DELETE FROM locks WHERE name = ? AND pid = ? AND host = ?", (name, holder.pid, holder.host))
