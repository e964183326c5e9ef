"""`publisher subscribers ...`: add, remove, list, import and export the readers of the digests."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from ..config import Config
from ..model import Subscriber, SubscriberStatus
from ..state import open_state
from .base import Context, main, pass_context


@main.group()
def subscribers() -> None:
    """Manage who receives the e-mail digests."""


@subscribers.command("add")
@click.argument("address")
@click.option("--name", default="", help="Display name used in the To: header and the greeting.")
@click.option("--tag", "tags", multiple=True, help="A tag to follow (repeat the option); none: every tag.")
@click.option("--pending", is_flag=True, help="Add unconfirmed: a pending subscriber receives nothing yet.")
@pass_context
def subscribers_add(obj: Context, address: str, name: str, tags: tuple[str, ...], pending: bool) -> None:
    """Add a subscriber (active unless --pending)."""
    from ..subscribers import add_subscriber

    config = obj.config()
    slugs = tuple(config.tags.slug(t) for t in tags if t.strip())  # a slug the site pins, else the name's own
    with open_state(config.state) as store:
        added = add_subscriber(
            store,
            address,
            name,
            slugs,
            datetime.now(UTC),
            SubscriberStatus.PENDING if pending else SubscriberStatus.ACTIVE,
        )
    click.echo(f"added {added.address} ({added.status}; tags: {', '.join(added.tags or ['all'])})")
    _warn_unknown_tags(config, [added])


def _warn_unknown_tags(config: Config, added: list[Subscriber]) -> None:
    """A tag that no published post has gets its reader nothing: say so, with the close matches."""
    from ..publish import indexed_posts
    from ..subscribers import unknown_tags

    for warning in unknown_tags(added, indexed_posts(config, datetime.now(UTC))):
        click.echo(f"warning: {warning}", err=True)


@subscribers.command("remove")
@click.argument("address")
@pass_context
def subscribers_remove(obj: Context, address: str) -> None:
    """Forget a subscriber: address, tags and what they have received."""
    from ..subscribers import remove_subscriber

    with open_state(obj.config().state) as store:
        removed = remove_subscriber(store, address)
    click.echo(f"removed {removed.address}")


@subscribers.command("list")
@pass_context
def subscribers_list(obj: Context) -> None:
    """One line per subscriber: address, status, tags, name (and why a bounce or complaint stopped them)."""
    from ..bounces import subscriber_notes

    with open_state(obj.config().state) as store:
        notes = subscriber_notes(store)
        for s in store.subscribers.all():
            note = f"\t{notes[s.id]}" if s.id in notes else ""
            click.echo(f"{s.address}\t{s.status}\t{','.join(s.tags or ['all'])}\t{s.name}{note}")


@subscribers.command("import")
@click.argument("csv_file", metavar="CSV", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def subscribers_import(obj: Context, csv_file: Path) -> None:
    """Add subscribers from a CSV file with an 'address' column (and name, tags, status, ...)."""
    from ..subscribers import import_csv

    config = obj.config()
    with open_state(config.state) as store:
        report = import_csv(store, csv_file, datetime.now(UTC))
    click.echo(f"{report.added} added, {report.already} already subscribed")
    _warn_unknown_tags(config, report.subscribers)


@subscribers.command("export")
@pass_context
def subscribers_export(obj: Context) -> None:
    """Write every subscriber as CSV to standard output, in the format 'import' reads."""
    from ..subscribers import export_csv

    with open_state(obj.config().state) as store:
        export_csv(store.subscribers.all(), sys.stdout)
