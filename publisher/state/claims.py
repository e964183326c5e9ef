"""Outbox rows claimed by one sender at a time, for a while: how several senders share one outbox.

A sender claims a few due rows at once, writing its name and a lease (a time) on
them, and renews its leases before a message when less than half is left. Other
senders pass over rows whose lease has not run out; on PostgreSQL they also pass
over rows another claim is taking at that moment (SKIP LOCKED), so claims never
wait for each other. A row whose sender died is claimed again once its lease has
run out. A sender never takes back in the same pass a row it has handled (its
name stays on the row), so one pass is one pass even when a retry is due at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .database import Database
from .runs import OUTBOX_ITEM, OutboxItem, outbox_item, stamp

OPEN = "('pending', 'retry')"  # the statuses of messages still to send


class OutboxClaims:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(
        self, digests: Sequence[str], sender: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """Up to ``limit`` due messages of these digests, oldest first, now held by ``sender`` until
        ``lease_until``: unclaimed ones, or ones whose lease ran out, never one ``sender`` handled."""
        if not digests:
            return []
        marks = ", ".join("?" * len(digests))
        with self.db.transaction(row_locks=True):
            ids = [
                row["id"]
                for row in self.db.rows(
                    f"SELECT id FROM outbox WHERE status IN {OPEN}"
                    f" AND run IN (SELECT id FROM digest_runs WHERE digest IN ({marks}))"
                    " AND (not_before IS NULL OR not_before <= ?) AND (lease_until IS NULL OR lease_until <= ?)"
                    " AND (claimed_by IS NULL OR claimed_by <> ?)"
                    f" ORDER BY id LIMIT ?{self.db.dialect.skip_locked}",
                    (*digests, stamp(now), stamp(now), sender, limit),
                )
            ]
            if not ids:
                return []
            chosen = ", ".join("?" * len(ids))
            self.db.execute(
                f"UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id IN ({chosen})",
                (sender, stamp(lease_until), *ids),
            )
            rows = self.db.rows(OUTBOX_ITEM + f" WHERE o.id IN ({chosen}) ORDER BY o.id", ids)
        return [outbox_item(row) for row in rows]

    def renew(self, sender: str, lease_until: datetime) -> set[int]:
        """Extend ``sender``'s lease on the messages it still holds (claimed, not yet handled); their
        ids. One whose lease ran out and that another sender claimed is no longer among them."""
        rows = self.db.rows(
            "UPDATE outbox SET lease_until = ?"
            f" WHERE claimed_by = ? AND lease_until IS NOT NULL AND status IN {OPEN} RETURNING id",
            (stamp(lease_until), sender),
        )
        return {row["id"] for row in rows}

    def holders(self, now: datetime) -> list[str]:
        """The senders holding messages whose lease has not run out."""
        rows = self.db.rows(
            f"SELECT DISTINCT claimed_by FROM outbox WHERE status IN {OPEN} AND lease_until > ?", (stamp(now),)
        )
        return [row["claimed_by"] for row in rows]

    def release(self, sender: str) -> int:
        """Give back the messages ``sender`` claimed but did not handle (it stopped, or the server
        could not be reached), so that other senders take them at once; how many."""
        return self.db.execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
            f" WHERE claimed_by = ? AND lease_until IS NOT NULL AND status IN {OPEN}",
            (sender,),
        )
