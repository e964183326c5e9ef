"""Named locks in the state database, so that two processes never do the same work at once.

A lock records its holder's pid, host and start. On SQLite, a holder on this
host whose process is gone (a crash, a kill -9) is taken over; one on another
host cannot be checked from here and always blocks, with a message naming it.
On PostgreSQL the server holds the lock for the holder's connection and frees it
when that connection ends, whichever host it was on.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .errors import Busy
from .state import LockHolder, State

log = logging.getLogger("publisher")


def process_gone(host: str, pid: int) -> bool:
    """Whether process ``pid`` of ``host`` has ended; a process on another host cannot be checked (False).
    Our own pid in a lock or claim we do not hold is left from an earlier process with that pid
    (a restarted container)."""
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, run by another user
        return False
    return False


@contextmanager
def holding(store: State, name: str, busy: str) -> Iterator[None]:
    """Hold lock ``name`` for the block; while a live process holds it, raise Busy: "{busy}: {holder}".

    ``since`` is the wall clock's, not the scheduler's: it tells a person when that process started.
    """
    me = LockHolder(os.getpid(), socket.gethostname(), datetime.now(UTC))
    server = store.locks.held_by_server  # PostgreSQL: the server's lock decides, and frees it if we vanish
    if server and not store.locks.try_server_lock(name):
        raise Busy(f"{busy}: {store.locks.holder(name) or 'a process on another connection'}")
    try:
        with store.transaction():
            holder = store.locks.holder(name)
            if holder is not None and not server and not process_gone(holder.host, holder.pid):
                raise Busy(f"{busy}: {holder}")
            store.locks.take(name, me)
        if holder is not None:
            log.warning("took over lock %r from %s: that process is gone", name, holder)
        try:
            yield
        finally:
            with store.transaction():
                store.locks.release(name, me)
    finally:
        if server:
            store.locks.release_server_lock(name)
