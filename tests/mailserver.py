"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording every message it accepts.

Chosen recipients can be refused: ``temporary[address] = n`` answers 451 to
the first n attempts, ``permanent`` addresses always get 550.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller


@dataclass
class Recorder:
    """The handler: keeps (recipients, raw bytes) of every accepted message."""

    temporary: dict[str, int] = field(default_factory=dict)
    permanent: set[str] = field(default_factory=set)
    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.permanent:
            self.refusals[address] += 1
            return "550 5.1.1 No such mailbox"
        if self.temporary.get(address, 0) > 0:
            self.temporary[address] -= 1
            self.refusals[address] += 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.changed:
            self.received.append((list(envelope.rcpt_tos), envelope.content))
            self.changed.notify_all()
        return "250 OK: queued"

    def wait_for(self, count: int, timeout: float = 60) -> bool:
        """Block until at least ``count`` messages have arrived (no polling, no fixed sleep)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.received) >= count, timeout)

    def messages(self) -> list[EmailMessage]:
        return [BytesParser(policy=policy.default).parsebytes(raw) for _, raw in self.received]

    def per_recipient(self) -> Counter[str]:
        return Counter(address for rcpts, _ in self.received for address in rcpts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def mail_server(recorder: Recorder) -> Iterator[int]:
    """Run the server for the duration of the block; yields its port."""
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()
