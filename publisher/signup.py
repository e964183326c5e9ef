"""Web sign-ups: double opt-in through a signed, expiring confirmation link, with rate limits.

A new address gets one thing only, the confirmation e-mail, and stays 'pending'
(no digests) until its link is used. The link's token is signed over the time
of the sign-up it answers, so it expires, and it only ever moves 'pending' to
'active': replayed after an unsubscribe it changes nothing. Confirmation
e-mails are counted per address and per client, so a form cannot be used to
flood a mailbox.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from . import i18n
from .addresses import parse_mailbox
from .clock import Clock, Sleep
from .config import Config
from .delivery import DeliveryReport, Outgoing, deliver_queue
from .errors import ConfigError, RateLimited, SubscriberError
from .i18n import _
from .locks import holding
from .message import one_line, wire_bytes
from .model import OutboxStatus, Subscriber, SubscriberStatus
from .state import State, Waiting
from .subscribers import MANAGE, subscriber_for_token, valid_address
from .templating import template_environment
from .tokens import NOT_VALID, make_token, token_subscriber, token_valid

log = logging.getLogger("publisher")

CONFIRM = "confirm"
CONFIRM_TTL = timedelta(days=2)
KEEP_SIGNUPS = timedelta(days=30)  # longer than every limit window and CONFIRM_TTL
CONFIRM_TEMPLATE = "confirm-email.txt.j2"


@dataclass(frozen=True)
class Limit:
    """At most ``count`` confirmation e-mails within ``window``."""

    count: int
    window: timedelta


ADDRESS_LIMIT = Limit(3, timedelta(hours=24))
CLIENT_LIMIT = Limit(10, timedelta(hours=1))


def client_key(remote: str) -> str:
    """The rate-limit key of a client address; IPv6 by /64, the block one household usually gets."""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def digest_choice(config: Config, text: str) -> str | None:
    """A digest name from a form; empty means every digest."""
    if not text:
        return None
    if text not in {d.name for d in config.digests}:
        raise SubscriberError(f"there is no digest named {text!r}")
    return text


def _confirm_token(secret: bytes, subscriber: Subscriber, at: datetime) -> str:
    return make_token(secret, f"{CONFIRM} {at.isoformat()}", subscriber.id, subscriber.address)


def request_signup(
    config: Config,
    store: State,
    secret: bytes,
    address: str,
    tags: tuple[str, ...] | None,
    digest: str | None,
    client: str,
    now: datetime,
    *,
    language: str = i18n.DEFAULT,
) -> str:
    """Record a sign-up and queue its confirmation e-mail; returns the address as normalised.

    Every address gets the same answer, so the page never tells a stranger who
    is subscribed or who was signed up before: an address already active keeps
    its settings and gets the e-mail too (whose link then says so), and one that
    had its 3 e-mails today gets nothing more. Only a client over its own limit
    is told (RateLimited). ``language``: the reader's, for this e-mail and their digests.
    """
    clean = valid_address(address, "address")
    now = now.astimezone(UTC)
    with store.transaction():
        recent = [at for at in store.signups.times(clean) if at > now - ADDRESS_LIMIT.window]
        if len(recent) >= ADDRESS_LIMIT.count:
            log.info("sign-up: %s had %d confirmation e-mails in 24 hours; none queued", clean, len(recent))
            return clean
        if store.signups.client_count(client, now - CLIENT_LIMIT.window) >= CLIENT_LIMIT.count:
            raise RateLimited("too many sign-ups from your network in the last hour; try again later")
        subscriber = store.subscribers.by_address(clean)
        if subscriber is None:
            store.subscribers.insert([Subscriber(0, clean, "", tags, SubscriberStatus.PENDING, now)])
            subscriber = store.subscribers.by_address(clean)
            assert subscriber is not None
        if subscriber.status != SubscriberStatus.ACTIVE:
            store.subscribers.set_status(subscriber.id, SubscriberStatus.PENDING)
            store.subscribers.set_preferences(subscriber.id, tags, digest)
            store.subscribers.set_language(subscriber.id, language)
        store.signups.record(clean, client, now, now - KEEP_SIGNUPS)
        with i18n.speaking(store.subscribers.language(subscriber.id) or language):
            msg = confirmation_message(config, subscriber, _confirm_token(secret, subscriber, now), now)
        sender = msg["From"].addresses[0].addr_spec
        store.confirmations.queue(subscriber.id, sender, clean, wire_bytes(msg), now, now - KEEP_SIGNUPS)
    return clean


class _Confirmations:
    """The queued confirmation e-mails, for the sending loop that digests use too."""

    def __init__(self, store: State) -> None:
        self.store = store

    def claim(self, now: datetime) -> list[Outgoing]:
        """Every one that is due: one process sends them (the "confirmations" lock), so none is held."""
        return [
            Outgoing(c.id, c.address, c.attempts, c.not_before, c)
            for c in self.store.confirmations.open()
            if c.not_before is None or c.not_before <= now
        ]

    def hold(self, out: Outgoing, now: datetime) -> bool:
        return True

    def release(self) -> None:
        pass

    def refused(self, out: Outgoing) -> str | None:
        status = out.item.subscriber_status
        return (
            None
            if status in (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE)
            else f"not sent: the subscriber is {status or 'removed'}"
        )

    def envelope(self, out: Outgoing) -> tuple[str, bytes]:
        return out.item.sender, out.item.message

    def sent(self, out: Outgoing, when: datetime) -> None:
        self.store.confirmations.sent(out.id, when)

    def retry(self, out: Outgoing, later: datetime, error: str) -> None:
        self.store.confirmations.retry(out.id, later, error)

    def done(self, out: Outgoing, outcome: OutboxStatus, error: str) -> None:
        self.store.confirmations.done(out.id, outcome, error)
        if outcome is OutboxStatus.BOUNCED:
            self.store.subscribers.set_status(out.item.subscriber, SubscriberStatus.BOUNCED)


def send_confirmations(config: Config, store: State, *, clock: Clock, sleep: Sleep) -> DeliveryReport:
    """One pass over the queued confirmation e-mails that are due, by the digests' rules (deliver_queue;
    ``sleep`` serves only smtp.rate_limit): what the server defers goes at a later pass.

    One process at a time (Busy otherwise): two would send the same e-mail.
    """
    report = DeliveryReport()
    with holding(store, "confirmations", "confirmation e-mails are being sent by another process"):
        try:
            deliver_queue(config.smtp, store, _Confirmations(store), report, clock=clock, sleep=sleep)
        finally:
            report.waiting = Waiting(len(store.confirmations.open()), None)
    return report


def confirmation_message(config: Config, subscriber: Subscriber, token: str, now: datetime) -> EmailMessage:
    """The plain-text e-mail whose link activates a subscription, from the first digest's sender,
    in the language of ``i18n.speaking``."""
    if not config.digests:
        raise ConfigError("config: no [[digests]] configured; there is nothing to subscribe to")
    sender_name, sender = parse_mailbox(config.digests[0].from_address)
    url = f"{config.web.base_url}confirm?token={token}"
    text = (
        template_environment(config)
        .get_template(CONFIRM_TEMPLATE)
        .render(site=config.site, address=subscriber.address, confirm_url=url, hours=CONFIRM_TTL // timedelta(hours=1))
    )
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=sender_name, addr_spec=sender)
    msg["To"] = Address(addr_spec=subscriber.address)
    msg["Subject"] = one_line(_("Confirm your subscription to %(site)s") % {"site": config.site.title})
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("confirm", domain=config.site.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, charset="utf-8")
    return msg


def check_confirmation(store: State, secret: bytes, token: str, now: datetime) -> Subscriber:
    """The subscriber a confirmation link is for; SubscriberError when forged, expired or used up."""
    subscriber = store.subscribers.by_id(token_subscriber(token))
    address = subscriber.address if subscriber else ""
    times = [
        at
        for at in (store.signups.times(address) if subscriber else ())
        if token_valid(secret, f"{CONFIRM} {at.isoformat()}", token, address)
    ]
    if subscriber is None or not times:  # one answer either way: which ids exist is nobody's business
        raise SubscriberError(f"{NOT_VALID}; sign up again on the front page")
    if subscriber.status not in (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE):
        raise SubscriberError(
            f"this confirmation link was used before and the address is now {subscriber.status}; "
            "sign up again on the front page"
        )
    if subscriber.status == SubscriberStatus.PENDING and now.astimezone(UTC) - times[0] > CONFIRM_TTL:
        raise SubscriberError("this confirmation link has expired; sign up again on the front page")
    return subscriber


def confirm_signup(store: State, secret: bytes, token: str, now: datetime) -> tuple[Subscriber, bool]:
    """Activate a pending subscriber; (subscriber, False) when it was active already (a replayed link)."""
    with store.transaction():
        subscriber = check_confirmation(store, secret, token, now)
        if subscriber.status == SubscriberStatus.ACTIVE:
            return subscriber, False
        store.subscribers.confirm(subscriber.id, now)
    return store.subscribers.by_id(subscriber.id), True  # type: ignore[return-value]


def manage_token(secret: bytes, subscriber: Subscriber) -> str:
    return make_token(secret, MANAGE, subscriber.id, subscriber.address)


def update_preferences(
    store: State, secret: bytes, token: str, tags: tuple[str, ...] | None, digest: str | None
) -> Subscriber:
    """What the manage page's Save button does: new tags and digest, status unchanged."""
    with store.transaction():
        subscriber = subscriber_for_token(store, secret, MANAGE, token)
        store.subscribers.set_preferences(subscriber.id, tags, digest)
    return store.subscribers.by_id(subscriber.id)  # type: ignore[return-value]
