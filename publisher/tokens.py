"""Signed links, addresses and forms: itsdangerous signatures, one salt per purpose, keys that rotate.

A link's token names the subscriber id in the clear and carries a signature over
(purpose, id, address) made with PUBLISHER_SECRET, so it cannot be forged or
edited, and cannot be reused to act for someone else if an id is ever given to a
new address. Each purpose has its own salt: an unsubscribe token is no manage token.

PUBLISHER_SECRET may hold several keys, newest first, separated by commas or
whitespace. New signatures use the first; a signature made with any of them is
accepted. So a key is replaced without breaking the links already mailed: put
the new key in front, and drop the old one once its links no longer matter.

Tokens signed before itsdangerous did it (a 16-byte HMAC-SHA256 keyed with the
secret itself) are still accepted, with every key, so links in digests mailed
before stay valid.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import Signer

from .errors import ConfigError, SubscriberError

if TYPE_CHECKING:
    from _hashlib import HASH

SECRET_ENV = "PUBLISHER_SECRET"
# One answer for a made-up token and for a real id with a wrong signature: a stranger must
# not learn which subscriber ids exist.
NOT_VALID = "this link is not valid: it was altered or is out of date; nothing was changed"
MIN_SECRET_LENGTH = 16
CSRF = "csrf"  # the purpose of the forms' tokens
_SALT = "publisher.{}"
_ADDRESS_MAC_BYTES = 16  # an address's local part holds 64 characters: "bounces+<id>.<26 base32 characters>"
_LEGACY_MAC_BYTES = 16
_LEGACY_LINK_SIGNATURE = 22  # characters of base64 in a link token made before the signer


def secret_keys(secret: bytes) -> tuple[bytes, ...]:
    """The keys in PUBLISHER_SECRET's value, newest first."""
    return tuple(secret.replace(b",", b" ").split())


def secret_from_env() -> bytes:
    """PUBLISHER_SECRET's value; a clear error when it is missing or a key is short, since links made
    without a real key would be forgeable."""
    value = os.environ.get(SECRET_ENV, "")
    keys = secret_keys(value.encode())
    if not keys or any(len(key) < MIN_SECRET_LENGTH for key in keys):
        raise ConfigError(
            f"environment: {SECRET_ENV} is {'too short' if keys else 'not set'}; expected a random string of at "
            f"least {MIN_SECRET_LENGTH} characters that signs unsubscribe links (or several, newest first, separated "
            "by commas: links signed with any of them keep working)"
        )
    return value.encode()


@dataclass(frozen=True)
class _Signing:
    """itsdangerous's signatures for one purpose (HMAC-SHA256 under the key derived for its salt), made
    from SHA-256 states already fed each derived key's inner and outer pads (RFC 2104), copied for each
    signature: a digest run signs two to four tokens per recipient, and deriving, keying and the HMAC
    wrapper cost more than the hashing itself. Newest key first; byte for byte what itsdangerous makes."""

    pads: tuple[tuple[HASH, HASH], ...]  # per key: (inner, outer)

    def signature(self, payload: bytes) -> bytes:
        return _hmac(self.pads[0], payload)

    def signatures(self, payload: bytes) -> list[bytes]:
        """The signature with each key, newest first."""
        return [_hmac(pads, payload) for pads in self.pads]

    def verify(self, payload: bytes, signature: str) -> bool:
        """Compared as text, as written: a signature whose unused base64 bits were changed is refused too."""
        return any(hmac.compare_digest(_text(mac), signature) for mac in self.signatures(payload))


def _hmac(pads: tuple[HASH, HASH], payload: bytes) -> bytes:
    inner, outer = pads[0].copy(), pads[1].copy()
    inner.update(payload)
    outer.update(inner.digest())
    return outer.digest()


def _pads(key: bytes) -> tuple[HASH, HASH]:
    block = hashlib.sha256().block_size
    key = key.ljust(block, b"\0") if len(key) <= block else hashlib.sha256(key).digest().ljust(block, b"\0")
    return hashlib.sha256(bytes(k ^ 0x36 for k in key)), hashlib.sha256(bytes(k ^ 0x5C for k in key))


def _text(signature: bytes) -> str:
    """A signature as a link carries it: URL-safe base64 without padding (itsdangerous's base64_encode)."""
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


@functools.lru_cache(maxsize=32)
def _signing(secret: bytes, purpose: str) -> _Signing:
    keys = secret_keys(secret)
    signer = Signer(
        list(reversed(keys)), salt=_SALT.format(purpose), key_derivation="hmac", digest_method=hashlib.sha256
    )
    return _Signing(tuple(_pads(signer.derive_key(key)) for key in keys))


