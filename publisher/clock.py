"""Time as an argument: code that depends on "now", or waits, is handed these, so tests control time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]
Sleep = Callable[[float], object]  # what it returns is ignored (threading.Event.wait fits)
Stop = Callable[[], bool]  # True once the process has been asked to stop (SIGTERM): finish the message in flight
