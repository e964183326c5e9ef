"""Command line: parse, call, print. Errors become one line on stderr and an exit code.

Commands import the modules they need inside themselves, so that `publisher publish`
(run every minute by cron or `publisher run`) does not pay for Jinja, e-mail and Flask.
One module per group of commands; importing them registers them on the `main` group.
"""

from __future__ import annotations

import sys

import click

from ..errors import ContentError, PublisherError
from . import db, mail, site, subscribers  # noqa: F401  (importing them registers their commands)
from .base import main


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
