"""`publisher digest ...`, `publisher outbox` and `publisher bounces`: the e-mail side."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import click

from ..state import open_state
from .base import Context, in_future, main, parse_now, pass_context, progress_bar, warn_local_links

MAX_WORKERS = 64  # sending processes one command may start


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
    from ..digest import preview

    paths = preview(obj.config(), name, address, out, parse_now(now_text))
    if paths is None:
        click.echo("nothing new for this reader: no message would be sent")
    for path in paths or ():
        click.echo(f"wrote {path}")


@digest.command("send")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Say what would be frozen and sent; change nothing.")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Send as at this (past) time; a future one is a dry run.")
@click.option(
    "--workers", type=click.IntRange(1, MAX_WORKERS), default=1, show_default=True,
    help="Send with this many processes at once.",
)  # fmt: skip
@pass_context
def digest_send(obj: Context, name: str, dry_run: bool, now_text: str | None, workers: int) -> None:
    """Send the run that is due now, and finish earlier runs; one pass, no waiting for retries."""
    from ..delivery import dry_run_summary, summary
    from ..digest import send_digest
    from ..scheduler import shifted_clock

    config = obj.config()
    warn_local_links(config)
    now = parse_now(now_text)
    if in_future(now) and not dry_run:
        click.echo(f"note: --now {now:%Y-%m-%d %H:%M %Z} is in the future: a dry run, nothing is sent", err=True)
        dry_run = True
    clock = shifted_clock(now if now_text else None)
    with progress_bar(not dry_run and sys.stderr.isatty()) as progress:
        report = send_digest(
            config, name, now, clock=clock, sleep=time.sleep, dry_run=dry_run, progress=progress, workers=workers
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


@main.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (for cron or a systemd timer).")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Start the clock at this (past) time.")
@pass_context
def worker_command(obj: Context, once: bool, now_text: str | None) -> None:
    """Send every digest's frozen messages, sharing the outbox with any other senders; run one on
    each host that should send. Looks again every [run] tick_seconds; stops cleanly on SIGTERM."""
    import logging
    import threading

    from ..delivery import describe
    from ..scheduler import shifted_clock, stop_on_signals
    from ..workers import counts, run_worker

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = obj.config()
    if in_future(now := parse_now(now_text)):
        raise click.UsageError(f"--now {now:%Y-%m-%d %H:%M %Z} is in the future; a worker sends only what is due")
    stop = threading.Event()
    with stop_on_signals(stop):
        report = run_worker(config, clock=shifted_clock(now if now_text else None), once=once, stop=stop)
    if once:
        with open_state(config.state) as store:
            click.echo(f"worker: {describe(counts(store, report))}")


@main.group("outbox", invoke_without_command=True)
@click.pass_context
def outbox(ctx: click.Context) -> None:
    """Every digest run with its messages: sent, waiting, bounced, failed; the sign-ups' confirmation
    e-mails, counted the same way; then what the bounce mailbox brought: counts, and each
    subscriber a bounce or complaint stopped, with the reason."""
    if ctx.invoked_subcommand is not None:
        return
    from ..bounces import mailbox_summary, subscriber_notes
    from ..delivery import describe
    from ..slots import local_time

    context = ctx.find_object(Context)
    assert context is not None  # the group sets it before any command runs
    config = context.config()
    with open_state(config.state) as store:
        runs, confirmations = store.runs.summaries(), store.confirmations.counts()
        mail, notes = mailbox_summary(store), subscriber_notes(store)
        addresses = {s.id: s.address for s in store.subscribers.all()} if notes else {}
    if not runs:
        click.echo("no digest runs yet")
    if confirmations:
        click.echo(f"confirmations\t\t{describe(confirmations)}")
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
    from ..delivery import requeue

    count = requeue(obj.config(), name)
    click.echo(f"{count} message{'s' if count != 1 else ''} waiting again; they go at the next send")


@main.command("bounces")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Read as of this time instead of the clock's.")
@pass_context
def bounces_command(obj: Context, now_text: str | None) -> None:
    """Read the [bounces] mailbox once: bounces, complaints and mailed unsubscribes change their subscribers.

    Each message is recorded, then moved (Maildir, mbox) or flagged seen (IMAP): never read twice.
    """
    from ..bounces import Applied, process_bounces
    from ..tokens import secret_from_env

    def show(applied: Applied) -> None:
        click.echo(f"{applied.subscriber.address}: {applied.outcome}: {applied.detail}")  # type: ignore[union-attr]

    report = process_bounces(obj.config(), parse_now(now_text), secret_from_env(), show)
    click.echo(report.summary())
