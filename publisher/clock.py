"""Time as an argument: code that depends on "now", or waits, is handed these, so tests control time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
Sleep = Callable[[float], object]  # what it returns is ignored (threading.Event.wait fits)
Stop = Callable[[], bool]  # True once the process has been asked to stop (SIGTERM): finish the message in flight


@dataclass(frozen=True)
class WallClock:
    """The system clock, ``offset`` ahead (or behind); an object rather than a closure so that it
    can be handed to worker processes, which then share the sending command's time."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset
