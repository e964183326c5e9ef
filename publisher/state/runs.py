"""Digest runs and their outbox: one frozen run per digest and slot, one row per recipient's message."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .database import Database, Row


@dataclass(frozen=True)
class OutboxItem:
    """One recipient's message of a frozen run, without the shared body it points to."""

    id: int
    run: int
    digest: str
    slot: datetime
    frozen: datetime
    subscriber: int
    subscriber_status: str | None  # None: the subscriber was removed after the run was frozen
    body: int
    fields: dict[str, str]
    watermark: int
    status: str
    attempts: int
    not_before: datetime | None


@dataclass(frozen=True)
class Waiting:
    """A digest's messages still to send: how many, and when the first may go (None: now)."""

    count: int
    first: datetime | None


@dataclass(frozen=True)
class RunSummary:
    """A digest run and how many of its messages are in each outbox state."""

    digest: str
    slot: datetime
    frozen: datetime
    counts: dict[str, int]


def stamp(when: datetime) -> str:
    """A time as the outbox keeps the times SQL compares (not_before, lease_until): in UTC, so that
    their text order is their time order."""
    return when.astimezone(UTC).isoformat()


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def outbox_item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        run=row["run"],
        digest=row["digest"],
        slot=datetime.fromisoformat(row["slot"]),
        frozen=datetime.fromisoformat(row["frozen"]),
        subscriber=row["subscriber"],
        subscriber_status=row["subscriber_status"],
        body=row["body"],
        fields=json.loads(row["fields"]),
        watermark=row["watermark"],
        status=row["status"],
        attempts=row["attempts"],
        not_before=_time(row["not_before"]),
    )


OUTBOX_ITEM = (
    "SELECT o.id, o.run, r.digest, r.slot, r.frozen, o.subscriber, s.status AS subscriber_status, o.body, o.fields,"
    " o.watermark, o.status, o.attempts, o.not_before"
    " FROM outbox o JOIN digest_runs r ON r.id = o.run LEFT JOIN subscribers s ON s.id = o.subscriber"
)


