"""Signed links, addresses and forms: keys that rotate, and links mailed before the signer still valid."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from itsdangerous import Signer
from itsdangerous.encoding import base64_decode

from publisher.bounces import MAIL_UNSUBSCRIBE, VERP
from publisher.errors import ConfigError, SubscriberError
from publisher.signup import CONFIRM
from publisher.state import open_state
from publisher.subscribers import MANAGE, UNSUBSCRIBE, add_subscriber
from publisher.tokens import (
    check_address_token,
    make_address_token,
    make_token,
    secret_from_env,
    token_valid,
)
from publisher.web import create_app

from .conftest import NOW
from .digest_helpers import SECRET, published_site
from .web_helpers import csrf_of, form_action

OLD = b"old-key-0123456789abcdef"
NEW = b"new-key-0123456789abcdef"
ROTATED = NEW + b", " + OLD  # PUBLISHER_SECRET after a rotation: newest first
ADA = "ada@example.org"

# Made by the signer before itsdangerous (16-byte HMAC-SHA256 keyed with SECRET itself) for
# subscriber 1, ada@example.org: links of this form are in digests already mailed.
LEGACY_UNSUBSCRIBE = "1.Sf0BusrVVZ1knpyEk4ub0A"
LEGACY_MANAGE = "1.sRZOuoEcAIvfRNzQVEYKvA"
LEGACY_CONFIRM = ("2026-11-27T12:00:00+00:00", "1.NSUMDEcPguSmvsEX55Y8xQ")
LEGACY_VERP = "1.rh6eblv4c5pd6e76v426jlhwim"
LEGACY_MAIL_UNSUBSCRIBE = "1.bb677v57vukzhjhry7m53quoxe"


def _site_with_ada(tmp_path: Path):
    site = published_site(tmp_path / "site")
    with open_state(site.config.state) as store:
        ada = add_subscriber(store, ADA, "Ada", (), NOW)
    assert ada.id == 1
    return site


def test_a_link_signed_with_an_older_key_keeps_working_after_a_rotation(tmp_path: Path) -> None:
    site = _site_with_ada(tmp_path)
    before = make_token(OLD, MANAGE, 1, ADA)
    after = make_token(ROTATED, MANAGE, 1, ADA)
    assert token_valid(NEW, MANAGE, after, ADA) and not token_valid(OLD, MANAGE, after, ADA)  # signed with the newest
    client = create_app(site.config, secret=ROTATED, mailer=False).test_client()
    for token in (before, after):
        assert client.get("/manage", query_string={"token": token}).status_code == 200
    stranger = make_token(b"some-other-key-0123456789", MANAGE, 1, ADA)
    assert client.get("/manage", query_string={"token": stranger}).status_code == 400
    dropped = create_app(site.config, secret=NEW, mailer=False).test_client()  # the old key retired
    assert dropped.get("/manage", query_string={"token": before}).status_code == 400
    one_click = client.post(
        "/unsubscribe",
        query_string={"token": make_token(OLD, UNSUBSCRIBE, 1, ADA)},
        data={"List-Unsubscribe": "One-Click"},
    )
    assert one_click.status_code == 200
    with open_state(site.config.state) as store:
        assert store.subscribers.by_address(ADA).status == "unsubscribed"


def test_a_form_shown_before_a_rotation_can_still_be_sent(tmp_path: Path) -> None:
    site = _site_with_ada(tmp_path)
    token = make_token(OLD, MANAGE, 1, ADA)
    before = create_app(site.config, secret=OLD, mailer=False).test_client()
    page = before.get("/manage", query_string={"token": token}).get_data(as_text=True)
    cookie = before.get_cookie("publisher_csrf")
    assert cookie is not None
    after = create_app(site.config, secret=ROTATED, mailer=False).test_client()
    after.set_cookie("publisher_csrf", cookie.value)
    asked = after.post(form_action(page, "Unsubscribe from all"), data={"csrf": csrf_of(page), "action": "unsubscribe"})
    assert asked.status_code == 200, asked.get_data(as_text=True)  # asks once more, with the form's old token
    html = asked.get_data(as_text=True)
    sent = after.post(
        form_action(html, "Yes, unsubscribe from all"),
        data={"csrf": csrf_of(html), "action": "unsubscribe", "confirmed": "yes"},
    )
    assert sent.status_code == 200, sent.get_data(as_text=True)
    with open_state(site.config.state) as store:
        assert store.subscribers.by_address(ADA).status == "unsubscribed"


def test_links_mailed_before_the_signer_keep_working(tmp_path: Path) -> None:
    site = _site_with_ada(tmp_path)
    client = create_app(site.config, secret=SECRET.encode(), mailer=False).test_client()
    assert client.get("/manage", query_string={"token": LEGACY_MANAGE}).status_code == 200
    assert client.get("/unsubscribe", query_string={"token": LEGACY_UNSUBSCRIBE}).status_code == 200
    at, confirm = LEGACY_CONFIRM
    assert token_valid(SECRET.encode(), f"{CONFIRM} {at}", confirm, ADA)
    # after a rotation too: the legacy form is checked with every key
    rotated = SECRET.encode() + b" " + NEW
    assert token_valid(NEW + b"," + SECRET.encode(), MANAGE, LEGACY_MANAGE, ADA)
    for secret in (SECRET.encode(), rotated):
        check_address_token(secret, VERP, LEGACY_VERP, ADA)
        check_address_token(secret, MAIL_UNSUBSCRIBE, LEGACY_MAIL_UNSUBSCRIBE.upper(), ADA)
    assert not token_valid(SECRET.encode(), UNSUBSCRIBE, LEGACY_MANAGE, ADA)  # each purpose its own
    with pytest.raises(SubscriberError):
        check_address_token(SECRET.encode(), VERP, LEGACY_MAIL_UNSUBSCRIBE, ADA)
    one_click = client.post(
        "/unsubscribe", query_string={"token": LEGACY_UNSUBSCRIBE}, data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.get_data(as_text=True) == f"unsubscribed {ADA}\n"


def test_address_tokens_rotate_and_stay_lower_case() -> None:
    token = make_address_token(OLD, VERP, 42, ADA)
    assert token == token.lower() and len(token.partition(".")[2]) == 26  # fits a 64-character local part
    check_address_token(ROTATED, VERP, token.upper(), ADA)  # mail systems may change the case
    newest = make_address_token(ROTATED, VERP, 42, ADA)
    check_address_token(NEW, VERP, newest, ADA)
    for wrong in (OLD,):  # the newest key signs new tokens
        with pytest.raises(SubscriberError):
            check_address_token(wrong, VERP, newest, ADA)
    with pytest.raises(SubscriberError):
        check_address_token(ROTATED, MAIL_UNSUBSCRIBE, token, ADA)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "PUBLISHER_SECRET is not set"), (f"{NEW.decode()}, short", "PUBLISHER_SECRET is too short")],
)
def test_every_key_must_be_long_enough(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", value)
    with pytest.raises(ConfigError, match=expected) as caught:
        secret_from_env()
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("PUBLISHER_SECRET", f"{NEW.decode()}\n{OLD.decode()}")  # whitespace separates keys too
    assert secret_from_env() == NEW + b"\n" + OLD


def test_an_old_secret_with_spaces_still_checks_the_links_it_signed() -> None:
    """Before rotation a value with a space in it was one key: its links are checked with the whole value."""
    import base64
    import hashlib
    import hmac

    value = b"first-half-0123456789 second-half-0123456789"
    mac = hmac.digest(value, f"{MANAGE}\0{1}\0{ADA}".encode(), hashlib.sha256)[:16]
    legacy = "1." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert token_valid(value, MANAGE, legacy, ADA)
    assert not token_valid(b"first-half-0123456789", MANAGE, legacy, ADA)


@pytest.mark.parametrize("secret", [OLD, ROTATED])
def test_tokens_are_the_signatures_itsdangerous_makes(secret: bytes) -> None:
    """Tokens are signed from keyed HMACs kept per purpose: they must stay what itsdangerous's Signer
    makes with the newest key and the purpose's salt, so links already mailed keep working."""
    newest = secret.split(b",")[0]
    for subscriber_id, address in ((1, ADA), (9876, "Zoë.Müller@Example.ORG")):
        payload = f"{subscriber_id}\0{address.lower()}".encode()
        for purpose in (UNSUBSCRIBE, MANAGE, CONFIRM):
            expected = f"{subscriber_id}.{_itsdangerous(newest, purpose).get_signature(payload).decode()}"
            assert make_token(secret, purpose, subscriber_id, address) == expected
            assert token_valid(secret, purpose, expected, address)
        for purpose in (VERP, MAIL_UNSUBSCRIBE):
            mac = base64_decode(_itsdangerous(newest, purpose).get_signature(payload))[:16]
            expected = f"{subscriber_id}.{base64.b32encode(mac).decode().rstrip('=').lower()}"
            assert make_address_token(secret, purpose, subscriber_id, address) == expected


def _itsdangerous(key: bytes, purpose: str) -> Signer:
    return Signer(key, salt=f"publisher.{purpose}", key_derivation="hmac", digest_method=hashlib.sha256)
