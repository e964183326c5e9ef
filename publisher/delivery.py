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

Any number of senders (``digest send --workers``, ``publisher worker`` on other
hosts) share one outbox: each pass claims a few messages at a time with a lease
(state/claims.py) and checks, before each message, that it still holds it with
at least half a lease left, so two senders never send the same message; the
messages of a sender that died go out once their lease has run out (at once, on
its own host). Its one message in flight may go twice, as above. ``[smtp]
rate_limit`` is kept by all of them together (state/pace.py).

The exchange with the server, with its deadlines, is smtp.py. A message handed
over in full whose reply does not come in time may have been delivered: it is
recorded as 'unknown' and not sent again by itself (``publisher outbox retry``
does), since sending it again would give every reader of a slow server two copies.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .addresses import parse_mailbox
from .clock import Clock, Sleep, Stop
from .config import Config, DigestConfig, SmtpConfig
from .errors import DeliveryError
from .locks import process_gone
from .message import Render, message_bytes
from .model import OutboxStatus, SubscriberStatus
from .reading import Progress
from .slots import local_time
from .smtp import Result, Sender
from .state import OutboxItem, State, Waiting, open_state

if TYPE_CHECKING:
    from .digest import RunPlan

PROGRESS_FROM = 50  # a send of more messages than this shows a progress bar on a terminal
# The words for outbox states, in this order, in `digest send`, `publisher outbox` and the run log.
STATE_WORDS: dict[str, str] = {
    OutboxStatus.SENT: "sent",
    OutboxStatus.PENDING: "waiting",
    OutboxStatus.RETRY: "waiting",
    OutboxStatus.BOUNCED: "bounced",
    OutboxStatus.FAILED: "failed",
}
UNKNOWN_WORDS = "outcome unknown"  # shown only when there are any


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

    def claim(self, now: datetime) -> list[Outgoing]: ...  # the next messages that are due, held for this pass
    def hold(self, out: Outgoing, now: datetime) -> bool: ...  # still this pass's to send? (renews its hold)
    def release(self) -> None: ...  # gives back what this pass claimed and did not handle
    def refused(self, out: Outgoing) -> str | None: ...  # why not to send it at all (the reader left), or None
    def envelope(self, out: Outgoing) -> tuple[str, bytes]: ...  # (envelope sender, message bytes)
    def sent(self, out: Outgoing, when: datetime) -> None: ...
    def retry(self, out: Outgoing, later: datetime, error: str) -> None: ...
    def done(self, out: Outgoing, outcome: OutboxStatus, error: str) -> None: ...  # failed, bounced or unknown


class Pace:
    """``[smtp] rate_limit`` for every sender of the server together, through the state database:
    each message waits (the injected sleep) for the moment it reserved."""

    def __init__(self, smtp: SmtpConfig, store: State, clock: Clock, sleep: Sleep) -> None:
        self.interval = 1 / smtp.rate_limit if smtp.rate_limit > 0 else 0.0
        self.name = f"{smtp.host}:{smtp.port}"
        self.store, self.clock, self.sleep = store, clock, sleep

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock().timestamp()
        start = self.store.pace.reserve(self.name, now, self.interval)
        if start > now:
            self.sleep(start - now)


def _record(
    store: State, queue: Queue, out: Outgoing, result: Result, report: DeliveryReport, smtp: SmtpConfig, now: datetime
) -> None:
    """Commit what became of one message, and count it."""
    outcome, detail = result.outcome, result.detail
    if outcome is OutboxStatus.RETRY and out.attempts + 1 > smtp.max_retries:
        outcome, detail = OutboxStatus.FAILED, f"{detail} (gave up after {out.attempts + 1} tries)"
    with store.transaction(row_locks=True):  # its rows only: senders record side by side on PostgreSQL
        if outcome is OutboxStatus.SENT:
            queue.sent(out, now)
        elif outcome is OutboxStatus.RETRY:
            queue.retry(out, now + timedelta(seconds=smtp.retry_base_seconds * 2**out.attempts), detail)
        else:
            queue.done(out, outcome, detail)
    if outcome is OutboxStatus.SENT:
        report.sent += 1
        return
    report.reasons[out.address] = detail
    {
        OutboxStatus.BOUNCED: report.bounced,
        OutboxStatus.FAILED: report.failed,
        OutboxStatus.UNKNOWN: report.unknown,
    }.get(outcome, []).append(out.address)


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
    expected: int = 0,
) -> None:
    """One pass over the queue's messages that are due, a claimed batch at a time, oldest first: each
    is sent, set to wait for a retry, or marked bounced, failed or unknown. Nothing here waits for a
    retry. A server that cannot be reached raises DeliveryError; what is left stays queued for the next
    pass. ``expected``: about how many messages the pass has, for the progress bar."""
    show = progress if expected > PROGRESS_FROM else None
    pace = Pace(smtp, store, clock, sleep)
    sender: Sender | None = None
    seen: set[int] = set()
    try:
        while not stopping():
            batch = [out for out in queue.claim(clock()) if out.id not in seen]
            if not batch:
                break
            sender = sender or Sender(smtp)
            for out in batch:
                if stopping():
                    break
                if show:
                    show(label, len(seen), max(expected, len(seen)))
                seen.add(out.id)
                _send_one(store, queue, out, sender, pace, report, smtp, clock)
    finally:
        queue.release()
        if sender is not None:
            sender.close()


