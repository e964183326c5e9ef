"""A digest message for one recipient: a shared Render with that recipient's fields filled in.

A message is built from frozen data only (the run, the shared render and the
recipient's row), so building it again after a crash gives the same bytes,
Message-ID included. Delivery writes those bytes directly (message_bytes); they
are the bytes the email package makes of build_message, which the tests check.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from .addresses import parse_mailbox
from .config import Config, DigestConfig
from .model import Subscriber
from .subscribers import MANAGE, UNSUBSCRIBE
from .tokens import token_signer

BODY_ENCODING = "base64"  # 7-bit safe for any server; quoted-printable is pure Python and 20x slower
# Headers are written up to RFC 5322's hard limit of 998 characters, never encoded: a List-Unsubscribe
# URL longer than 78 would otherwise become an RFC 2047 encoded word that mail clients cannot act on.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
FIELDS = ("name", "address", "unsubscribe_url", "manage_url")
_json_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as it is
_PLACEHOLDER = "@@publisher-{}@@"
_PLACEHOLDERS = re.compile("@@publisher-(" + "|".join(FIELDS) + ")@@")
_LINE_BREAKS = re.compile(r"\s+")


def placeholder(field: str) -> str:
    """What a shared render holds where a recipient's ``field`` goes."""
    return _PLACEHOLDER.format(field)


def inert(text: str) -> str:
    """Post text cannot fill in a reader's address or links: a placeholder in it is broken up
    with a zero-width space, so what a post says is never replaced per recipient."""
    return text.replace("@@publisher-", "@@publisher\u200b-")


def one_line(text: str) -> str:
    """Any run of whitespace, CR and LF included, becomes one space: a header can never be split."""
    return _LINE_BREAKS.sub(" ", text).strip()


@dataclass(frozen=True)
class Render:
    """One shared rendering with placeholders for the per-recipient fields."""

    subject: str
    text: str
    html: str


def recipient_fields(config: Config, secret: bytes, subscriber: Subscriber) -> dict[str, str]:
    """What differs per recipient: frozen with the run so a resend is identical."""
    return recipient_fields_for(config, secret)(subscriber)


def recipient_fields_for(config: Config, secret: bytes) -> Callable[[Subscriber], dict[str, str]]:
    """recipient_fields for the many recipients of one run: the links' base and keys looked up once."""
    unsubscribe_url, manage_url = f"{config.web.base_url}unsubscribe?token=", f"{config.web.base_url}manage?token="
    sign = token_signer(secret, (UNSUBSCRIBE, MANAGE))
    bounces = config.bounces
    if bounces is not None:
        from .bounces import verp_fields

    def fields_of(subscriber: Subscriber) -> dict[str, str]:
        unsubscribe, manage = sign(subscriber.id, subscriber.address)
        fields = {
            "name": one_line(subscriber.name),
            "address": subscriber.address,
            "unsubscribe_url": unsubscribe_url + unsubscribe,
            "manage_url": manage_url + manage,
        }
        if bounces is not None:
            fields.update(verp_fields(bounces, secret, subscriber))
        return fields

    return fields_of


def list_unsubscribe(fields: dict[str, str]) -> str:
    """The one-click URL, and a mailto: only where [bounces] reads the mailbox it points to."""
    mailto = fields.get("unsubscribe_mailto")
    return f"<{fields['unsubscribe_url']}>" + (f", <{mailto}>" if mailto else "")


def fields_json(fields: dict[str, str]) -> str:
    """``json.dumps(fields, ensure_ascii=False)``, character for character, a few times faster."""
    return "{" + ", ".join([f"{_json_string(k)}: {_json_string(v)}" for k, v in fields.items()]) + "}"


@functools.lru_cache(maxsize=64)
def _pieces(text: str) -> list[str]:
    """``text`` split at its placeholders: the field names are at the odd indices (memoised per render)."""
    return _PLACEHOLDERS.split(text)


def fill(text: str, fields: dict[str, str], escape: bool) -> str:
    """``text`` with its placeholders replaced by the recipient's fields (HTML-escaped for the HTML part)."""
    pieces = _pieces(text)
    if len(pieces) == 1:
        return text
    out = pieces.copy()
    out[1::2] = [html.escape(fields[name]) if escape else fields[name] for name in pieces[1::2]]
    return "".join(out)


def _address_header(text: str) -> Address:
    name, address = parse_mailbox(text)
    return Address(display_name=name, addr_spec=address)


def message_id(config: Config, digest: str, slot: datetime, subscriber: int) -> str:
    """The same (digest, slot, subscriber) always gets the same id, so a resend can be recognised."""
    key = hashlib.sha256(f"{digest}\0{slot.isoformat()}\0{subscriber}".encode()).hexdigest()[:32]
    return f"<{digest}.{key}@{config.site.domain}>"


