"""Bounces, complaints and mailed unsubscribes, read from a mailbox after the fact.

Each digest goes out from ``bounces+<token>@domain`` (VERP): the token names the
subscriber and is signed, so whatever comes back to that address (a delivery
report, an auto-reply) names its subscriber without our parsing the report's idea
of who failed, and no one can make it name somebody else. List-Unsubscribe's
mailto: points at ``unsubscribe+<token>@domain``, the same mailbox.

Every message read is recorded in the state database (by Message-ID, or by its
bytes' hash) in the same transaction as what it does, and only then moved out of
the way (Maildir, mbox) or flagged \\Seen (IMAP). A crash between the two leaves
the message in place; read again, it is recognised and only moved. So a crash
loses no message and applies none twice.
"""

from __future__ import annotations

import contextlib
import email
import email.utils
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message

from .config import BouncesConfig, Config
from .errors import ConfigError, SubscriberError
from .locks import holding
from .mailboxes import message_key, open_mailbox
from .model import MailOutcome, Subscriber, SubscriberStatus
from .state import State, open_state
from .subscribers import subscriber_for_token
from .tokens import check_address_token, make_address_token

VERP = "verp"  # token purposes: a bounce address cannot be used as an unsubscribe address
MAIL_UNSUBSCRIBE = "unsubscribe-mail"
UNSUBSCRIBE_LOCAL = "unsubscribe"


_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_LINE = re.compile(r"^.*\b[45]\d\d[ -].*$|^.*\b[45]\.\d{1,3}\.\d{1,3}\b.*$", re.MULTILINE)
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesen|absence|vacation|"
    r"away from|r[ée]ponse automatique|respuesta autom[aá]tica)",
    re.IGNORECASE,
)
_DETAIL_MAX = 200


def verp_fields(bounces: BouncesConfig, secret: bytes, subscriber: Subscriber) -> dict[str, str]:
    """The envelope sender and the List-Unsubscribe mailto: of one recipient, frozen with the run."""
    verp = make_address_token(secret, VERP, subscriber.id, subscriber.address)
    unsubscribe = make_address_token(secret, MAIL_UNSUBSCRIBE, subscriber.id, subscriber.address)
    return {
        "return_path": f"{bounces.local_part}+{verp}@{bounces.domain}",
        "unsubscribe_mailto": f"mailto:{UNSUBSCRIBE_LOCAL}+{unsubscribe}@{bounces.domain}?subject=unsubscribe",
    }


@dataclass(frozen=True)
class Verdict:
    """What a message is: one of MailOutcome, and a one-line detail for people."""

    outcome: str
    detail: str


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_MAX else line[: _DETAIL_MAX - 1] + "…"


def _headers(msg: Message) -> str:
    return "".join(f"{name}: {value}\n" for name, value in msg.items())


def _text_of(part: Message) -> str:
    """A part's text (decoded), or its headers for an attached message: where tokens and codes are found."""
    if part.is_multipart():
        inner = [p for p in part.get_payload() if isinstance(p, Message)]
        heads = [_headers(p) for p in inner] if part.get_content_maintype() == "message" else []
        return "\n".join(heads + [_text_of(p) for p in inner])
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return str(part.get_payload())


def _report_part(msg: Message, content_type: str) -> Message | None:
    return next((p for p in msg.walk() if p.get_content_type() == content_type), None)