def _payload(subscriber_id: int, address: str) -> bytes:
    return f"{subscriber_id}\0{address.lower()}".encode()


def _legacy_macs(secret: bytes, purpose: str, subscriber_id: int, address: str) -> list[bytes]:
    """The MAC a token carried before the signer, for each key."""
    message = f"{purpose}\0{subscriber_id}\0{address.lower()}".encode()
    keys = dict.fromkeys((*secret_keys(secret), secret))  # the whole value too: it was one key, spaces and all
    return [hmac.digest(key, message, hashlib.sha256)[:_LEGACY_MAC_BYTES] for key in keys]


def sign(secret: bytes, purpose: str, text: str) -> str:
    """A URL-safe signature of ``text`` for this purpose (the forms' CSRF tokens)."""
    return _text(_signing(secret, purpose).signature(text.encode()))


def signed(secret: bytes, purpose: str, text: str, signature: str) -> bool:
    """Whether ``signature`` came from sign() for this purpose and text, with any of the keys."""
    return signature.isascii() and _signing(secret, purpose).verify(text.encode(), signature)


def make_token(secret: bytes, purpose: str, subscriber_id: int, address: str) -> str:
    """``"<id>.<signature>"``: URL-safe and valid only for this purpose and this address."""
    return token_signer(secret, (purpose,))(subscriber_id, address)[0]


def token_signer(secret: bytes, purposes: tuple[str, ...]) -> Callable[[int, str], list[str]]:
    """make_token for each of ``purposes`` at once, with the keys looked up once: a digest run signs
    every recipient's links with it."""
    pads = [_signing(secret, purpose).pads[0] for purpose in purposes]

    def sign(subscriber_id: int, address: str) -> list[str]:
        payload = _payload(subscriber_id, address)
        return [f"{subscriber_id}.{_text(_hmac(keyed, payload))}" for keyed in pads]

    return sign


def token_subscriber(token: str) -> int:
    """The subscriber id a token claims, before it is checked; SubscriberError when malformed."""
    head, dot, _signature = token.partition(".")
    if not dot or not head.isdigit() or not token.isascii() or len(head) > 18:  # 18 digits fit SQLite
        raise SubscriberError("token is malformed; expected the token from a digest's link")
    return int(head)


def token_valid(secret: bytes, purpose: str, token: str, address: str) -> bool:
    """Whether ``token`` was made by make_token (or before the signer) for this purpose and address."""
    subscriber_id = token_subscriber(token)
    signature = token.partition(".")[2]
    if len(signature) == _LEGACY_LINK_SIGNATURE:
        return any(
            hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b"=").decode(), signature)
            for mac in _legacy_macs(secret, purpose, subscriber_id, address)
        )
    return _signing(secret, purpose).verify(_payload(subscriber_id, address), signature)


def check_token(secret: bytes, purpose: str, token: str, address: str) -> None:
    """Raise SubscriberError unless ``token`` was made by us for this purpose and this address."""
    if not token_valid(secret, purpose, token, address):
        raise SubscriberError(NOT_VALID)


def _base32(mac: bytes) -> str:
    return base64.b32encode(mac).rstrip(b"=").decode().lower()


def make_address_token(secret: bytes, purpose: str, subscriber_id: int, address: str) -> str:
    """``"<id>.<mac>"`` for the local part of an e-mail address: lower-case base32, since mail systems
    may change the case of a local part (a bounce may quote it in capitals)."""
    mac = _signing(secret, purpose).signature(_payload(subscriber_id, address))[:_ADDRESS_MAC_BYTES]
    return f"{subscriber_id}.{_base32(mac)}"


def check_address_token(secret: bytes, purpose: str, token: str, address: str) -> None:
    """Raise SubscriberError unless ``token`` (in any case) came from make_address_token for this address,
    with any of the keys, or was made before the signer."""
    subscriber_id = token_subscriber(token)
    mac = token.partition(".")[2].lower()
    signing, payload = _signing(secret, purpose), _payload(subscriber_id, address)
    macs = [mac[:_ADDRESS_MAC_BYTES] for mac in signing.signatures(payload)]
    expected = [_base32(m) for m in macs + _legacy_macs(secret, purpose, subscriber_id, address)]
    if not any(hmac.compare_digest(mac, candidate) for candidate in expected):
        raise SubscriberError("token is forged or altered; nothing was changed")  # read from mail: no page shows it
