"""One connection to the state database, whichever engine holds it.

Every repository writes its SQL once, with ``?`` placeholders and syntax both
engines share (ON CONFLICT … DO UPDATE/NOTHING, RETURNING, CASE for GREATEST);
the few places where the engines differ are the Dialect's. Rows are read by
column name. A driver error leaves every method as a one-line StateError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import StateError

Params = Sequence[object]


class Row(Protocol):
    """A result row: sqlite3.Row or psycopg's dict row, both read by column name."""

    def __getitem__(self, key: str) -> Any: ...


class Connection(Protocol):
    """What we use of a DB-API connection (sqlite3 or psycopg, in autocommit mode)."""

    def execute(self, sql: str, params: Params = ...) -> Any: ...

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """Where SQLite and PostgreSQL differ, as the repositories see it."""

    name: str  # "sqlite" or "postgresql"
    placeholder: str  # how the driver spells a parameter
    begin: str  # starts a write transaction
    nocase: Callable[[str], str]  # an expression comparing a column case-insensitively to a parameter
    insertion_order: str  # a column of mail_processed that grows with each insert
    skip_locked: str  # ends a SELECT of rows to claim: rows another transaction holds are passed over


def _sqlite_nocase(column: str) -> str:
    return f"{column} = ?"  # the column is declared COLLATE NOCASE: its index serves the lookup


def _postgres_nocase(column: str) -> str:
    return f"lower({column}) = lower(?)"  # served by an index on lower(column)


SQLITE = Dialect("sqlite", "?", "BEGIN IMMEDIATE", _sqlite_nocase, "rowid", "")  # one writer: nothing to skip
POSTGRES = Dialect("postgresql", "%s", "BEGIN", _postgres_nocase, "seq", " FOR UPDATE SKIP LOCKED")


@functools.lru_cache(maxsize=512)
def _for_postgres(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Database:
    """A connection and its dialect; ``translate`` turns a driver error into a one-line StateError.

    ``write_lock`` runs at the start of every write transaction (after ``begin``): on PostgreSQL it
    takes the advisory lock that makes write transactions one at a time, as SQLite's are.
    """

    def __init__(
        self,
        connection: Connection,
        dialect: Dialect,
        label: str,
        driver_error: type[Exception],
        translate: Callable[[Exception], StateError],
        write_lock: Callable[[Database], None] | None = None,
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        self.label = label  # the file or the URL without its password, for messages
        self._driver_error = driver_error
        self._translate = translate
        self._write_lock = write_lock
        self.in_transaction = False

    def _run(self, sql: str, params: Params) -> Any:
        try:
            if not params:  # no placeholders to translate: the SQL as written (psycopg then leaves % alone)
                return self.connection.execute(sql)
            return self.connection.execute(sql if self.dialect is SQLITE else _for_postgres(sql), params)
        except self._driver_error as exc:
            raise self._translate(exc) from None

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; how many rows it changed."""
        rowcount: int = self._run(sql, params).rowcount
        return rowcount

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            rows: list[Row] = self._run(sql, params).fetchall()
        except self._driver_error as exc:
            raise self._translate(exc) from None
        return rows

    def row(self, sql: str, params: Params = ()) -> Row | None:
        try:
            row: Row | None = self._run(sql, params).fetchone()
        except self._driver_error as exc:
            raise self._translate(exc) from None
        return row

    def tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Rows as plain tuples, in the order of the columns: many rows read and unpacked several times
        faster than rows read by column name."""
        cursor = self.connection.cursor()
        if self.dialect is SQLITE:
            cursor.row_factory = None
        else:
            from psycopg.rows import tuple_row  # only ever reached with psycopg loaded

            cursor.row_factory = tuple_row
        try:
            rows: list[tuple[Any, ...]] = cursor.execute(
                sql if self.dialect is SQLITE else _for_postgres(sql), params
            ).fetchall()
        except self._driver_error as exc:
            raise self._translate(exc) from None
        finally:
            cursor.close()
        return rows

    def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (None: no row)."""
        row = self.row(sql, params)
        if row is None:
            return None
        return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index]

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT … RETURNING id; the new row's id."""
        return int(self.value(sql + " RETURNING id", params))

    def many(self, sql: str, rows: Iterable[Params]) -> None:
        cursor = self.connection.cursor()
        try:
            cursor.executemany(sql if self.dialect is SQLITE else _for_postgres(sql), rows)
        except self._driver_error as exc:
            raise self._translate(exc) from None
        finally:
            cursor.close()

    def copy_in(self, table: str, columns: tuple[str, ...], rows: Iterable[Params]) -> None:
        """Many new rows at once: PostgreSQL's COPY (one stream, no statement per row), else executemany."""
        if self.dialect is SQLITE:
            marks = ", ".join("?" * len(columns))
            self.many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        cursor = self.connection.cursor()
        try:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except self._driver_error as exc:
            raise self._translate(exc) from None
        finally:
            cursor.close()

    @contextmanager
    def transaction(self, *, row_locks: bool = False) -> Iterator[None]:
        """One atomic unit of work, one writer at a time: committed together or not at all.

        ``row_locks``: the work locks the rows it changes itself (``skip_locked``), so on PostgreSQL
        it does not take the write lock and many such transactions run side by side.
        """
        self._run(self.dialect.begin, ())
        self.in_transaction = True
        try:
            if self._write_lock is not None and not row_locks:
                self._write_lock(self)
            yield
        except BaseException:
            self.in_transaction = False
            self._rollback()
            raise
        self.in_transaction = False
        self._run("COMMIT", ())

    def _rollback(self) -> None:
        with suppress(self._driver_error):  # SQLite already rolled back (a full disk, say), or the connection is gone
            self.connection.execute("ROLLBACK")

    def close(self) -> None:
        self.connection.close()