def _fields(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    blocks = re.split(r"\r?\n\s*\r?\n", str(payload).strip())
    return [email.message_from_string(block) for block in blocks if block.strip()]


def _dsn(msg: Message) -> Verdict:
    """RFC 3464: the worst recipient block decides: a 5.x.x status is hard, a 4.x.x one soft."""
    part = _report_part(msg, "message/delivery-status")
    if part is None:
        return Verdict(MailOutcome.UNRECOGNISED, "a delivery report without a message/delivery-status part")
    found: list[tuple[int, str]] = []
    for block in _fields(part)[1:] or _fields(part):
        action = str(block.get("Action", "")).strip().lower()
        status = _STATUS.search(str(block.get("Status", "")))
        diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")[2] or str(block.get("Diagnostic-Code", ""))
        code = status.group(0) if status else {"failed": "5.0.0", "delayed": "4.0.0"}.get(action, "")
        if code:
            found.append((int(code[0]), _one_line(f"{code} {diagnostic}")))
    if not found:
        return Verdict(MailOutcome.UNRECOGNISED, "a delivery report with no Status or Action")
    klass, detail = max(found)
    if klass == 5:
        return Verdict(MailOutcome.HARD, detail)
    if klass == 4:
        return Verdict(MailOutcome.SOFT, detail)
    return Verdict(MailOutcome.IGNORED, f"a delivery report of success ({detail})")


def _complaint(msg: Message) -> Verdict:
    part = _report_part(msg, "message/feedback-report")
    blocks = _fields(part) if part is not None else []
    kind = str(blocks[0].get("Feedback-Type", "abuse")).strip() if blocks else "abuse"
    agent = str(blocks[0].get("User-Agent", "")).strip() if blocks else ""
    return Verdict(MailOutcome.COMPLAINT, _one_line(f"feedback report: {kind}" + (f" from {agent}" if agent else "")))


def _auto_reply(msg: Message) -> bool:
    """RFC 3834 auto-replies (vacation, out of office) are no bounce, even when they come from a daemon's
    address: the marks they carry, or an automatic reply's subject."""
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Vacation"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    subject = str(msg.get("Subject", ""))
    submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    return bool(_AUTO_SUBJECT.match(subject)) or (
        submitted.startswith("auto-replied") and not _DAEMON.search(str(msg.get("From", "")))
    )


def _plain_bounce(msg: Message) -> Verdict | None:
    """The formats that are no RFC 3464 report (Exim, qmail, older Exchange and Gmail): flufl.bounce's
    detectors say whether a failure is permanent or temporary; the first line with an SMTP code says why."""
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(msg)
    if not (temporary or permanent):
        return None
    line = _SMTP_LINE.search(_text_of(msg))
    why = _one_line(line.group(0)) if line else "no SMTP code given"
    status = _STATUS.search(why)
    if status:  # an explicit status code outweighs the detector's guess
        return Verdict(MailOutcome.HARD if status.group(1) == "5" else MailOutcome.SOFT, why)
    return Verdict(MailOutcome.HARD if permanent else MailOutcome.SOFT, why)


def _tokens(text: str, bounces: BouncesConfig) -> Iterator[tuple[str, str]]:
    """(purpose, token) of every signed address of ours in ``text``."""
    pattern = (
        rf"(?<![\w.+-])({re.escape(bounces.local_part)}|{UNSUBSCRIBE_LOCAL})\+(\d{{1,18}}\.[a-z2-7]{{26}})"
        rf"@{re.escape(bounces.domain)}\b"
    )
    for found in re.finditer(pattern, text, re.IGNORECASE):
        purpose = VERP if found.group(1).lower() == bounces.local_part.lower() else MAIL_UNSUBSCRIBE
        yield purpose, found.group(2).lower()


def _recipients(msg: Message) -> str:
    return "\n".join(str(value) for name in _RECIPIENT_HEADERS for value in msg.get_all(name, []))


def _subscriber(store: State, secret: bytes, found: Iterator[tuple[str, str]], purpose: str) -> Subscriber | None:
    """The first subscriber a valid token of this purpose names; forged or stale tokens name nobody."""
    for token_purpose, token in found:
        if token_purpose == purpose:
            with contextlib.suppress(SubscriberError):
                return subscriber_for_token(store, secret, purpose, token, check_address_token)
    return None


def classify(msg: Message) -> Verdict | None:
    """What kind of message this is, before asking whom it concerns; None: a message to unsubscribe+..."""
    content_type = msg.get_content_type()
    report_type = str(msg.get_param("report-type", "")).lower()
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _complaint(msg)
    if content_type == "multipart/report" and report_type == "delivery-status":
        return _dsn(msg)
    return None


@dataclass(frozen=True)
class Applied:
    """What one message did, as recorded."""

    outcome: str
    subscriber: Subscriber | None
    detail: str


def _sent_at(msg: Message, now: datetime) -> datetime:
    """The message's own date (a backlog read late still counts in its days), never after now."""
    try:
        when = email.utils.parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return now
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo)
    return min(when, now)


def judge(store: State, bounces: BouncesConfig, secret: bytes, msg: Message) -> tuple[Verdict, Subscriber | None]:
    """The verdict on one message and the subscriber it concerns (None: nobody we can trust)."""
    verdict = classify(msg)
    everywhere = _text_of(msg)
    if verdict is not None:
        if verdict.outcome in (MailOutcome.IGNORED, MailOutcome.UNRECOGNISED):
            return verdict, None
        # A complaint carries our message, whose Return-Path and List-Unsubscribe name the reader.
        subscriber = _subscriber(store, secret, _tokens(_recipients(msg) + "\n" + everywhere, bounces), VERP)
        if subscriber is None and verdict.outcome == MailOutcome.COMPLAINT:
            subscriber = _subscriber(store, secret, _tokens(everywhere, bounces), MAIL_UNSUBSCRIBE)
        return verdict, subscriber
    addressed = list(_tokens(_recipients(msg), bounces))
    unsubscriber = _subscriber(store, secret, iter(addressed), MAIL_UNSUBSCRIBE)
    if unsubscriber is not None:
        return Verdict(MailOutcome.UNSUBSCRIBE, _one_line(f"by mail: {msg.get('Subject', '')}")), unsubscriber
    if _auto_reply(msg):
        return Verdict(MailOutcome.AUTO_REPLY, _one_line(f"{msg.get('Subject', '')}")), None
    bounce = _plain_bounce(msg)
    if bounce is None:
        return Verdict(MailOutcome.UNRECOGNISED, _one_line(f"not a delivery report: {msg.get('Subject', '')}")), None
    return bounce, _subscriber(store, secret, iter(addressed + list(_tokens(everywhere, bounces))), VERP)


