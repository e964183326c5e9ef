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

The exchange with the server, with its deadlines, is smtp.py. A message handed
over in full whose reply does not come in time may have been delivered: it is
recorded as 'unknown' and not sent again by itself (``publisher outbox retry``
does), since sending it again would give every reader of a slow server two copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .addresses import parse_mailbox
from .clock import Clock, Sleep, Stop
from .config import Config, DigestConfig, SmtpConfig
from .errors import DeliveryError
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

    def items(self) -> list[Outgoing]: ...
    def refused(self, out: Outgoing) -> str | None: ...  # why not to send it at all (the reader left), or None
    def envelope(self, out: Outgoing) -> tuple[str, bytes]: ...  # (envelope sender, message bytes)
    def sent(self, out: Outgoing, when: datetime) -> None: ...
    def retry(self, out: Outgoing, later: datetime, error: str) -> None: ...
    def done(self, out: Outgoing, outcome: OutboxStatus, error: str) -> None: ...  # failed, bounced or unknown


def _record(
    store: State, queue: Queue, out: Outgoing, result: Result, report: DeliveryReport, smtp: SmtpConfig, now: datetime
) -> None:
    """Commit what became of one message, and count it."""
    outcome, detail = result.outcome, result.detail
    if outcome is OutboxStatus.RETRY and out.attempts + 1 > smtp.max_retries:
        outcome, detail = OutboxStatus.FAILED, f"{detail} (gave up after {out.attempts + 1} tries)"
    with store.transaction():
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
                _record(store, queue, out, Result(OutboxStatus.FAILED, why), report, smtp, clock())
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
        return None if status == SubscriberStatus.ACTIVE else f"not sent: the subscriber is {status or 'removed'}"

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

    def done(self, out: Outgoing, outcome: OutboxStatus, error: str) -> None:
        self.store.runs.mark_done(out.item, outcome, error)
        if outcome is OutboxStatus.BOUNCED:
            self.store.subscribers.set_status(out.item.subscriber, SubscriberStatus.BOUNCED)


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