class DigestRuns:
    def __init__(self, db: Database) -> None:
        self.db = db

    def exists(self, digest: str, slot: datetime) -> bool:
        found = self.db.value("SELECT 1 FROM digest_runs WHERE digest = ? AND slot = ?", (digest, slot.isoformat()))
        return found is not None

    def insert(
        self,
        digest: str,
        slot: datetime,
        frozen: datetime,
        posts: Iterable[tuple[int, str]],
        bodies: list[tuple[str, str, str]],
        messages: Iterable[tuple[int, int, str, int]],
    ) -> int:
        """A run with its (seq, post id)s, its shared (subject, text, html) bodies and one outbox
        row per (subscriber, index into bodies, fields JSON, watermark)."""
        run = self.db.insert(
            "INSERT INTO digest_runs (digest, slot, frozen) VALUES (?, ?, ?)",
            (digest, slot.isoformat(), frozen.isoformat()),
        )
        self.db.many(
            "INSERT INTO run_posts (run, seq, post_id) VALUES (?, ?, ?)", ((run, seq, pid) for seq, pid in posts)
        )
        # One statement for every body, not one round trip each. Ids grow in insertion order (SQLite's
        # next rowid, PostgreSQL's identity sequence) and this transaction is the only writer: the
        # bodies' ids are those above the largest before, in order.
        before = self.db.value("SELECT coalesce(max(id), 0) FROM run_bodies")
        self.db.many(
            "INSERT INTO run_bodies (run, subject, text, html) VALUES (?, ?, ?, ?)", ((run, *b) for b in bodies)
        )
        body_ids = [
            row["id"]
            for row in self.db.rows("SELECT id FROM run_bodies WHERE id > ? AND run = ? ORDER BY id", (before, run))
        ]
        assert len(body_ids) == len(bodies), (len(body_ids), len(bodies))
        self.db.copy_in(
            "outbox",
            ("run", "subscriber", "body", "fields", "watermark"),
            ((run, sub, body_ids[index], fields, mark) for sub, index, fields, mark in messages),
        )
        return run

    def body(self, body: int) -> tuple[str, str, str]:
        """The shared (subject, text, html) of one render."""
        row = self.db.row("SELECT subject, text, html FROM run_bodies WHERE id = ?", (body,))
        assert row is not None, body  # an outbox row's body is never deleted
        return row["subject"], row["text"], row["html"]

    def mark_sent(self, item: OutboxItem, when: datetime) -> None:
        """The server took the message: record it and move the subscriber's watermark in one go."""
        self.db.execute("UPDATE outbox SET status = 'sent', sent = ? WHERE id = ?", (when.isoformat(), item.id))
        self.db.execute(
            "INSERT INTO watermarks (subscriber, digest, seq) VALUES (?, ?, ?) ON CONFLICT (subscriber, digest)"
            " DO UPDATE SET seq = CASE WHEN excluded.seq > watermarks.seq THEN excluded.seq ELSE watermarks.seq END",
            (item.subscriber, item.digest, item.watermark),
        )

    def mark_retry(self, item: OutboxItem, not_before: datetime, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'retry', attempts = attempts + 1, not_before = ?, error = ?, lease_until = NULL"
            " WHERE id = ?",
            (stamp(not_before), error, item.id),
        )

    def mark_done(self, item: OutboxItem, status: str, error: str) -> None:
        """A message that is not sent again by itself: 'failed', 'bounced' or 'unknown'."""
        self.db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, error = ? WHERE id = ?", (status, error, item.id)
        )

    def requeue(self, digest: str | None) -> int:
        """Failed and outcome-unknown messages to active subscribers are to be sent again; how many."""
        return self.db.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, not_before = NULL WHERE status IN ('failed', 'unknown')"
            " AND subscriber IN (SELECT id FROM subscribers WHERE status = 'active')"
            " AND run IN (SELECT id FROM digest_runs WHERE CAST(? AS TEXT) IS NULL OR digest = ?)",
            (digest, digest),
        )

    def summaries(self) -> list[RunSummary]:
        """Every run, newest slot first, with its outbox counts by status."""
        runs: dict[int, RunSummary] = {}
        for row in self.db.rows(
            "SELECT r.id, r.digest, r.slot, r.frozen, o.status, count(o.id) AS n FROM digest_runs r"
            " LEFT JOIN outbox o ON o.run = r.id GROUP BY r.id, o.status ORDER BY r.slot DESC, r.digest"
        ):
            summary = runs.setdefault(
                row["id"],
                RunSummary(
                    row["digest"], datetime.fromisoformat(row["slot"]), datetime.fromisoformat(row["frozen"]), {}
                ),
            )
            if row["status"] is not None:
                summary.counts[row["status"]] = row["n"]
        return list(runs.values())

    def waiting(self) -> dict[str, Waiting]:
        """digest -> its messages still to send (pending, or waiting for a retry), for digests that have any."""
        return {
            row["digest"]: Waiting(row["n"], None if row["unscheduled"] else datetime.fromisoformat(row["first"]))
            for row in self.db.rows(
                "SELECT r.digest, count(*) AS n, sum(CASE WHEN o.not_before IS NULL THEN 1 ELSE 0 END) AS unscheduled,"
                " min(o.not_before) AS first FROM outbox o JOIN digest_runs r ON r.id = o.run"
                " WHERE o.status IN ('pending', 'retry') GROUP BY r.digest"
            )
        }

    def last_slots(self) -> dict[str, datetime]:
        """digest -> its latest slot that was frozen or skipped."""
        last: dict[str, datetime] = {}
        for row in self.db.rows(
            "SELECT digest, slot FROM digest_runs UNION ALL SELECT digest, slot FROM skipped_slots"
        ):
            when = datetime.fromisoformat(row["slot"])
            if row["digest"] not in last or when > last[row["digest"]]:
                last[row["digest"]] = when
        return last

    def record_skipped(self, digest: str, slot: datetime, when: datetime, reason: str) -> None:
        self.db.execute(
            "INSERT INTO skipped_slots (digest, slot, recorded, reason) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (digest, slot.isoformat(), when.isoformat(), reason),
        )

    def skipped_slots(self, digest: str) -> list[tuple[datetime, str]]:
        """(slot, reason) of every skipped slot of this digest, oldest first."""
        rows = self.db.rows("SELECT slot, reason FROM skipped_slots WHERE digest = ? ORDER BY slot", (digest,))
        return [(datetime.fromisoformat(row["slot"]), row["reason"]) for row in rows]
