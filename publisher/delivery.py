"""outbox -> SMTP: one persistent connection, one pass, per-recipient status; nothing ever sleeps for a retry.

Each message is committed as sent right after the server's 250 for it, in the
same transaction that moves the subscriber's watermark. A crash can therefore
cost at most the one message between the server's 250 and our commit: it is
sent again on resume, with the same Message-ID. Every other message goes out
exactly once.

A send makes one pass over the messages that are due. A 4xx reply sets the
message's ``not_before`` and the pass moves on; a later send (or a later tick
of ``publisher run``) takes it up. A server that cannot be reached ends the
pass at once with a DeliveryError: the outbox is kept as it is.

Every exchange with the server (connecting, EHLO, each message) has a deadline
of ``smtp.timeout`` as a whole, not only per read, so a server that trickles
its reply cannot hold a send for ever. A message handed over in full whose
reply does not come in time (or never comes) may have been delivered: it is
recorded as 'unknown' and not sent again by itself (``publisher outbox retry``
does), since sending it again would give every reader of a slow server two copies.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from .addresses import parse_mailbox
from .config import Config, DigestConfig, SmtpConfig
from .digest import Render, Renderer, RunPlan, freeze_run, message_bytes, plan_run
from .errors import ConfigError, DeliveryError
from .locks import holding
from .publish import Progress, live_posts
from .slots import current_slot, local_time
from .state import OutboxItem, State, Waiting, open_state
from .tokens import secret_from_env
from .unsubscribes import apply_unsubscribes

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]
Stop = Callable[[], bool]  # True once the process has been asked to stop (SIGTERM): finish the message in flight
PROGRESS_FROM = 50  # a send of more messages than this shows a progress bar on a terminal
# The words for outbox states, in this order, in `digest send`, `publisher outbox` and the run log.
STATE_WORDS = {"sent": "sent", "pending": "waiting", "retry": "waiting", "bounced": "bounced", "failed": "failed"}
UNKNOWN_WORDS = "outcome unknown"  # shown only when there are any


class Outcome(enum.Enum):
    """What became of one message handed to the server."""

    SENT = "sent"
    WAIT = "retry"  # a 4xx: try again after not_before
    BOUNCED = "bounced"  # the server refused the recipient for good
    FAILED = "failed"  # refused for good, but not for the recipient's address
    UNKNOWN = "unknown"  # handed over in full, no reply in time: maybe delivered


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""


@dataclass
class DeliveryReport:
    """What one send did, for the summary line and for tests."""

    slot: datetime | None = None
    planned: RunPlan | None = None  # the run frozen (or, in a dry run, that would be) by this send
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # address -> why it was not sent
    waiting: Waiting = field(
        default_factory=lambda: Waiting(0, None)
    )  # this digest's messages left in the outbox after the send


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


class _Deadline:
    """smtplib with a deadline on a whole exchange, not only on each socket read.

    ``limit(seconds)`` starts an exchange; every read and write after it gets only
    what is left of those seconds, so a reply trickled a line (or a byte) at a time
    still ends in a TimeoutError.
    """

    timeout: float
    sock: socket.socket | None
    _deadline = math.inf

    def limit(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply within {self.timeout:g} s")
        return min(left, self.timeout)

    def send(self, s: bytes | str) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.remaining())
        super().send(s)  # type: ignore[misc]

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None and not isinstance(self.file, _Lines):  # type: ignore[has-type]
            self.file = _Lines(self)
        return super().getreply()  # type: ignore[misc]


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


class _Session(_Deadline, smtplib.SMTP):
    pass


class _TlsSession(_Deadline, smtplib.SMTP_SSL):
    pass


class _Lost(Exception):
    """The connection broke (or timed out) before the message was handed over in full: not sent."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reason(exc: BaseException) -> str:
    """An exception as a few words for an error line."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
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

    def __init__(self, smtp: SmtpConfig, clock: Clock, sleep: Sleep) -> None:
        self.smtp = smtp
        self.password = smtp_password(smtp)
        self.throttle = _Throttle(smtp.rate_limit, clock, sleep)
        self.session: _Deadline | None = None
        self.where = f"smtp {smtp.host}:{smtp.port}"

    def open(self) -> _Deadline:
        """The live session; one that cannot be opened is a DeliveryError at once (no retries here)."""
        if self.session is not None:
            return self.session
        smtp = self.smtp
        context = ssl.create_default_context() if smtp.security != "none" else None  # loading CAs takes 50 ms
        session: _Session | _TlsSession
        if smtp.security == "tls":
            session = _TlsSession(timeout=smtp.timeout, context=context)
        else:
            session = _Session(timeout=smtp.timeout)
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
        self.throttle.wait()
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
            code, text = session.mail(sender)  # type: ignore[attr-defined]
            if code == 250:
                stage = "RCPT"
                code, text = session.rcpt(recipient)  # type: ignore[attr-defined]
            if code in (250, 251) and stage == "RCPT":
                stage = "DATA"
                code, text = session.docmd("DATA")  # type: ignore[attr-defined]
            if code == 354:
                stage = "message"
                body = _LEADING_DOT.sub(b"..", data)
                session.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
                handed = True
                code, text = session.getreply()
                if code == 250:
                    return Result(Outcome.SENT)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            if not handed:
                raise _Lost(_reason(exc)) from None
            self.drop()
            return Result(
                Outcome.UNKNOWN, f"outcome unknown: no reply after the whole message was sent ({_reason(exc)})"
            )
        detail = f"{code} {_text(text)}"
        if code == 421:  # the server is closing the connection
            self.drop()
        else:
            try:
                session.limit(self.smtp.timeout)
                session.rset()  # type: ignore[attr-defined]
            except (OSError, smtplib.SMTPException):
                self.drop()
        if 500 <= code < 600:
            return Result(Outcome.BOUNCED if stage == "RCPT" else Outcome.FAILED, detail)
        return Result(Outcome.WAIT, detail)

    def drop(self) -> None:
        if self.session is not None:
            try:
                self.session.close()  # type: ignore[attr-defined]
            finally:
                self.session = None

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.session.limit(self.smtp.timeout)
                self.session.quit()  # type: ignore[attr-defined]
            self.drop()


class _Throttle:
    """At most ``rate`` messages per second (0: no limit), waiting through the injected sleep."""

    def __init__(self, rate: float, clock: Clock, sleep: Sleep) -> None:
        self.interval = timedelta(seconds=1 / rate) if rate > 0 else None
        self.clock, self.sleep = clock, sleep
        self.next: datetime | None = None

    def wait(self) -> None:
        if self.interval is None:
            return
        now = self.clock()
        if self.next is not None and now < self.next:
            self.sleep((self.next - now).total_seconds())
            now = self.next
        self.next = now + self.interval


@dataclass(frozen=True)
class Outgoing:
    """One queued message as the sending pass sees it; ``item`` is the queue's own row."""

    id: int
    address: str
    attempts: int
    not_before: datetime | None
    item: Any


