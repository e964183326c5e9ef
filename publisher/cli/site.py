"""Commands about the site itself: init, publish, import, run and serve."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..publish import publish
from ..scaffold import init_site
from .base import Context, in_future, main, parse_now, pass_context, plural, progress_bar, warn_local_links


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
    from ..importers import import_source  # loads feedparser: only this command pays for it

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

    from ..scheduler import run_scheduler  # loads schedule: only this command pays for it

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = obj.config()
    warn_local_links(config)
    start = parse_now(now_text) if now_text else None
    if run_scheduler(config, once=once, start=start, preview=start is not None and in_future(start)):
        sys.exit(1)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@pass_context
def serve_command(obj: Context, host: str, port: int) -> None:
    """Run the subscription web app and the feeds locally; use gunicorn in production (see README)."""
    from ..web import create_app, links_open_here, local_url  # loads Flask: only this command pays for it

    config = obj.config()
    app = create_app(config)
    here = local_url(host, port)
    click.echo(f"open {here} in a browser (Ctrl-C stops)")
    warn_local_links(config)
    if config.digests and not links_open_here(config, port):
        click.echo(
            f"note: links in e-mails point at {config.web.base_url}; to try sign-ups here, set "
            f'[web] base_url = "{here}"',
            err=True,
        )
    app.run(host=host, port=port)
