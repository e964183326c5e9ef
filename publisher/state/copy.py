"""Moving up: every table of a SQLite state file copied into an empty PostgreSQL database, counts verified."""

from __future__ import annotations

from ..errors import StateError
from . import State

# Parents before the tables that point at them; (table, its identity column or None).
TABLES: tuple[tuple[str, str | None], ...] = (
    ("meta", None),
    ("files", None),
    ("feeds", None),
    ("published", "seq"),
    ("subscribers", "id"),
    ("watermarks", None),
    ("subscriber_digests", None),
    ("digest_runs", "id"),
    ("run_posts", None),
    ("run_bodies", "id"),
    ("outbox", "id"),
    ("signups", None),
    ("skipped_slots", None),
    ("locks", None),
    ("mail_processed", None),
    ("confirmations", "id"),
    ("websub_pings", None),
    ("web_tags", None),
    ("feed_docs", None),
    ("feed_posts", None),
)
_BATCH = 5000


def _count(state: State, table: str) -> int:
    return int(state.db.value(f"SELECT count(*) FROM {table}"))


def _columns(source: State, table: str) -> list[str]:
    return [row["name"] for row in source.db.rows(f"PRAGMA table_info({table})")]


def _copy_table(source: State, target: State, table: str, identity: str | None) -> None:
    columns = _columns(source, table)
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    rows = source.db.rows(f"SELECT {names} FROM {table} ORDER BY rowid")  # rowid: mail_processed's order
    for start in range(0, len(rows), _BATCH):
        target.db.many(insert, (tuple(row[c] for c in columns) for row in rows[start : start + _BATCH]))
    if identity is not None and rows:  # the next new row continues after the copied ones
        target.db.value(f"SELECT setval(pg_get_serial_sequence('{table}', '{identity}'), max({identity})) FROM {table}")


def copy_state(source: State, target: State) -> dict[str, int]:
    """Copy every table of ``source`` (SQLite) into ``target`` (an empty PostgreSQL database), in one
    transaction, then compare the row counts; table -> rows copied."""
    if not source.is_sqlite or target.is_sqlite:
        raise StateError(f"'publisher db copy' copies a SQLite state file into PostgreSQL, not into {target.label}")
    for table, _ in TABLES:
        if rows := _count(target, table):
            raise StateError(
                f"{target.label} already holds state ({table}: {rows} rows); expected an empty database, nothing copied"
            )
    waiting = source.unsubscribes.waiting()  # on SQLite a file of their own; in PostgreSQL a table
    with target.transaction():
        for table, identity in TABLES:
            _copy_table(source, target, table, identity)
        for entry in waiting:
            target.unsubscribes.record(entry.subscriber, entry.address, entry.at)
    counts = {table: _count(source, table) for table, _ in TABLES}
    for table, expected in counts.items():
        if (copied := _count(target, table)) != expected:
            raise StateError(f"copy to {target.label}: {table} has {copied} rows, expected {expected}")
    counts["unsubscribes"] = len(waiting)
    return counts