class Queue(Protocol):
    """A table of messages to send (a digest's outbox, the confirmation e-mails) and how to record
    what became of each; the recording methods run inside a transaction of the sending pass."""

    def items(self) -> list[Outgoing]: ...
    def refused(self, out: Outgoing) -> str | None: ...  # why not to send it at all (the reader left), or None
    def envelope(self, out: Outgoing) -> tuple[str, bytes]: ...  # (envelope sender, message bytes)
    def sent(self, out: Outgoing, when: datetime) -> None: ...
    def retry(self, out: Outgoing, later: datetime, error: str) -> None: ...
    def done(self, out: Outgoing, outcome: Outcome, error: str) -> None: ...  # failed, bounced or unknown


def _record(
    store: State, queue: Queue, out: Outgoing, result: Result, report: DeliveryReport, smtp: SmtpConfig, now: datetime
) -> None:
    """Commit what became of one message, and count it."""
    outcome, detail = result.outcome, result.detail
    if outcome is Outcome.WAIT and out.attempts + 1 > smtp.max_retries:
        outcome, detail = Outcome.FAILED, f"{detail} (gave up after {out.attempts + 1} tries)"
    with store.transaction():
        if outcome is Outcome.SENT:
            queue.sent(out, now)
        elif outcome is Outcome.WAIT:
            queue.retry(out, now + timedelta(seconds=smtp.retry_base_seconds * 2**out.attempts), detail)
        else:
            queue.done(out, outcome, detail)
    if outcome is Outcome.SENT:
        report.sent += 1
        return
    report.reasons[out.address] = detail
    {Outcome.BOUNCED: report.bounced, Outcome.FAILED: report.failed, Outcome.UNKNOWN: report.unknown}.get(
        outcome, []
    ).append(out.address)


