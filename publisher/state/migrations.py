"""The race-free migration that brings a state database of either engine up to schema.VERSION."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from ..errors import StateError
from .database import SQLITE, Database
from .schema import POSTGRES_BASELINE, SHARED, SQLITE_HISTORY, VERSION


def steps(dialect_name: str, version: int) -> list[str]:
    """The scripts that take a database of this engine from ``version`` to VERSION."""
    if version > VERSION:
        raise StateError(f"state database is schema version {version}, newer than this publisher ({VERSION}); upgrade")
    if dialect_name == SQLITE.name:
        history = list(SQLITE_HISTORY[version:])
    else:
        history = [POSTGRES_BASELINE] if version < len(SQLITE_HISTORY) else []
    return history + list(SHARED[max(0, version - len(SQLITE_HISTORY)) :])


def statements(script: str) -> Iterator[str]:
    """A script's statements one by one: executescript would commit the open transaction."""
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement
            statement = ""


def migrate(
    db: Database, read_version: Callable[[Database], int], write_version: Callable[[Database, int], None]
) -> None:
    """Bring the schema up to date. The version is read again inside the write transaction (one
    writer at a time): another process may have migrated the database while this one waited."""
    if read_version(db) == VERSION:
        return
    with db.transaction():
        version = read_version(db)
        for script in steps(db.dialect.name, version):
            for statement in statements(script):
                db.execute(statement)
        if version != VERSION:
            write_version(db, VERSION)
