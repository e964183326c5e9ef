"""Command line: parse, call, print. Errors become one line on stderr and an exit code.

Commands import the modules they need inside themselves, so that `publisher publish`
(run every minute by cron or `publisher run`) does not pay for Jinja, e-mail and Flask.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from .config import CONFIG_NAME, Config, load_config
from .errors import ConfigError, ContentError, PublisherError, StateError
from .model import Subscriber
from .publish import Progress, publish
from .scaffold import init_site
from .state import open_state
from .state.sqlite import damaged


def find_config(site: Path | None, config: Path | None) -> Path:
    """--config wins, then --site, then the nearest config.toml from here upwards."""
    if config is not None:
        return config
    if site is not None:
        return site / CONFIG_NAME
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    raise ConfigError(f"config: no {CONFIG_NAME} here or above {here}; use --site DIR or run 'publisher init'")


def plural(count: int, noun: str) -> str:
    """``1 post``, ``2 posts``; ``scheduled`` is the same for any count."""
    return f"{count} {noun}" if count == 1 or noun == "scheduled" else f"{count} {noun}s"


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def in_future(now: datetime) -> bool:
    """A --now later than the clock: a look ahead, which must not record or send anything."""
    return now > datetime.now(UTC)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on a terminal; nothing at all when output is piped or quiet."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    with RichProgress(console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield update


class Context:
    def __init__(self, site: Path | None, config: Path | None) -> None:
        self.site = site
        self.config_path = config

    def config(self) -> Config:
        return load_config(find_config(self.site, self.config_path))


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option("--site", type=click.Path(file_okay=False, path_type=Path), help="Site folder (holds config.toml).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="Path of the config.toml to use.")
@click.version_option(package_name="publisher")
@click.pass_context
def main(ctx: click.Context, site: Path | None, config: Path | None) -> None:
    """Publish per-tag Atom and RSS feeds from a folder of Markdown posts."""
    ctx.obj = Context(site, config)


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(folder: Path) -> None:
    """Create a new site: a commented config.toml and content/ with an example post."""
    for path in init_site(folder):
        click.echo(f"created {path}")


@main.command("publish")
@click.option("--keep-going", is_flag=True, help="Publish the good posts even when some files are broken.")
@click.option("--force", is_flag=True, help="Read every post and render every feed again.")
@click.option(
    "--now",
    "now_text",
    metavar="ISO-TIME",
    help="Publish as of this time instead of the clock's (a later one: a preview).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@pass_context
def publish_command(obj: Context, keep_going: bool, force: bool, now_text: str | None, quiet: bool) -> None:
    """Write the site-wide, per-tag and per-author feeds for every published post."""
    config = obj.config()
    with progress_bar(not quiet and sys.stderr.isatty()) as progress:
        now = parse_now(now_text)
        preview = in_future(now)  # a look at the future must not number posts for digests
        report = publish(config, now, keep_going=keep_going, force=force, record=not preview, progress=progress)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    if not quiet:
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        total = len(report.written) + report.unchanged
        counts = [plural(report.posts, "post")] + [
            plural(n, what) for n, what in ((report.drafts, "draft"), (report.scheduled, "scheduled")) if n
        ]
        click.echo(
            f"{', '.join(counts)}; {plural(total, 'feed')}: {len(report.written)} written, "
            f"{report.unchanged} unchanged, {len(report.removed)} removed ({report.seconds:.2f} s)"
            + (" (preview: nothing recorded)" if preview else "")
        )
    if report.problems:
        sys.exit(1)


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
    from .subscribers import add_subscriber

    config = obj.config()
    slugs = tuple(config.tags.slug(t) for t in tags if t.strip())  # a slug the site pins, else the name's own
    with open_state(config.state) as store:
        added = add_subscriber(store, address, name, slugs, datetime.now(UTC), "pending" if pending else "active")
    click.echo(f"added {added.address} ({added.status}; tags: {', '.join(added.tags or ['all'])})")
    _warn_unknown_tags(config, [added])


def _warn_unknown_tags(config: Config, added: list[Subscriber]) -> None:
    """A tag that no published post has gets its reader nothing: say so, with the close matches."""
    from .publish import indexed_posts
    from .subscribers import unknown_tags

    for warning in unknown_tags(added, indexed_posts(config, datetime.now(UTC))):
        click.echo(f"warning: {warning}", err=True)


@subscribers.command("remove")
@click.argument("address")
@pass_context
def subscribers_remove(obj: Context, address: str) -> None:
    """Forget a subscriber: address, tags and what they have received."""
    from .subscribers import remove_subscriber

    with open_state(obj.config().state) as store:
        removed = remove_subscriber(store, address)
    click.echo(f"removed {removed.address}")


@subscribers.command("list")
@pass_context
def subscribers_list(obj: Context) -> None:
    """One line per subscriber: address, status, tags, name (and why a bounce or complaint stopped them)."""
    from .bounces import subscriber_notes

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
    from .subscribers import import_csv

    config = obj.config()
    with open_state(config.state) as store:
        report = import_csv(store, csv_file, datetime.now(UTC))
    click.echo(f"{report.added} added, {report.already} already subscribed")
    _warn_unknown_tags(config, report.subscribers)


@subscribers.command("export")
@pass_context
def subscribers_export(obj: Context) -> None:
    """Write every subscriber as CSV to standard output, in the format 'import' reads."""
    from .subscribers import export_csv

    with open_state(obj.config().state) as store:
        export_csv(store.subscribers.all(), sys.stdout)


@main.group()
def digest() -> None:
    """Preview and send the e-mail digests configured in config.toml."""


@digest.command("preview")
@click.argument("name")
@click.option("--to", "address", metavar="ADDRESS", help="Preview what this subscriber would get.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("preview"), show_default=True)
@click.option("--now", "now_text", metavar="ISO-TIME", help="Preview as of this time instead of the clock's.")
@pass_context
def digest_preview(obj: Context, name: str, address: str | None, out: Path, now_text: str | None) -> None:
    """Write the digest as .eml and .html files to look at; sends nothing."""
    from .digest import preview

    paths = preview(obj.config(), name, address, out, parse_now(now_text))
    if paths is None:
        click.echo("nothing new for this reader: no message would be sent")
    for path in paths or ():
        click.echo(f"wrote {path}")


@digest.command("send")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Say what would be frozen and sent; change nothing.")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Send as at this (past) time; a future one is a dry run.")
@pass_context
def digest_send(obj: Context, name: str, dry_run: bool, now_text: str | None) -> None:
    """Send the run that is due now, and finish earlier runs; one pass, no waiting for retries."""
    from .delivery import dry_run_summary, summary
    from .digest import send_digest
    from .scheduler import shifted_clock

    config = obj.config()
    _warn_local_links(config)
    now = parse_now(now_text)
    if in_future(now) and not dry_run:
        click.echo(f"note: --now {now:%Y-%m-%d %H:%M %Z} is in the future: a dry run, nothing is sent", err=True)
        dry_run = True
    clock = shifted_clock(now if now_text else None)
    with progress_bar(not dry_run and sys.stderr.isatty()) as progress:
        report = send_digest(
            config, name, now, clock=clock, sleep=time.sleep, dry_run=dry_run, progress=progress
        )  # fmt: skip
    digest = config.digest(name)
    if dry_run:
        click.echo(f"{name} {dry_run_summary(digest, report, clock())}")
        return
    for address in report.bounced:
        click.echo(f"error: smtp: {address}: {report.reasons[address]} (marked bounced: no more digests)", err=True)
    for address in report.failed:
        click.echo(f"error: smtp: {address}: {report.reasons[address]}", err=True)
    for address in report.unknown:
        click.echo(f"warning: smtp: {address}: {report.reasons[address]}", err=True)
    click.echo(f"{name} {summary(digest, report, clock())}")
    if report.bounced or report.failed or report.unknown:
        sys.exit(1)


@main.group("outbox", invoke_without_command=True)
@click.pass_context
def outbox(ctx: click.Context) -> None:
    """Every digest run with its messages: sent, waiting, bounced, failed; then what the bounce
    mailbox brought: counts, and each subscriber a bounce or complaint stopped, with the reason."""
    if ctx.invoked_subcommand is not None:
        return
    from .bounces import mailbox_summary, subscriber_notes
    from .delivery import describe
    from .slots import local_time

    config = ctx.find_object(Context).config()
    with open_state(config.state) as store:
        runs = store.runs.summaries()
        mail, notes = mailbox_summary(store), subscriber_notes(store)
        addresses = {s.id: s.address for s in store.subscribers.all()} if notes else {}
    if not runs:
        click.echo("no digest runs yet")
    digests = {d.name: d for d in config.digests}
    for run in runs:
        digest = digests.get(run.digest)  # a digest since removed from config.toml: its slot in UTC
        slot = local_time(digest, run.slot) if digest else f"{run.slot:%Y-%m-%d %H:%M} UTC"
        click.echo(f"{run.digest}\t{slot}\t{describe(run.counts)}")
    if mail:
        kinds = Counter(note.partition(":")[0] for note in notes.values())
        click.echo(f"{mail}; {kinds['bounced']} subscribers bounced, {kinds['complained']} complained")
    for sid, note in notes.items():
        click.echo(f"{addresses[sid]}\t{note}")


@outbox.command("retry")
@click.argument("name", required=False)
@pass_context
def outbox_retry(obj: Context, name: str | None) -> None:
    """Send failed and outcome-unknown messages again at the next send (all digests, or NAME's)."""
    from .delivery import requeue

    count = requeue(obj.config(), name)
    click.echo(f"{count} message{'s' if count != 1 else ''} waiting again; they go at the next send")


@main.command("bounces")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Read as of this time instead of the clock's.")
@pass_context
def bounces_command(obj: Context, now_text: str | None) -> None:
    """Read the [bounces] mailbox once: bounces, complaints and mailed unsubscribes change their subscribers.

    Each message is recorded, then moved (Maildir, mbox) or flagged seen (IMAP): never read twice.
    """
    from .bounces import Applied, process_bounces
    from .tokens import secret_from_env

    def show(applied: Applied) -> None:
        click.echo(f"{applied.subscriber.address}: {applied.outcome}: {applied.detail}")  # type: ignore[union-attr]

    report = process_bounces(obj.config(), parse_now(now_text), secret_from_env(), show)
    click.echo(report.summary())


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
    if target.exists():
        raise StateError(f"{target} already exists; expected the name of a new file")
    with open_state(obj.config().state) as store:
        store.backup(target)
    click.echo(f"backed up {store.label} to {target}")


@db_group.command("reset")
@pass_context
def db_reset(obj: Context) -> None:
    """Move an empty or damaged SQLite state file aside and start a new, empty one."""
    from .state import database_url
    from .state.postgres import redacted
    from .state.sqlite import move_aside

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
    from .state import open_postgres_url
    from .state.copy import copy_state
    from .state.postgres import redacted

    path = obj.config().state.path
    if not path.exists():
        raise StateError(f"no state file at {path} to copy; expected the SQLite state of this site")
    if not url.startswith(("postgresql://", "postgres://")):
        raise StateError(f"--to {redacted(url)!r}: expected postgresql://user@host/dbname")
    with open_state(path) as source, open_postgres_url(url, path) as target:
        counts = copy_state(source, target)
    click.echo(f"copied {path} to {redacted(url)}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    click.echo(f"set [state] url, or PUBLISHER_DATABASE_URL, to {redacted(url)} to use it")


@main.command("import")
@click.argument("kind", metavar="KIND")
@click.argument("source")
@click.option(
    "--year", type=click.IntRange(1, 9999), help="Year of the newest post, for archive dates such as '25 Apr'."
)
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Add this tag to every imported post (repeatable).")
@click.option("--dry-run", is_flag=True, help="List what would be written; write nothing.")
@pass_context
def import_command(
    obj: Context, kind: str, source: str, year: int | None, tags: tuple[str, ...], dry_run: bool
) -> None:
    """Write posts from SOURCE (a file or URL) into content/, one Markdown file each.

    KIND is 'archive' (a blog's "Tag Archives" page saved as text), 'wordpress' (a WXR
    export) or 'feed' (any RSS or Atom feed). Importing again updates changed posts in place.
    """
    from .importers import import_source  # loads feedparser: only this command pays for it

    report = import_source(obj.config(), kind, source, year=year, tags=tags, dry_run=dry_run)
    for verb, paths in (("create", report.created), ("update", report.updated)):
        for path in paths:
            click.echo(f"would {verb} {path}" if dry_run else f"{verb}d {path}")
    for item in report.skipped:
        click.echo(f"skipped {item.what}: {item.reason}")
    for note in report.notes:
        click.echo(f"note: {note}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())
    if (report.created or report.updated) and not dry_run:
        click.echo("Next: run 'publisher publish' to put them in the feeds.")


@main.command("run")
@click.option("--once", is_flag=True, help="Do what is due now, then exit (for cron or a systemd timer).")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Start the clock at this time (to try a schedule).")
@pass_context
def run_command(obj: Context, once: bool, now_text: str | None) -> None:
    """Publish and send digests on schedule; after downtime, catch up within [run] grace_hours.

    Stops cleanly on SIGTERM or Ctrl-C: the message in flight is finished first.
    """
    import logging

    from .scheduler import run_scheduler  # loads schedule: only this command pays for it

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = obj.config()
    _warn_local_links(config)
    start = parse_now(now_text) if now_text else None
    if run_scheduler(config, once=once, start=start, preview=start is not None and in_future(start)):
        sys.exit(1)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@pass_context
def serve_command(obj: Context, host: str, port: int) -> None:
    """Run the subscription web app and the feeds locally; use gunicorn in production (see README)."""
    from .web import create_app, links_open_here, local_url  # loads Flask: only this command pays for it

    config = obj.config()
    app = create_app(config)
    here = local_url(host, port)
    click.echo(f"open {here} in a browser (Ctrl-C stops)")
    _warn_local_links(config)
    if config.digests and not links_open_here(config, port):
        click.echo(
            f"note: links in e-mails point at {config.web.base_url}; to try sign-ups here, set "
            f'[web] base_url = "{here}"',
            err=True,
        )
    app.run(host=host, port=port)


def _warn_local_links(config: Config) -> None:
    warning = config.web.warning() if config.digests else None
    if warning:
        click.echo(f"warning: {warning}", err=True)


def run(argv: list[str] | None = None) -> int:
    """Console-script entry: a PublisherError is a message and an exit code, never a traceback."""
    try:
        main.main(args=argv, prog_name="publisher", standalone_mode=False)
    except ContentError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"publisher: {len(exc.problems)} broken file(s); nothing was written", err=True)
        return exc.exit_code
    except PublisherError as exc:
        click.echo(f"publisher: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("publisher: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def console_main() -> None:
    sys.exit(run())
