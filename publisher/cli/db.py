"""`publisher db ...`: check, back up, reset or copy the state database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ..errors import StateError
from ..state import open_state
from ..state.sqlite import damaged
from .base import Context, main, pass_context


@main.group("db")
def db_group() -> None:
    """Check, back up, reset or copy the state database (subscribers, outbox, publish ledger)."""


@db_group.command("check")
@pass_context
def db_check(obj: Context) -> None:
    """Run SQLite's full integrity check on the state file; on PostgreSQL, check the schema and read every table."""
    with open_state(obj.config().state) as store:
        problems, path, sqlite = store.problems(), store.label, store.is_sqlite
    for problem in problems[1:]:
        click.echo(f"error: {path}: {problem}", err=True)
    if problems:
        raise damaged(path, problems[0]) if sqlite else StateError(f"state database {path}: {problems[0]}")
    click.echo(f"{path}: ok")


@db_group.command("backup")
@click.argument("target", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def db_backup(obj: Context, target: Path) -> None:
    """Copy the SQLite state file to PATH (a new file), safely while other commands use it."""
    with open_state(obj.config().state) as store:
        written = store.backup(target)
    click.echo(f"backed up {store.label} to {' and '.join(map(str, written))}")


@db_group.command("reset")
@pass_context
def db_reset(obj: Context) -> None:
    """Move an empty or damaged SQLite state file aside and start a new, empty one."""
    from ..state import database_url
    from ..state.postgres import redacted
    from ..state.sqlite import move_aside

    config = obj.config().state
    if url := database_url(config.url):
        raise StateError(f"'publisher db reset' moves a damaged SQLite file aside; restore {redacted(url)} from a dump")
    path = config.path
    aside = move_aside(path, datetime.now(UTC))
    open_state(path).close()
    click.echo(f"moved {path} to {aside}; started a new state database with no subscribers")


@db_group.command("copy")
@click.option(
    "--to", "url", required=True, metavar="URL", help="An empty PostgreSQL database: postgresql://user@host/dbname"
)
@pass_context
def db_copy(obj: Context, url: str) -> None:
    """Copy every table of the SQLite state file into an empty PostgreSQL database and check the counts."""
    from ..state import open_postgres_url
    from ..state.copy import copy_state
    from ..state.postgres import redacted

    path = obj.config().state.path
    if not path.exists():
        raise StateError(f"no state file at {path} to copy; expected the SQLite state of this site")
    if not url.startswith(("postgresql://", "postgres://")):
        raise StateError(f"--to {redacted(url)!r}: expected postgresql://user@host/dbname")
    with open_state(path) as source, open_postgres_url(url, path) as target:
        counts = copy_state(source, target)
    click.echo(f"copied {path} to {redacted(url)}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    click.echo(f"set [state] url, or PUBLISHER_DATABASE_URL, to {redacted(url)} to use it")
