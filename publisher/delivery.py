"""outbox -> SMTP: one persistent connection, per-recipient status, retries with backoff, a rate limit.

Each message is committed as sent right after the server's 250 for it, in the
same transaction that moves the subscriber's watermark. A crash can therefore
cost at most the one message between the server's 250 and our commit: it is
sent again on resume, with the same Message-ID. Every other message goes out
exactly once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from .addresses import parse_mailbox
from .config import Config, DigestConfig, SmtpConfig
from .digest import Render, Renderer, RunPlan, freeze_run, message_bytes, plan_run, wire_bytes
from .errors import ConfigError, DeliveryError
from .locks import holding
from .publish import live_posts
from .slots import current_slot
from .store import Store
from .tokens import secret_from_env

OUTBOX_STATES = (("sent", "sent"), ("pending", "pending"), ("retry", "retrying"), ("failed", "failed"))
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]
Stop = Callable[[], bool]  # True once the process has been asked to stop (SIGTERM): finish the message in flight


@dataclass
class DeliveryReport:
    """What one send did, for the summary line and for tests."""

    slot: datetime | None = None
    planned: RunPlan | None = None  # the run frozen (or, in a dry run, that would be) by this send
    sent: int = 0
    retried: int = 0
    failed: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # address -> why it failed or bounced
    waiting: int = 0  # messages of earlier runs still to send (dry run)


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


class Connection:
    """A persistent SMTP session, opened when first needed and again after the server drops it."""

    def __init__(self, smtp: SmtpConfig, sleep: Sleep) -> None:
        self.smtp = smtp
        self.password = smtp_password(smtp)
        self.sleep = sleep
        self.session: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        smtp = self.smtp
        context = ssl.create_default_context() if smtp.security != "none" else None  # loading CAs takes 50 ms
        if smtp.security == "tls":
            session: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            session = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        try:
            if smtp.security == "starttls":
                session.starttls(context=context)
            if smtp.username is not None:
                session.login(smtp.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            session.close()
            raise DeliveryError(
                f"smtp {smtp.host}:{smtp.port}: login as {smtp.username!r} refused: {exc.smtp_code}"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            session.close()
            raise DeliveryError(f"smtp {smtp.host}:{smtp.port}: {exc}; check smtp.security") from None
        return session

    def open(self) -> smtplib.SMTP:
        """The live session; connection failures are retried with backoff, then a DeliveryError."""
        if self.session is not None:
            return self.session
        for attempt in range(self.smtp.max_retries + 1):
            try:
                self.session = self._open()
                return self.session
            except (OSError, smtplib.SMTPException) as exc:
                error = exc
                if attempt < self.smtp.max_retries:
                    self.sleep(self.smtp.retry_base_seconds * 2**attempt)
        raise DeliveryError(
            f"smtp {self.smtp.host}:{self.smtp.port}: cannot connect ({error}); the outbox is kept, send again later"
        )

    def drop(self) -> None:
        if self.session is not None:
            try:
                self.session.close()
            finally:
                self.session = None

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.session.quit()
            self.session = None


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


def _code(exc: Exception, address: str) -> tuple[int, str]:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = exc.recipients.get(address, (550, b"refused"))
        return code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        return exc.smtp_code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return 0, str(exc) or type(exc).__name__


def deliver(
    config: Config,
    store: Store,
    digest: DigestConfig,
    report: DeliveryReport,
    *,
    clock: Clock,
    sleep: Sleep,
    stopping: Stop = lambda: False,
) -> None:
    """Send every pending or retrying message of this digest, oldest first, until each is sent or failed
    (or until ``stopping``: what is left stays in the outbox for the next send)."""
    items = store.open_messages(digest.name)
    if not items:
        return
    smtp = config.smtp
    connection = Connection(smtp, sleep)
    throttle = _Throttle(smtp.rate_limit, clock, sleep)
    renders: dict[int, Render] = {}
    envelope_from = parse_mailbox(digest.from_address)[1]
    queue = [(item.not_before or datetime.min.replace(tzinfo=clock().tzinfo), item.id, item) for item in items]
    heapq.heapify(queue)
    try:
        while queue:
            not_before, _, item = heapq.heappop(queue)
            now = clock()
            if not_before > now:
                sleep((not_before - now).total_seconds())
            if item.subscriber_status != "active":
                with store.transaction():
                    store.mark_failed(item, f"not sent: the subscriber is {item.subscriber_status or 'removed'}")
                report.failed.append(item.fields["address"])
                report.reasons[item.fields["address"]] = (
                    f"not sent: the subscriber is {item.subscriber_status or 'removed'}"
                )
                continue
            if item.body not in renders:
                renders[item.body] = Render(*store.run_body(item.body))
            data = message_bytes(
                config, digest, item.slot, item.frozen, item.subscriber, renders[item.body], item.fields
            )
            address = item.fields["address"]
            throttle.wait()
            if stopping():
                break
            try:
                connection.open().sendmail(envelope_from, [address], data)
            except (OSError, smtplib.SMTPException) as exc:
                if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                    connection.drop()
                code, text = _code(exc, address)
                if 500 <= code < 600:
                    report.reasons[address] = f"{code} {text}"
                    with store.transaction():
                        store.mark_failed(item, f"{code} {text}")
                        if isinstance(exc, smtplib.SMTPRecipientsRefused):
                            store.set_subscriber_status(item.subscriber, "bounced")
                            report.bounced.append(address)
                        else:
                            report.failed.append(address)
                    continue
                attempts = item.attempts + 1
                error = f"{code} {text}" if code else text
                if attempts > smtp.max_retries:
                    with store.transaction():
                        store.mark_failed(item, error)
                    report.failed.append(address)
                    report.reasons[address] = f"{error} (gave up after {attempts} tries)"
                    continue
                later = clock() + timedelta(seconds=smtp.retry_base_seconds * 2 ** (attempts - 1))
                with store.transaction():
                    store.mark_retry(item, later, error)
                report.retried += 1
                heapq.heappush(queue, (later, item.id, dataclasses.replace(item, attempts=attempts, not_before=later)))
                continue
            with store.transaction():
                store.mark_sent(item, clock())
            report.sent += 1
    finally:
        connection.close()


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
    with Store(config.state.path) as store:
        if dry_run:
            report.waiting = len(store.open_messages(digest.name))
            if not store.run_exists(digest.name, report.slot):
                posts = live_posts(config, now)
                report.planned = plan_run(
                    Renderer(config, digest), posts, store.published_seqs(), store.active_subscribers(digest.name)
                )
            return report
        with holding(store, f"digest {name}", f"digest {name!r} is being sent by another process"):
            deliver(config, store, digest, report, clock=clock, sleep=sleep, stopping=stopping)
            if report.slot is None or stopping():
                return report
            report.planned = freeze_run(config, store, digest, report.slot, live_posts(config, now), now, secret)
            deliver(config, store, digest, report, clock=clock, sleep=sleep, stopping=stopping)
    return report


def send_one(smtp: SmtpConfig, msg: EmailMessage) -> None:
    """One transactional message (a sign-up confirmation) over its own connection.

    No retries: a reader is waiting for the page, which asks them to try again later instead.
    """
    connection = Connection(dataclasses.replace(smtp, max_retries=0), sleep=lambda _seconds: None)
    recipient = msg["To"].addresses[0].addr_spec
    try:
        connection.open().sendmail(msg["From"].addresses[0].addr_spec, [recipient], wire_bytes(msg))
    except (OSError, smtplib.SMTPException) as exc:
        code, text = _code(exc, recipient)
        raise DeliveryError(
            f"smtp {smtp.host}:{smtp.port}: message to {recipient} not accepted: {code} {text}"
        ) from None
    finally:
        connection.close()
