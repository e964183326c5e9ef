"""The `publisher` group and what its commands share: finding config.toml, --now, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from ..config import CONFIG_NAME, Config, load_config
from ..errors import ConfigError
from ..reading import Progress


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
    from rich.progress import TaskID

    with RichProgress(console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

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
    """Publish per-tag Atom, RSS and JSON feeds from a folder of Markdown posts, and e-mail digests of new posts."""
    ctx.obj = Context(site, config)


def warn_local_links(config: Config) -> None:
    """Links in e-mails that open only on this machine are worth a warning before anything is sent."""
    warning = config.web.warning() if config.digests else None
    if warning:
        click.echo(f"warning: {warning}", err=True)