def _soft_limit_reached(store: State, bounces: BouncesConfig, subscriber: int, at: datetime) -> bool:
    """Some span of soft_bounce_days around ``at`` holds soft_bounce_limit soft bounces (reports may
    be read in any order, so the span may end after ``at``)."""
    days, limit = timedelta(days=bounces.soft_bounce_days), bounces.soft_bounce_limit
    times = store.mail.times(subscriber, MailOutcome.SOFT, at - days, at + days)
    return any(times[i + limit - 1] - times[i] <= days for i in range(len(times) - limit + 1))


def apply(
    store: State, bounces: BouncesConfig, key: str, verdict: Verdict, subscriber: Subscriber | None, at: datetime
) -> Applied:
    """Record the message and change its subscriber; call inside the transaction that records it."""
    if subscriber is None and verdict.outcome in (MailOutcome.HARD, MailOutcome.SOFT, MailOutcome.COMPLAINT):
        verdict = Verdict(
            MailOutcome.UNRECOGNISED, f"a {verdict.outcome} naming no subscriber by a valid token: {verdict.detail}"
        )
    detail = verdict.detail
    sid = subscriber.id if subscriber else None
    store.mail.record(key, verdict.outcome, sid, detail, at)
    if subscriber is None:
        return Applied(verdict.outcome, None, detail)
    status = subscriber.status
    if verdict.outcome == MailOutcome.HARD and status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
        status = SubscriberStatus.BOUNCED
    elif verdict.outcome == MailOutcome.SOFT and status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
        if _soft_limit_reached(store, bounces, subscriber.id, at):
            status = SubscriberStatus.BOUNCED
    elif (
        verdict.outcome in (MailOutcome.COMPLAINT, MailOutcome.UNSUBSCRIBE) and status != SubscriberStatus.UNSUBSCRIBED
    ):
        status = SubscriberStatus.UNSUBSCRIBED
    if status != subscriber.status:
        store.subscribers.set_status(subscriber.id, status)
    return Applied(verdict.outcome, subscriber, detail)


@dataclass
class BounceReport:
    """What one read of the mailbox did, for the summary line and for tests."""

    read: int = 0
    already: int = 0  # recorded before (a crash came between recording and moving): only moved now
    outcomes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        counts = ", ".join(f"{self.outcomes[o]} {o}" for o in MailOutcome if self.outcomes[o])
        again = f"; {self.already} read before" if self.already else ""
        return f"{self.read} messages read" + (f": {counts}" if counts else "") + again


def bounces_config(config: Config) -> BouncesConfig:
    if config.bounces is None:
        raise ConfigError("config: [bounces] is missing; add address and mailbox to read bounces (see README)")
    return config.bounces


def process_bounces(
    config: Config, now: datetime, secret: bytes, progress: Callable[[Applied], None] = lambda _applied: None
) -> BounceReport:
    """Read every new message of the bounce mailbox once; each is recorded with its effect, then moved.

    ``progress`` hears of each message that concerned a subscriber, once it is recorded.
    """
    bounces = bounces_config(config)
    report = BounceReport()
    with open_state(config.state) as store, holding(store, "bounces", "the bounce mailbox is being read"):
        box = open_mailbox(bounces)
        try:
            for handle, raw in box.messages():
                msg = email.message_from_bytes(raw)
                key = message_key(raw, msg)
                report.read += 1
                with store.transaction():
                    if store.mail.seen(key):
                        report.already += 1
                        applied = None
                    else:
                        verdict, subscriber = judge(store, bounces, secret, msg)
                        applied = apply(store, bounces, key, verdict, subscriber, _sent_at(msg, now))
                if applied is not None:
                    report.outcomes[applied.outcome] += 1
                    if applied.subscriber is not None:
                        progress(applied)
                box.done(handle, key)
        finally:
            box.close()
    return report


def subscriber_notes(store: State) -> dict[int, str]:
    """subscriber id -> why they get no more digests, for those a bounce or a complaint stopped."""
    notes = {
        sid: f"bounced: {event.outcome} {event.detail} ({event.at:%Y-%m-%d})"
        for sid, event in store.mail.events((MailOutcome.HARD, MailOutcome.SOFT)).items()
        if event.status == SubscriberStatus.BOUNCED
    }
    for sid, event in store.mail.events((MailOutcome.COMPLAINT,)).items():
        notes[sid] = f"complained: {event.detail} ({event.at:%Y-%m-%d})"
    return notes


def mailbox_summary(store: State) -> str | None:
    """One line of counts over every message the bounce mailbox has had; None before the first."""
    counts = store.mail.outcomes()
    if not counts:
        return None
    return f"bounce mailbox: {sum(counts.values())} messages: " + ", ".join(
        f"{counts[o]} {o}" for o in MailOutcome if counts.get(o)
    )
