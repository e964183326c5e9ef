"""Unsubscribes are recorded first in a queue of their own, then applied to the state database.

A publish can hold the state database's write lock for minutes; a reader's
one-click unsubscribe must neither wait for it nor be lost. So an unsubscribe
is first written to the unsubscribe queue (on SQLite <state>-unsubscribes.db,
which only ever sees short transactions), and reaches the subscribers table at
once when the state database is free, else at the next chance: the web app's
mailer thread, and always before a digest is frozen or sent.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from .errors import StateBusy
from .model import Subscriber, SubscriberStatus
from .state import State


def record_unsubscribe(store: State, subscriber: Subscriber, at: datetime) -> None:
    """Write down that this subscriber unsubscribed at ``at``; never waits for the state database."""
    store.unsubscribes.record(subscriber.id, subscriber.address, at)


def apply_unsubscribes(store: State) -> int:
    """Mark every recorded unsubscribe in the state database, then forget it; returns how many changed.

    Applying twice changes nothing more (a crash between the two steps loses nothing). An entry is
    skipped when its id now belongs to another address, or the reader confirmed a new sign-up since.
    """
    queued = store.unsubscribes.waiting()
    if not queued:
        return 0
    changed = 0
    with store.transaction():
        for entry in queued:
            now = store.subscribers.by_id(entry.subscriber)
            if (
                now is None
                or now.address.lower() != entry.address.lower()
                or now.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
            ):
                continue
            if now.confirmed is not None and now.confirmed > entry.at:
                continue
            store.subscribers.set_status(entry.subscriber, SubscriberStatus.UNSUBSCRIBED)
            changed += 1
    store.unsubscribes.forget_through(queued[-1].id)
    return changed


def apply_if_free(store: State) -> None:
    """Apply recorded unsubscribes now unless another process holds the state database (then: later)."""
    with store.reopen(timeout=0) as free, contextlib.suppress(StateBusy):
        apply_unsubscribes(free)
