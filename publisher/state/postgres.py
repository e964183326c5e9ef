"""The shared engine: a PostgreSQL database that several hosts use at once.

psycopg is imported here only, and this module only when a postgresql:// URL is
used: a publish on SQLite never loads the driver. Write transactions take one
advisory lock (per schema), so they run one at a time as SQLite's do and every
read-then-write keeps its meaning; outbox claims take row locks instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import StateBusy, StateError
from .database import POSTGRES, Database
from .migrations import migrate

BUSY_SECONDS = 10.0  # how long a write waits for another process's transaction before saying so
INSTALL = "pip install 'publisher[postgres]'"


def redacted(url: str) -> str:
    """The URL as messages show it: without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{host}"))


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError(f"a postgresql:// state database needs the psycopg driver: {INSTALL}") from None
    return psycopg


def state_error(label: str, exc: Exception) -> StateError:
    """One line for a failed database operation, naming the database (never its password)."""
    psycopg = _driver()
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return StateBusy(f"another publisher process holds {label}; try again when it ends")
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return StateError(f"cannot reach state database {label}: {detail}; expected a running PostgreSQL server")
    return StateError(f"state database {label}: {detail}")


def _read_version(db: Database) -> int:
    # pg_class read through this statement's snapshot: a catalog cache may not yet know of a table
    # another process created while this one waited for the migration lock.
    exists = db.value(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relname = 'schema_version'"
    )
    if not exists:
        return 0
    return int(db.value("SELECT coalesce(max(version), 0) FROM schema_version"))


def _write_version(db: Database, version: int) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    db.execute("DELETE FROM schema_version")
    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))


def lock_key(name: str) -> str:
    """SQL for an advisory lock's key: the name within this schema, so two sites sharing a database never meet."""
    return f"hashtext(current_schema() || ':{name}')"


def _write_lock(timeout: float) -> Any:
    def take(db: Database) -> None:
        db.execute(
            f"SET LOCAL lock_timeout = '{int(timeout * 1000):d}ms'" if timeout > 0 else "SET LOCAL lock_timeout = 1"
        )
        db.execute(f"SELECT pg_advisory_xact_lock({lock_key('write')})")

    return take


def open_postgres(url: str, timeout: float | None = None) -> Database:
    """The database at ``url``, migrated (one process at a time; the others wait, then find it done)."""
    psycopg = _driver()
    from psycopg.rows import dict_row

    label = redacted(url)
    try:
        connection = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    except psycopg.Error as exc:
        raise state_error(label, exc) from None
    wait = BUSY_SECONDS if timeout is None else timeout
    db = Database(connection, POSTGRES, label, psycopg.Error, lambda exc: state_error(label, exc), _write_lock(wait))
    try:
        migrate(db, _read_version, _write_version)
    except BaseException:
        db.close()
        raise
    return db


def problems(db: Database) -> list[str]:
    """What a check of the database finds: the schema version and that every table reads."""
    from .schema import VERSION

    found = [] if _read_version(db) == VERSION else [f"schema version {_read_version(db)}, expected {VERSION}"]
    for row in db.rows("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"):
        db.value(f'SELECT count(*) FROM "{row["tablename"]}"')  # reads every page of the table
    return found
