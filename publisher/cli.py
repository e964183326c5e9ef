"""Command line: parse, call, print. Errors become one line on stderr and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from .config import CONFIG_NAME, Config, load_config
from .errors import ConfigError, ContentError, PublisherError
from .publish import Progress, publish
from .scaffold import init_site


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


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on a terminal; nothing at all when output is piped or quiet."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
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
@click.option("--force", is_flag=True, help="Render every feed again, e.g. after upgrading publisher.")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Publish as of this time instead of the clock's.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@pass_context
def publish_command(obj: Context, keep_going: bool, force: bool, now_text: str | None, quiet: bool) -> None:
    """Write the site-wide, per-tag and per-author feeds for every published post."""
    config = obj.config()
    with progress_bar(not quiet and sys.stderr.isatty()) as progress:
        report = publish(config, parse_now(now_text), keep_going=keep_going, force=force, progress=progress)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not quiet:
        total = len(report.written) + report.unchanged
        extra = "".join(
            f", {n} {what}" for n, what in ((report.drafts, "drafts"), (report.scheduled, "scheduled")) if n
        )
        click.echo(
            f"{report.posts} posts{extra}; {total} feeds: {len(report.written)} written, "
            f"{report.unchanged} unchanged, {len(report.removed)} removed ({report.seconds:.2f} s)"
        )
    if report.problems:
        sys.exit(1)


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