def deliver_queue(
    smtp: SmtpConfig,
    store: State,
    queue: Queue,
    report: DeliveryReport,
    *,
    clock: Clock,
    sleep: Sleep,
    stopping: Stop = lambda: False,
    progress: Progress | None = None,
    label: str = "sending",
) -> None:
    """One pass over the queue's messages that are due, oldest first: each is sent, set to wait for a
    retry, or marked bounced, failed or unknown. Nothing here waits for a retry. A server that cannot
    be reached raises DeliveryError; what is left stays queued for the next pass."""
    now = clock()
    items = [i for i in queue.items() if i.not_before is None or i.not_before <= now]
    if not items:
        return
    sender = Sender(smtp, clock, sleep)
    show = progress if len(items) > PROGRESS_FROM else None
    try:
        for done, out in enumerate(items):
            if show:
                show(label, done, len(items))
            if stopping():
                break
            why = queue.refused(out)
            if why is not None:
                _record(store, queue, out, Result(Outcome.FAILED, why), report, smtp, clock())
                continue
            envelope_from, data = queue.envelope(out)
            _record(store, queue, out, sender.send(envelope_from, out.address, data), report, smtp, clock())
    finally:
        sender.close()


class _DigestOutbox:
    """The outbox rows of one digest; each message is built from its run's shared render."""

    def __init__(self, config: Config, store: State, digest: DigestConfig) -> None:
        self.config, self.store, self.digest = config, store, digest
        self.renders: dict[int, Render] = {}
        self.envelope_from = parse_mailbox(digest.from_address)[1]

    def items(self) -> list[Outgoing]:
        return [
            Outgoing(item.id, item.fields["address"], item.attempts, item.not_before, item)
            for item in self.store.runs.open_messages(self.digest.name)
        ]

    def refused(self, out: Outgoing) -> str | None:
        status = out.item.subscriber_status
        return None if status == "active" else f"not sent: the subscriber is {status or 'removed'}"

    def envelope(self, out: Outgoing) -> tuple[str, bytes]:
        item: OutboxItem = out.item
        if item.body not in self.renders:
            self.renders[item.body] = Render(*self.store.runs.body(item.body))
        render = self.renders[item.body]
        return item.fields.get("return_path", self.envelope_from), message_bytes(
            self.config, self.digest, item.slot, item.frozen, item.subscriber, render, item.fields
        )

    def sent(self, out: Outgoing, when: datetime) -> None:
        self.store.runs.mark_sent(out.item, when)

    def retry(self, out: Outgoing, later: datetime, error: str) -> None:
        self.store.runs.mark_retry(out.item, later, error)

    def done(self, out: Outgoing, outcome: Outcome, error: str) -> None:
        self.store.runs.mark_done(out.item, outcome.value, error)
        if outcome is Outcome.BOUNCED:
            self.store.subscribers.set_status(out.item.subscriber, "bounced")


def deliver(
    config: Config,
    store: State,
    digest: DigestConfig,
    report: DeliveryReport,
    *,
    clock: Clock,
    sleep: Sleep,
    stopping: Stop = lambda: False,
    progress: Progress | None = None,
) -> None:
    """One pass over this digest's messages that are due (deliver_queue over its outbox)."""
    outbox = _DigestOutbox(config, store, digest)
    try:
        deliver_queue(
            config.smtp, store, outbox, report, clock=clock, sleep=sleep, stopping=stopping, progress=progress,
            label=f"{digest.name}: sending",
        )  # fmt: skip
    except DeliveryError as exc:
        left = store.runs.waiting().get(digest.name, Waiting(0, None)).count
        raise DeliveryError(f"{exc}; {report.sent} sent, {left} left in the outbox: send again later") from None


