"""The bounce mailbox's record: each message read, recorded in the transaction that applies it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .database import Database


@dataclass(frozen=True)
class MailEvent:
    """One processed message of the bounce mailbox that concerned a subscriber."""

    subscriber: int
    address: str
    status: str
    outcome: str
    detail: str
    at: datetime


class MailRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def seen(self, key: str) -> bool:
        return self.db.value("SELECT 1 FROM mail_processed WHERE key = ?", (key,)) is not None

    def record(self, key: str, outcome: str, subscriber: int | None, detail: str, at: datetime) -> None:
        self.db.execute(
            "INSERT INTO mail_processed (key, outcome, subscriber, detail, at) VALUES (?, ?, ?, ?, ?)",
            (key, outcome, subscriber, detail, at.isoformat()),
        )

    def times(self, subscriber: int, outcome: str, since: datetime, until: datetime) -> list[datetime]:
        """When this subscriber's messages with this outcome were dated, within [since, until], oldest first."""
        rows = self.db.rows(
            "SELECT at FROM mail_processed WHERE subscriber = ? AND outcome = ? AND at >= ? AND at <= ? ORDER BY at",
            (subscriber, outcome, since.isoformat(), until.isoformat()),
        )
        return [datetime.fromisoformat(row["at"]) for row in rows]

    def outcomes(self) -> dict[str, int]:
        """outcome -> how many messages of the bounce mailbox had it."""
        rows = self.db.rows("SELECT outcome, count(*) AS n FROM mail_processed GROUP BY outcome")
        return {row["outcome"]: row["n"] for row in rows}

    def events(self, outcomes: Iterable[str]) -> dict[int, MailEvent]:
        """subscriber id -> their latest message with one of these outcomes."""
        wanted = list(outcomes)
        rows = self.db.rows(
            "SELECT m.subscriber, s.address, s.status, m.outcome, m.detail, m.at FROM mail_processed m"
            " JOIN subscribers s ON s.id = m.subscriber"
            f" WHERE m.outcome IN ({', '.join('?' * len(wanted))}) ORDER BY m.at, m.{self.db.dialect.insertion_order}",
            wanted,
        )
        return {
            row["subscriber"]: MailEvent(
                row["subscriber"], row["address"], row["status"], row["outcome"], row["detail"],
                datetime.fromisoformat(row["at"]),
            )
            for row in rows
        }  # fmt: skip
