"""Subscribers, their preferences (tags, digest) and what each has received (watermarks)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..model import Subscriber
from .database import Database

_COLUMNS = "s.id, s.address, s.name, s.tags, s.status, s.created, s.confirmed, s.language"


def _subscriber(values: tuple[Any, ...], tag_lists: dict[str, tuple[str, ...]] | None = None) -> Subscriber:
    """A row of _COLUMNS (and maybe more after them); ``tag_lists``: tags columns already parsed (many
    subscribers follow the same tags)."""
    sid, address, name, tags, status, created, confirmed, language = values[:8]
    parsed = None if tags is None or tag_lists is None else tag_lists.get(tags)
    if tags is not None and parsed is None:
        parsed = tuple(json.loads(tags))
        if tag_lists is not None:
            tag_lists[tags] = parsed
    return Subscriber(
        id=sid,
        address=address,
        name=name,
        tags=parsed,
        status=status,
        created=datetime.fromisoformat(created),
        confirmed=datetime.fromisoformat(confirmed) if confirmed else None,
        language=language,
    )


def _tags_json(tags: Iterable[str] | None) -> str | None:
    return json.dumps(list(tags)) if tags is not None else None


class Subscribers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def by_address(self, address: str) -> Subscriber | None:
        """The subscriber with this address, compared case-insensitively."""
        rows = self.db.tuples(
            f"SELECT {_COLUMNS} FROM subscribers s WHERE {self.db.dialect.nocase('address')}", (address,)
        )
        return _subscriber(rows[0]) if rows else None

    def by_id(self, subscriber_id: int) -> Subscriber | None:
        rows = self.db.tuples(f"SELECT {_COLUMNS} FROM subscribers s WHERE id = ?", (subscriber_id,))
        return _subscriber(rows[0]) if rows else None

    def all(self) -> list[Subscriber]:
        return [_subscriber(row) for row in self.db.tuples(f"SELECT {_COLUMNS} FROM subscribers s ORDER BY id")]

    def insert(self, subscribers: Iterable[Subscriber]) -> None:
        """Insert new subscribers; their ``id`` is ignored and assigned by the database."""
        self.db.many(
            "INSERT INTO subscribers (address, name, tags, status, created, confirmed) VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    s.address,
                    s.name,
                    _tags_json(s.tags),
                    s.status,
                    s.created.isoformat(),
                    s.confirmed.isoformat() if s.confirmed else None,
                )
                for s in subscribers
            ),
        )

    def delete(self, subscriber_id: int) -> None:
        # Unsent messages go too: a new subscriber may later be given the same id.
        self.db.execute(
            "UPDATE outbox SET status = 'failed', error = 'not sent: the subscriber was removed'"
            " WHERE subscriber = ? AND status IN ('pending', 'retry')",
            (subscriber_id,),
        )
        self.db.execute("DELETE FROM watermarks WHERE subscriber = ?", (subscriber_id,))
        self.db.execute("DELETE FROM subscriber_digests WHERE subscriber = ?", (subscriber_id,))
        self.db.execute("UPDATE mail_processed SET subscriber = NULL WHERE subscriber = ?", (subscriber_id,))
        self.db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))

    def set_status(self, subscriber_id: int, status: str) -> None:
        self.db.execute("UPDATE subscribers SET status = ? WHERE id = ?", (status, subscriber_id))

    def confirm(self, subscriber_id: int, when: datetime) -> None:
        self.db.execute(
            "UPDATE subscribers SET status = 'active', confirmed = ? WHERE id = ?", (when.isoformat(), subscriber_id)
        )

    def active(self, digest: str) -> list[tuple[Subscriber, int]]:
        """Every active subscriber of this digest (those who chose no digest get every one) with the
        last published.seq they received in it (0: none)."""
        rows = self.db.tuples(
            f"SELECT {_COLUMNS}, COALESCE(w.seq, 0) AS mark"
            " FROM subscribers s LEFT JOIN watermarks w ON w.subscriber = s.id AND w.digest = ?"
            " LEFT JOIN subscriber_digests d ON d.subscriber = s.id"
            " WHERE s.status = 'active' AND (d.digest IS NULL OR d.digest = ?) ORDER BY s.id",
            (digest, digest),
        )
        tag_lists: dict[str, tuple[str, ...]] = {}
        return [(_subscriber(row, tag_lists), row[8]) for row in rows]

    def watermark(self, subscriber_id: int, digest: str) -> int:
        seq = self.db.value("SELECT seq FROM watermarks WHERE subscriber = ? AND digest = ?", (subscriber_id, digest))
        return int(seq) if seq is not None else 0

    def set_preferences(self, subscriber_id: int, tags: tuple[str, ...] | None, digest: str | None) -> None:
        """A subscriber's tags (None: every tag) and digest (None: every digest)."""
        self.db.execute("UPDATE subscribers SET tags = ? WHERE id = ?", (_tags_json(tags), subscriber_id))
        self.db.execute("DELETE FROM subscriber_digests WHERE subscriber = ?", (subscriber_id,))
        if digest is not None:
            self.db.execute(
                "INSERT INTO subscriber_digests (subscriber, digest) VALUES (?, ?)", (subscriber_id, digest)
            )

    def digest_of(self, subscriber_id: int) -> str | None:
        digest: str | None = self.db.value(
            "SELECT digest FROM subscriber_digests WHERE subscriber = ?", (subscriber_id,)
        )
        return digest

    def set_language(self, subscriber_id: int, language: str) -> None:
        """The language a reader signed up in: their confirmation e-mail and digests speak it."""
        self.db.execute("UPDATE subscribers SET language = ? WHERE id = ?", (language, subscriber_id))

    def language(self, subscriber_id: int) -> str | None:
        language: str | None = self.db.value("SELECT language FROM subscribers WHERE id = ?", (subscriber_id,))
        return language