def send_digest(
    config: Config,
    name: str,
    now: datetime,
    *,
    clock: Clock,
    sleep: Sleep,
    dry_run: bool = False,
    new_run: bool = True,
    stopping: Stop = lambda: False,
    progress: Progress | None = None,
) -> DeliveryReport:
    """Finish earlier runs of this digest, then freeze the current slot's run (once) and send it.

    Earlier runs go first so that a subscriber's watermark has moved before the
    new run selects for them: a crash never makes the next run repeat posts.
    ``new_run=False`` only finishes earlier runs (the scheduler skipped the current
    slot). One process at a time sends a digest: two would send the same outbox.
    """
    digest = config.digest(name)
    report = DeliveryReport(slot=current_slot(digest, now) if new_run else None)
    secret = secret_from_env()
    with open_state(config.state) as store:
        if dry_run:
            report.waiting = store.runs.waiting().get(digest.name, report.waiting)
            if report.slot is not None and not store.runs.exists(digest.name, report.slot):
                posts = live_posts(config, now)
                report.planned = plan_run(
                    Renderer(config, digest), posts, store.published.seqs(), store.subscribers.active(digest.name)
                )
            return report
        with holding(store, f"digest {name}", f"digest {name!r} is being sent by another process"):
            try:
                apply_unsubscribes(store)  # recorded while the state database was busy: no mail after leaving
                args = {"clock": clock, "sleep": sleep, "stopping": stopping, "progress": progress}
                deliver(config, store, digest, report, **args)
                if report.slot is not None and not stopping():
                    posts = live_posts(config, now)
                    report.planned = freeze_run(config, store, digest, report.slot, posts, now, secret)
                    deliver(config, store, digest, report, **args)
            finally:
                report.waiting = store.runs.waiting().get(digest.name, report.waiting)
    return report


def requeue(config: Config, digest: str | None) -> int:
    """`publisher outbox retry`: failed and outcome-unknown messages to active subscribers go again at the
    next send; how many."""
    if digest is not None:
        config.digest(digest)
    with open_state(config.state) as store, store.transaction():
        return store.runs.requeue(digest)


def describe(counts: Mapping[str, int], retry_at: str | None = None) -> str:
    """Outbox states in the words and order every command and log line uses:
    ``3 sent, 2 waiting for retry at 08:31 CET, 0 bounced, 0 failed``."""
    words = dict.fromkeys(("sent", "waiting", "bounced", "failed"), 0)
    for state, count in counts.items():
        words[STATE_WORDS.get(state, state)] = words.get(STATE_WORDS.get(state, state), 0) + count
    unknown = words.pop("unknown", 0)
    parts = [f"{count} {word}" for word, count in words.items()]
    if retry_at and words["waiting"]:
        parts[1] += f" for retry at {retry_at}"
    return ", ".join(parts) + (f", {unknown} {UNKNOWN_WORDS}" if unknown else "")


def _retry_at(digest: DigestConfig, waiting: Waiting, now: datetime) -> str | None:
    """When the first waiting message may go, in the digest's zone; None when one may go now."""
    if waiting.first is None or waiting.first <= now:
        return None
    local = waiting.first.astimezone(digest.tz)
    return (
        f"{local:%H:%M %Z}" if local.date() == now.astimezone(digest.tz).date() else local_time(digest, waiting.first)
    )


def summary(digest: DigestConfig, report: DeliveryReport, now: datetime) -> str:
    """One line for `digest send` and the run log: the slot in the digest's zone, what was frozen, the counts."""
    plan = report.planned
    what = f"slot {local_time(digest, report.slot)}" if report.slot else "earlier runs"
    frozen = (
        f"froze {len(plan.messages)} messages ({len(plan.renders)} renders, {len(plan.posts)} posts); "
        if plan
        else ("already frozen; " if report.slot else "")
    )
    counts = {
        "sent": report.sent,
        "waiting": report.waiting.count,
        "bounced": len(report.bounced),
        "failed": len(report.failed),
        "unknown": len(report.unknown),
    }
    return f"{what}: {frozen}{describe(counts, _retry_at(digest, report.waiting, now))}"


def dry_run_summary(digest: DigestConfig, report: DeliveryReport, now: datetime) -> str:
    """What a send would do now, said as such: nothing was frozen, sent or recorded."""
    waiting = report.waiting.count
    earlier = f"{waiting} message{'s' if waiting != 1 else ''} waiting in the outbox"
    retry = _retry_at(digest, report.waiting, now)
    earlier += f" (the first at {retry})" if retry and waiting else ""
    plan = report.planned
    if report.slot is None:
        new = "no new slot"
    elif plan is None:
        new = f"slot {local_time(digest, report.slot)} is frozen already"
    else:
        new = (
            f"slot {local_time(digest, report.slot)} would be frozen with {len(plan.messages)} messages "
            f"({len(plan.renders)} renders, {len(plan.posts)} posts)"
        )
    return f"dry run, nothing sent or changed: {new}; {earlier}"
