"""The embedded engine: one private SQLite file, created whole, checked, backed up, moved aside."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

from ..errors import StateBusy, StateError
from .database import SQLITE, Database
from .migrations import migrate

BUSY_SECONDS = 10.0  # how long a write waits for another process's transaction before saying so
PRIVATE_FOLDER = 0o700  # the state file lists every subscriber's address: for its owner's eyes only
_LOW_SPACE = 1 << 20  # bytes free below which a disk I/O error is taken to be a full disk


def state_error(path: Path, exc: Exception) -> StateError:
    """One line for a failed database operation: what went wrong with which file, and what to do."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StateBusy(f"another publisher process holds {path}; try again when it ends")
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _disk_full(path)):
        return StateError(f"the disk holding {path} is full; free some space and run again (nothing was changed)")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return damaged(path, str(exc))
    if code == sqlite3.SQLITE_READONLY:
        return StateError(f"state database {path} cannot be written ({exc}); expected a writable file and folder")
    return StateError(f"state database {path}: {exc}")


def damaged(path: Path | str, detail: str) -> StateError:
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


def _read_version(db: Database) -> int:
    return int(db.value("PRAGMA user_version"))


def _write_version(db: Database, version: int) -> None:
    db.execute(f"PRAGMA user_version = {version:d}")


def _wrap(connection: sqlite3.Connection, path: Path) -> Database:
    connection.row_factory = sqlite3.Row
    return Database(connection, SQLITE, str(path), sqlite3.Error, lambda exc: state_error(path, exc))


def _create(path: Path) -> None:
    """A new state file appears complete or not at all, readable by its owner only.

    Another process never sees it empty: an empty state file is one that lost its data.
    """
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")  # mode 0600
    os.close(fd)
    try:
        db = _wrap(sqlite3.connect(tmp, isolation_level=None), path)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file: later opens need no exclusive lock
            migrate(db, _read_version, _write_version)
        finally:
            db.close()
        os.link(tmp, path)  # its name, unless another process gave it one first
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        Path(tmp).unlink(missing_ok=True)


def open_sqlite(path: Path, timeout: float | None = None) -> Database:
    """The state file at ``path``, created if missing, migrated; refused when empty or damaged.

    ``timeout``: seconds a write waits for another process's transaction (BUSY_SECONDS).
    """
    connection: sqlite3.Connection | None = None
    try:
        if not path.exists():
            _create(path)
        if path.stat().st_size == 0:
            raise StateError(
                f"state database {path} is empty (0 bytes): its data was lost; restore a backup, "
                "or run 'publisher db reset' to move it aside and start with no subscribers"
            )
        wait = BUSY_SECONDS if timeout is None else timeout
        connection = sqlite3.connect(path, isolation_level=None, timeout=wait)
        db = _wrap(connection, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db, _read_version, _write_version)
        return db
    except BaseException as exc:
        if connection is not None:
            connection.close()
        if isinstance(exc, sqlite3.Error):
            raise state_error(path, exc) from None
        if isinstance(exc, OSError):
            raise StateError(f"state database {path}: {exc.strerror}") from None
        raise


def problems(db: Database, *, quick: bool = False) -> list[str]:
    """What SQLite's integrity check finds wrong with the file (quick: without checking indexes)."""
    found = [row[0] for row in db.rows("PRAGMA quick_check" if quick else "PRAGMA integrity_check")]  # type: ignore[index]
    return [] if found == ["ok"] else found


def backup(db: Database, target: Path) -> None:
    """A consistent copy of the database taken while others may use it (SQLite's online backup)."""
    target.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new")  # mode 0600
    os.close(fd)
    try:
        copy = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.connection.backup(copy)  # type: ignore[attr-defined]
        finally:
            copy.close()
        os.link(tmp, target)  # never over an existing file
    finally:
        Path(tmp).unlink(missing_ok=True)


def move_aside(path: Path, when: datetime) -> Path:
    """Rename a damaged state file (and its write-ahead log) out of the way, keeping it whole,
    so that the next open starts a new one; refuses a file that passes the integrity check."""
    try:
        db = open_sqlite(path)
    except StateError:
        pass  # empty, not a database, or too damaged to open
    else:
        try:
            found = problems(db)
        except StateError:
            found = ["unreadable"]
        finally:
            db.close()
        if not found:
            raise StateError(f"state database {path} passes the integrity check; nothing to reset")
    aside = path.with_name(f"{path.name}.damaged-{when:%Y%m%dT%H%M%S}")
    for suffix in ("-wal", ""):
        if Path(f"{path}{suffix}").exists():
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
    Path(f"{path}-shm").unlink(missing_ok=True)  # an index of the log, rebuilt from it
    return aside
