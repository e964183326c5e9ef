"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording every message it accepts.

Chosen recipients can be refused: ``temporary[address] = n`` answers 451 to
the first n attempts, ``permanent`` addresses always get 550.
"""

from __future__ import annotations

import contextlib
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
    senders: list[str] = field(default_factory=list)  # each accepted message's MAIL FROM
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
            self.senders.append(envelope.mail_from)
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
def mail_server(recorder: Recorder, port: int | None = None) -> Iterator[int]:
    """Run the server for the duration of the block (on ``port``, or a free one); yields its port."""
    controller = Controller(recorder, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


class HostileServer:
    """An SMTP server on 127.0.0.1, written with plain sockets, that misbehaves in one chosen way.

    ``fault`` is one of:
    - ``drop-after-250``: takes one message per connection, answers 250, then closes without waiting for QUIT;
    - ``trickle-ehlo``: answers EHLO with a ``250-`` continuation line every ``interval`` seconds, never ending;
    - ``trickle-reply``: takes the message, then trickles ``250-`` lines the same way instead of its reply;
    - ``late-250``: takes the message and answers 250 only once the client has given up waiting (closed).

    ``received`` holds (recipient, message bytes) of every message taken in full.
    """

    def __init__(self, fault: str, interval: float = 0.05) -> None:
        self.fault, self.interval = fault, interval
        self.received: list[tuple[str, bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closing = threading.Event()
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=10)

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _trickle(self, conn: socket.socket) -> None:
        """``250-`` lines at ``interval`` until the client hangs up (or the test ends)."""
        while not self.closing.wait(self.interval):
            try:
                conn.sendall(b"250-still working\r\n")
            except OSError:
                return

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 hostile.test ESMTP\r\n")
            recipient = ""
            for line in lines:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    if self.fault == "trickle-ehlo":
                        return self._trickle(conn)
                    conn.sendall(b"250-hostile.test\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT":
                    recipient = line.decode().partition("<")[2].partition(">")[0]
                    conn.sendall(b"250 OK\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    body = b"".join(iter(lines.readline, b".\r\n"))
                    self.received.append((recipient, body))
                    if self.fault == "trickle-reply":
                        return self._trickle(conn)
                    if self.fault == "late-250":
                        conn.recv(1)  # returns once the client has closed the connection
                    with contextlib.suppress(OSError):
                        conn.sendall(b"250 OK: queued\r\n")
                    if self.fault in ("drop-after-250", "late-250"):
                        return None
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return None
                else:  # MAIL, RSET, NOOP
                    conn.sendall(b"250 OK\r\n")
        return None

    def per_recipient(self) -> Counter[str]:
        return Counter(address for address, _ in self.received)
