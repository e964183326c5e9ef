"""One exception family: the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations

import os
from dataclasses import dataclass


def quote_path(path: object) -> str:
    """A file name as every message shows it: as it is when printable; bytes that are not
    UTF-8 as ``\xe9``; else quoted with escapes, so that a newline or a control character
    in a name cannot forge a line."""
    text = str(path)
    if text.isprintable():
        return text
    text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)


class PublisherError(Exception):
    """A problem the user can fix; shown as a message, never as a traceback."""

    exit_code = 1


class ConfigError(PublisherError):
    """config.toml is missing, malformed or holds a bad value."""

    exit_code = 2


class OutputError(PublisherError):
    """A feed or post file cannot be written where the configuration says; nothing else changed."""


class StateError(PublisherError):
    """The state database cannot be opened or has an unknown schema version."""


class StateBusy(StateError):
    """Another process's transaction held the state database for longer than we wait."""


class Busy(PublisherError):
    """Another live publisher process holds the lock this work needs; the message names it."""


class ImportFailed(PublisherError):
    """An import source cannot be read as the kind named; nothing was written."""


@dataclass(frozen=True)
class ContentProblem:
    """One broken content file: which file, which line if known, what is wrong."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ContentError(PublisherError):
    """Content files could not be read as posts; carries every problem found."""

    def __init__(self, problems: list[ContentProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SubscriberError(PublisherError):
    """A subscriber address, CSV file or token is not what was expected."""


class DeliveryError(PublisherError):
    """The SMTP server cannot be reached or refuses our login; nothing is lost, send again later."""


class MailboxError(PublisherError):
    """The bounce mailbox cannot be opened or read; nothing in it was changed, read it again later."""


class RateLimited(SubscriberError):
    """Too many sign-ups for one address or from one client; nothing was sent."""