def _send_one(
    store: State,
    queue: Queue,
    out: Outgoing,
    sender: Sender,
    pace: Pace,
    report: DeliveryReport,
    smtp: SmtpConfig,
    clock: Clock,
) -> None:
    """One message: refused, or paced, held once more (it may have gone to another sender), sent, recorded."""
    why = queue.refused(out)
    if why is not None:
        _record(store, queue, out, Result(OutboxStatus.FAILED, why), report, smtp, clock())
        return
    pace.wait()
    if not queue.hold(out, clock()):
        return
    envelope_from, data = queue.envelope(out)
    _record(store, queue, out, sender.send(envelope_from, out.address, data), report, smtp, clock())


CLAIM_BATCH = 20  # messages a sender claims at once: few, so that the senders finish together


def sender_name() -> str:
    """Who claims outbox rows in one pass: host, process and a nonce, so that no two passes share it."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def release_dead_claims(store: State, now: datetime) -> int:
    """Give back at once what senders on this host that are gone (a crash, a kill -9) held; those on
    other hosts cannot be checked from here and keep their claims until the lease runs out. How many."""
    released = 0
    for name in store.claims.holders(now):
        host, _, rest = name.partition(":")
        pid = rest.partition(":")[0]
        if pid.isdigit() and process_gone(host, int(pid)):
            released += store.claims.release(name)
    return released


class _DigestOutbox:
    """The outbox rows of some digests, claimed a batch at a time with a lease; each message is built
    from its run's shared render."""

    def __init__(self, config: Config, store: State, digests: Sequence[DigestConfig]) -> None:
        self.config, self.store = config, store
        self.digests = {digest.name: digest for digest in digests}
        self.lease = timedelta(seconds=config.smtp.lease_seconds)
        self.name = sender_name()
        self.renders: dict[int, Render] = {}
        self.envelope_from = {digest.name: parse_mailbox(digest.from_address)[1] for digest in digests}
        self.held: set[int] = set()
        self.until = datetime.min.replace(tzinfo=UTC)  # when the leases of ``held`` run out

    def claim(self, now: datetime) -> list[Outgoing]:
        items = self.store.claims.claim(list(self.digests), self.name, now, now + self.lease, CLAIM_BATCH)
        self.held, self.until = {item.id for item in items}, now + self.lease
        return [Outgoing(item.id, item.fields["address"], item.attempts, item.not_before, item) for item in items]

    def hold(self, out: Outgoing, now: datetime) -> bool:
        """Whether the message is still ours, with at least half a lease left to send it in: a sender
        that stalled past its lease may have lost it to another."""
        if now >= self.until - self.lease / 2:
            self.held, self.until = self.store.claims.renew(self.name, now + self.lease), now + self.lease
        return out.id in self.held

    def release(self) -> None:
        self.store.claims.release(self.name)

    def refused(self, out: Outgoing) -> str | None:
        status = out.item.subscriber_status
        return None if status == SubscriberStatus.ACTIVE else f"not sent: the subscriber is {status or 'removed'}"

    def envelope(self, out: Outgoing) -> tuple[str, bytes]:
        item: OutboxItem = out.item
        digest = self.digests[item.digest]
        if item.body not in self.renders:
            self.renders[item.body] = Render(*self.store.runs.body(item.body))
        render = self.renders[item.body]
        return item.fields.get("return_path", self.envelope_from[digest.name]), message_bytes(
            self.config, digest, item.slot, item.frozen, item.subscriber, render, item.fields
        )

    def sent(self, out: Outgoing, when: datetime) -> None:
        self.store.runs.mark_sent(out.item, when)

    def retry(self, out: Outgoing, later: datetime, error: str) -> None:
        self.store.runs.mark_retry(out.item, later, error)

    def done(self, out: Outgoing, outcome: OutboxStatus, error: str) -> None:
        self.store.runs.mark_done(out.item, outcome, error)
        if outcome is OutboxStatus.BOUNCED:
            self.store.subscribers.set_status(out.item.subscriber, SubscriberStatus.BOUNCED)


def deliver(
    config: Config,
    store: State,
    digests: Sequence[DigestConfig],
    report: DeliveryReport,
    *,
    clock: Clock,
    sleep: Sleep,
    stopping: Stop = lambda: False,
    progress: Progress | None = None,
) -> None:
    """One pass over these digests' messages that are due (deliver_queue over their outbox); other
    senders may share it."""
    outbox = _DigestOutbox(config, store, digests)
    names = ", ".join(outbox.digests)
    release_dead_claims(store, clock())
    try:
        deliver_queue(
            config.smtp, store, outbox, report, clock=clock, sleep=sleep, stopping=stopping, progress=progress,
            label=f"{names}: sending", expected=_left(store, outbox.digests),
        )  # fmt: skip
    except DeliveryError as exc:
        left = _left(store, outbox.digests)
        raise DeliveryError(f"{exc}; {report.sent} sent, {left} left in the outbox: send again later") from None


def _left(store: State, digests: Iterable[str]) -> int:
    """Messages of these digests still to send."""
    waiting = store.runs.waiting()
    return sum(waiting[name].count for name in digests if name in waiting)


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
        word = STATE_WORDS.get(state, state)
        words[word] = words.get(word, 0) + count
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
