"""The send pace shared by every sender of one SMTP server: [smtp] rate_limit across processes and hosts.

Each message reserves the next free moment in one row with one statement (an
upsert that returns the new value): the row lock, or SQLite's single writer,
makes the reservations one at a time, so N senders together never start more
than ``rate`` messages a second. A sender that dies after reserving only leaves
a gap. Times are seconds since the epoch, from the caller's clock.
"""

from __future__ import annotations

from .database import Database

HORIZON = 3600.0  # seconds: a reservation further ahead than this (plus 100 intervals) came from a clock set elsewhere


class SendPace:
    def __init__(self, db: Database) -> None:
        self.db = db

    def reserve(self, name: str, now: float, interval: float) -> float:
        """When (seconds since the epoch) the caller may start its next message to server ``name``:
        now, or the end of the last reservation if that is later."""
        ahead = now + HORIZON + 100 * interval
        rows = self.db.rows(
            "INSERT INTO send_pace (name, next_at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET next_at ="
            " CASE WHEN send_pace.next_at > ? AND send_pace.next_at < ? THEN send_pace.next_at ELSE ? END + ?"
            " RETURNING next_at",
            (name, now + interval, now, ahead, now, interval),
        )
        return float(rows[0]["next_at"]) - interval
