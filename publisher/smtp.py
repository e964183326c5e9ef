"""One SMTP session that sends a message at a time and says what became of it; it never waits for a retry.

Every exchange with the server (connecting, EHLO, each message) has a deadline
of ``smtp.timeout`` as a whole, not only per read, so a server that trickles
its reply cannot hold a send for ever. A message handed over in full whose
reply does not come in time (or never comes) may have been delivered: it is
'unknown' (delivery.py does not send it again by itself).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import SmtpConfig
from .errors import ConfigError, DeliveryError
from .model import OutboxStatus

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


@dataclass(frozen=True)
class Result:
    """What became of one message handed to the server: the outbox status it moves to, and why."""

    outcome: OutboxStatus
    detail: str = ""


def smtp_password(smtp: SmtpConfig) -> str | None:
    """The password from the environment variable config.toml names; never from the file itself."""
    if smtp.username is None:
        return None
    if smtp.password_env is None:
        raise ConfigError("config: smtp.username is set but smtp.password_env is missing; name the variable")
    password = os.environ.get(smtp.password_env)
    if not password:
        raise ConfigError(f"environment: {smtp.password_env} (smtp.password_env) is not set; expected the password")
    return password


class _Deadline(smtplib.SMTP):
    """smtplib with a deadline on a whole exchange, not only on each socket read.

    ``limit(seconds)`` starts an exchange; every read and write after it gets only
    what is left of those seconds, so a reply trickled a line (or a byte) at a time
    still ends in a TimeoutError.
    """

    _deadline = math.inf

    def limit(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply within {self.timeout:g} s")
        return min(left, self.timeout)

    def send(self, s: ReadableBuffer | str) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.remaining())
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None and not isinstance(self.file, _Lines):
            self.file = _Lines(self)  # smtplib only calls its readline() and close()
        return super().getreply()


class _Lines:
    """Reply lines read from the session's socket, each read bounded by what is left of the deadline."""

    def __init__(self, session: _Deadline) -> None:
        self.session = session
        self.buffer = b""

    def readline(self, limit: int) -> bytes:
        sock = self.session.sock
        while sock is not None and b"\n" not in self.buffer and len(self.buffer) < limit:
            sock.settimeout(self.session.remaining())
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                raise TimeoutError(f"no complete reply within {self.session.timeout:g} s") from None
            if not chunk:
                break
            self.buffer += chunk
        end = min(self.buffer.find(b"\n") + 1 or len(self.buffer), limit)
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        return line

    def close(self) -> None:
        self.buffer = b""


class _TlsSession(_Deadline, smtplib.SMTP_SSL):
    pass


class _Lost(Exception):
    """The connection broke (or timed out) before the message was handed over in full: not sent."""


def _decoded(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reason(exc: BaseException) -> str:
    """An exception as a few words for an error line."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_decoded(exc.smtp_error)}"
    if isinstance(exc, socket.gaierror):
        return f"host not found: {exc.strerror}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text.removeprefix("Connection unexpectedly closed: ")


_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class Sender:
    """A persistent SMTP session, opened when first needed and again after the server drops it.

    ``send`` says what became of one message; a server that cannot be reached, or
    that drops a fresh connection before taking the message, is a DeliveryError.
    """

    def __init__(self, smtp: SmtpConfig) -> None:
        self.smtp = smtp
        self.password = smtp_password(smtp)
        self.session: _Deadline | None = None
        self.where = f"smtp {smtp.host}:{smtp.port}"

    def open(self) -> _Deadline:
        """The live session; one that cannot be opened is a DeliveryError at once (no retries here)."""
        if self.session is not None:
            return self.session
        smtp = self.smtp
        context = ssl.create_default_context() if smtp.security != "none" else None  # loading CAs takes 50 ms
        session: _Deadline
        if smtp.security == "tls":
            session = _TlsSession(timeout=smtp.timeout, context=context)
        else:
            session = _Deadline(timeout=smtp.timeout)
        try:
            session.limit(smtp.timeout)
            session.connect(smtp.host, smtp.port)
            session.limit(smtp.timeout)
            session.ehlo_or_helo_if_needed()
            if smtp.security == "starttls":
                session.limit(smtp.timeout)
                session.starttls(context=context)
                session.limit(smtp.timeout)
                session.ehlo()
            if smtp.username is not None:
                session.limit(smtp.timeout)
                session.login(smtp.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            session.close()
            raise DeliveryError(f"{self.where}: login as {smtp.username!r} refused: {exc.smtp_code}") from None
        except smtplib.SMTPNotSupportedError as exc:
            session.close()
            raise DeliveryError(f"{self.where}: {exc}; check smtp.security") from None
        except (OSError, smtplib.SMTPException) as exc:
            session.close()
            raise DeliveryError(f"{self.where}: cannot connect ({_reason(exc)})") from None
        self.session = session
        return session

    def send(self, sender: str, recipient: str, data: bytes) -> Result:
        """One message; after a dropped connection it is tried once more on a fresh one (the drop is not
        the recipient's fault). A fresh connection that drops too is a DeliveryError."""
        fresh = self.session is None
        while True:
            session = self.open()
            try:
                return self._exchange(session, sender, recipient, data)
            except _Lost as lost:
                self.drop()
                if fresh:
                    raise DeliveryError(
                        f"{self.where}: connection lost before the message to {recipient} ({lost})"
                    ) from None
                fresh = True

    def _exchange(self, session: _Deadline, sender: str, recipient: str, data: bytes) -> Result:
        session.limit(self.smtp.timeout)
        handed = False
        try:
            stage = "MAIL"
            code, text = session.mail(sender)
            if code == 250:
                stage = "RCPT"
                code, text = session.rcpt(recipient)
            if code in (250, 251) and stage == "RCPT":
                stage = "DATA"
                code, text = session.docmd("DATA")
            if code == 354:
                stage = "message"
                body = _LEADING_DOT.sub(b"..", data)
                session.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
                handed = True
                code, text = session.getreply()
                if code == 250:
                    return Result(OutboxStatus.SENT)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            if not handed:
                raise _Lost(_reason(exc)) from None
            self.drop()
            return Result(
                OutboxStatus.UNKNOWN, f"outcome unknown: no reply after the whole message was sent ({_reason(exc)})"
            )
        detail = f"{code} {_decoded(text)}"
        if code == 421:  # the server is closing the connection
            self.drop()
        else:
            try:
                session.limit(self.smtp.timeout)
                session.rset()
            except (OSError, smtplib.SMTPException):
                self.drop()
        if 500 <= code < 600:
            return Result(OutboxStatus.BOUNCED if stage == "RCPT" else OutboxStatus.FAILED, detail)
        return Result(OutboxStatus.RETRY, detail)

    def drop(self) -> None:
        if self.session is not None:
            try:
                self.session.close()
            finally:
                self.session = None

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.session.limit(self.smtp.timeout)
                self.session.quit()
            self.drop()
