"""Web sign-ups: the rate-limit ledger and the queue of confirmation e-mails, shared by every web worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .database import Database


@dataclass(frozen=True)
class QueuedConfirmation:
    """A confirmation e-mail waiting to be sent, with its subscriber's status now (None: removed)."""

    id: int
    subscriber: int
    subscriber_status: str | None
    sender: str
    address: str
    message: bytes
    attempts: int
    not_before: datetime | None


class Signups:
    """When confirmation e-mails went out, by address and by client: what the rate limits count."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, address: str, client: str, at: datetime, forget_before: datetime) -> None:
        """Note a confirmation e-mail sent; sign-ups older than ``forget_before`` are dropped."""
        self.db.execute("DELETE FROM signups WHERE at < ?", (forget_before.isoformat(),))
        self.db.execute("INSERT INTO signups (address, client, at) VALUES (?, ?, ?)", (address, client, at.isoformat()))

    def times(self, address: str) -> list[datetime]:
        """When confirmation e-mails went to this address, newest first."""
        rows = self.db.rows(
            f"SELECT at FROM signups WHERE {self.db.dialect.nocase('address')} ORDER BY at DESC", (address,)
        )
        return [datetime.fromisoformat(row["at"]) for row in rows]

    def client_count(self, client: str, since: datetime) -> int:
        count = self.db.value("SELECT count(*) FROM signups WHERE client = ? AND at >= ?", (client, since.isoformat()))
        return int(count)


class Confirmations:
    """Confirmation e-mails as sent bytes, waiting for the sender: a sign-up never waits for SMTP."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def queue(
        self, subscriber: int, sender: str, address: str, message: bytes, when: datetime, forget_before: datetime
    ) -> None:
        """A confirmation e-mail for the sender; finished ones older than ``forget_before`` are dropped."""
        self.db.execute(
            "DELETE FROM confirmations WHERE status IN ('sent', 'failed') AND queued < ?", (forget_before.isoformat(),)
        )
        self.db.execute(
            "INSERT INTO confirmations (subscriber, sender, address, message, queued) VALUES (?, ?, ?, ?, ?)",
            (subscriber, sender, address, message, when.isoformat()),
        )

    def open(self) -> list[QueuedConfirmation]:
        """Confirmation e-mails still to send (pending or waiting for a retry), oldest first."""
        rows = self.db.rows(
            "SELECT c.id, c.subscriber, s.status, c.sender, c.address, c.message, c.attempts, c.not_before"
            " FROM confirmations c LEFT JOIN subscribers s ON s.id = c.subscriber"
            " WHERE c.status IN ('pending', 'retry') ORDER BY c.id"
        )
        return [
            QueuedConfirmation(
                id=row["id"],
                subscriber=row["subscriber"],
                subscriber_status=row["status"],
                sender=row["sender"],
                address=row["address"],
                message=bytes(row["message"]),
                attempts=row["attempts"],
                not_before=datetime.fromisoformat(row["not_before"]) if row["not_before"] else None,
            )
            for row in rows
        ]

    def counts(self) -> dict[str, int]:
        """How many confirmation e-mails are in each state (finished ones are kept for a while)."""
        return {
            row["status"]: row["n"]
            for row in self.db.rows("SELECT status, count(*) AS n FROM confirmations GROUP BY status")
        }

    def sent(self, confirmation: int, when: datetime) -> None:
        self.db.execute(
            "UPDATE confirmations SET status = 'sent', sent = ? WHERE id = ?", (when.isoformat(), confirmation)
        )

    def retry(self, confirmation: int, not_before: datetime, error: str) -> None:
        self.db.execute(
            "UPDATE confirmations SET status = 'retry', attempts = attempts + 1, not_before = ?, error = ?"
            " WHERE id = ?",
            (not_before.isoformat(), error, confirmation),
        )

    def done(self, confirmation: int, status: str, error: str) -> None:
        """A confirmation e-mail that is not sent again by itself: 'failed', 'bounced' or 'unknown'."""
        self.db.execute(
            "UPDATE confirmations SET status = ?, attempts = attempts + 1, error = ? WHERE id = ?",
            (status, error, confirmation),
        )