def build_message(
    config: Config,
    digest: DigestConfig,
    slot: datetime,
    frozen: datetime,
    subscriber: int,
    render: Render,
    fields: dict[str, str],
) -> EmailMessage:
    """multipart/alternative (text, then HTML) with the list headers mail clients act on."""
    msg = EmailMessage(policy=policy.SMTP)
    domain = config.site.domain
    msg["From"] = _address_header(digest.from_address)
    msg["To"] = Address(display_name=fields["name"], addr_spec=fields["address"])
    msg["Subject"] = one_line(fill(render.subject, fields, escape=False))
    msg["Date"] = format_datetime(frozen)
    msg["Message-ID"] = message_id(config, digest.name, slot, subscriber)
    if digest.reply_to:
        msg["Reply-To"] = _address_header(digest.reply_to)
    msg["List-Id"] = f"{one_line(config.site.title)} {digest.name} digest <{digest.name}.{domain}>"
    msg["List-Unsubscribe"] = list_unsubscribe(fields)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(fill(render.text, fields, escape=False), subtype="plain", charset="utf-8", cte=BODY_ENCODING)
    msg.add_alternative(fill(render.html, fields, escape=True), subtype="html", charset="utf-8", cte=BODY_ENCODING)
    msg.set_boundary("=_" + msg["Message-ID"].strip("<>").partition("@")[0])
    return msg


def wire_bytes(msg: EmailMessage) -> bytes:
    """The bytes handed to SMTP and written to .eml files: CRLF line ends, headers never encoded words."""
    return msg.as_bytes(policy=WIRE_POLICY)


# What message_bytes writes itself; anything else goes through the email package (build_message).
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")  # a display name
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDR_SPEC = re.compile(_DOT_ATOM + "@" + _DOT_ATOM)
_MSG_ID = re.compile(r"<([a-z0-9-]+\.[0-9a-f]+)@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")
_WORDS = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII, single spaces, nothing to fold
_PLAIN_MAX = 900  # well below the 998 at which the email package would start folding


def _plain(text: str, pattern: re.Pattern[str] = _WORDS) -> bool:
    """True when the email package writes this header value as it is: no encoding, no folding."""
    return len(text) <= _PLAIN_MAX and "=?" not in text and pattern.fullmatch(text) is not None


@functools.lru_cache(maxsize=256)
def _header_line(name: str, value: str, mailbox: bool = False) -> bytes:
    """One header line exactly as build_message writes it: the email package's own parsing and folding."""
    return WIRE_POLICY.fold_binary(*policy.SMTP.header_store_parse(name, _address_header(value) if mailbox else value))


def _base64_body(text: str) -> bytes:
    """What set_content(cte="base64") makes of ``text``: CRLF line ends, 76-character lines, as sent."""
    encoded = binascii.b2a_base64(b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n", newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + b"\r\n"


def message_bytes(
    config: Config,
    digest: DigestConfig,
    slot: datetime,
    frozen: datetime,
    subscriber: int,
    render: Render,
    fields: dict[str, str],
) -> bytes:
    """``wire_bytes(build_message(...))`` for the same arguments, byte for byte, without building an EmailMessage.

    The fixed headers come from the email package once per process; the per-recipient ones are written
    here only when the email package would write them unchanged (printable ASCII, single spaces, far
    below the line limit, no encoded-word lookalike); any other recipient gets the full build_message.
    """
    msgid = message_id(config, digest.name, slot, subscriber)
    name, address = fields["name"], fields["address"]
    subject = one_line(fill(render.subject, fields, escape=False))
    unsubscribe = list_unsubscribe(fields)
    local = _MSG_ID.fullmatch(msgid)
    if not (
        local
        and (not name or _plain(name, _ATOMS))
        and _plain(address, _ADDR_SPEC)
        and _plain(subject)
        and _plain(unsubscribe)
    ):
        return wire_bytes(build_message(config, digest, slot, frozen, subscriber, render, fields))
    boundary = f"=_{local.group(1)}".encode()
    to = f"{name} <{address}>" if name else address
    return b"".join(
        [
            _header_line("From", digest.from_address, mailbox=True),
            f"To: {to}\r\nSubject: {subject}\r\n".encode(),
            _header_line("Date", format_datetime(frozen)),
            f"Message-ID: {msgid}\r\n".encode(),
            _header_line("Reply-To", digest.reply_to, mailbox=True) if digest.reply_to else b"",
            _header_line(
                "List-Id", f"{one_line(config.site.title)} {digest.name} digest <{digest.name}.{config.site.domain}>"
            ),
            f"List-Unsubscribe: {unsubscribe}\r\n".encode(),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative; boundary="%s"\r\n\r\n--%s\r\n' % (boundary, boundary),
            b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n',
            _base64_body(fill(render.text, fields, escape=False)),
            b"\r\n--%s\r\n" % boundary,
            b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
            b"MIME-Version: 1.0\r\n\r\n",
            _base64_body(fill(render.html, fields, escape=True)),
            b"\r\n--%s--\r\n" % boundary,
        ]
    )
