"""WebSub pings a hub has yet to take: (hub, topic URL) pairs, kept until the hub answers."""

from __future__ import annotations

from collections.abc import Iterable

from .database import Database


class WebSubPings:
    def __init__(self, db: Database) -> None:
        self.db = db

    def queue(self, pings: Iterable[tuple[str, str]]) -> None:
        self.db.many("INSERT INTO websub_pings (hub, topic) VALUES (?, ?) ON CONFLICT (hub, topic) DO NOTHING", pings)

    def pending(self) -> list[tuple[str, str]]:
        return [
            (row["hub"], row["topic"])
            for row in self.db.rows("SELECT hub, topic FROM websub_pings ORDER BY hub, topic")
        ]

    def forget(self, hub: str, topic: str) -> None:
        self.db.execute("DELETE FROM websub_pings WHERE hub = ? AND topic = ?", (hub, topic))
