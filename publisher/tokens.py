"""Signed links: an HMAC over (purpose, subscriber id, address) lets a link act for one reader only.

The token names the subscriber id in the clear and carries a MAC made with
PUBLISHER_SECRET, so it cannot be forged or edited, and cannot be reused to
unsubscribe someone else if an id is ever given to a new address.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

from .errors import ConfigError, SubscriberError

SECRET_ENV = "PUBLISHER_SECRET"
# One answer for a made-up token and for a real id with a wrong signature: a stranger must
# not learn which subscriber ids exist.
NOT_VALID = "this link is not valid: it was altered or is out of date; nothing was changed"
MIN_SECRET_LENGTH = 16
_MAC_BYTES = 16


def secret_from_env() -> bytes:
    """The signing key; a clear error when it is missing, since links made without one would be forgeable."""
    value = os.environ.get(SECRET_ENV, "")
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"environment: {SECRET_ENV} is {'too short' if value else 'not set'}; expected a random string of at "
            f"least {MIN_SECRET_LENGTH} characters that signs unsubscribe links (keep it secret and unchanged)"
        )
    return value.encode()


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with ``secret``: copying it is cheaper than keying a new one per MAC."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def _mac_bytes(secret: bytes, purpose: str, subscriber_id: int, address: str) -> bytes:
    mac = _keyed(secret).copy()
    mac.update(f"{purpose}\0{subscriber_id}\0{address.lower()}".encode())
    return mac.digest()[:_MAC_BYTES]


def _mac(secret: bytes, purpose: str, subscriber_id: int, address: str) -> str:
    return base64.urlsafe_b64encode(_mac_bytes(secret, purpose, subscriber_id, address)).rstrip(b"=").decode()


def make_token(secret: bytes, purpose: str, subscriber_id: int, address: str) -> str:
    """``"<id>.<mac>"``: URL-safe, short, and valid only for this purpose and this address."""
    return f"{subscriber_id}.{_mac(secret, purpose, subscriber_id, address)}"


def token_subscriber(token: str) -> int:
    """The subscriber id a token claims, before it is checked; SubscriberError when malformed."""
    head, dot, _mac_text = token.partition(".")
    if not dot or not head.isdigit() or not token.isascii() or len(head) > 18:  # 18 digits fit SQLite
        raise SubscriberError("token is malformed; expected the token from a digest's link")
    return int(head)


def check_token(secret: bytes, purpose: str, token: str, address: str) -> None:
    """Raise SubscriberError unless ``token`` was made by us for this purpose and this address."""
    expected = make_token(secret, purpose, token_subscriber(token), address)
    if not hmac.compare_digest(expected.encode(), token.encode()):
        raise SubscriberError(NOT_VALID)


def make_address_token(secret: bytes, purpose: str, subscriber_id: int, address: str) -> str:
    """``"<id>.<mac>"`` for the local part of an e-mail address: the same MAC in lower-case base32,
    since mail systems may change the case of a local part (a bounce may quote it in capitals)."""
    mac = base64.b32encode(_mac_bytes(secret, purpose, subscriber_id, address)).rstrip(b"=").decode().lower()
    return f"{subscriber_id}.{mac}"


def check_address_token(secret: bytes, purpose: str, token: str, address: str) -> None:
    """Raise SubscriberError unless ``token`` (in any case) came from make_address_token for this address."""
    expected = make_address_token(secret, purpose, token_subscriber(token), address)
    if not hmac.compare_digest(expected.encode(), token.lower().encode()):
        raise SubscriberError("token is forged or altered; nothing was changed")  # read from mail: no page shows it
