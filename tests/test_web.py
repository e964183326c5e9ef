"""The subscription web app through Flask's test client, a real state file and a real SMTP server."""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from publisher.cli import run
from publisher.config import load_config
from publisher.digest import send_digest
from publisher.errors import ConfigError
from publisher.publish import publish
from publisher.state import open_state
from publisher.subscribers import MANAGE, UNSUBSCRIBE
from publisher.tokens import make_token
from publisher.unsubscribes import apply_unsubscribes, record_unsubscribe
from publisher.web import create_app, links_open_here

from .conftest import NOW
from .digest_helpers import SECRET, FakeClock, published_site, secret, subscribe
from .mailserver import Recorder, free_port, mail_server
from .web_helpers import Web, confirm_link, csrf_of, form_action, issued_of, local, publisher_serve, web

__all__ = ["secret", "web"]  # fixtures, imported so pytest finds them here

FORGED = ["1.AAAAAAAAAAAAAAAAAAAAAA", "1.", "not-a-token", "", "99.AAAAAAAAAAAAAAAAAAAAAA", "1.A\u00e9"]


def _sign_up(client: FlaskClient, email: str, tags: tuple[str, ...] = (), digest: str = "", **kw):
    page = client.get("/").get_data(as_text=True)
    fields = {"csrf": csrf_of(page), "issued": issued_of(page), "email": email, "tag": list(tags), "digest": digest}
    return client.post("/subscribe", data=fields, **kw)


def _subscriber(web: Web, address: str):
    with open_state(web.site.config.state) as store:
        found = store.subscribers.by_address(address)
        return found, store.subscribers.digest_of(found.id) if found else None


def _press(client: FlaskClient, url: str, label: str, **extra: str):
    """Open a page and press its button, as a reader would."""
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    return client.post(form_action(html, label), data={"csrf": csrf_of(html), **extra})


def _text(response) -> str:
    return lxml.html.document_fromstring(response.get_data(as_text=True)).text_content()


def test_front_page_lists_tags_to_follow_and_only_the_site_feeds_in_its_head(web: Web) -> None:
    web.site.post("evil.md", 'title: Evil\ndate: 2026-11-19 09:00\ntags: ["&lt;script&gt;alert(1)", UNPoA]')
    (web.site.root / "content" / "broken.md").write_text("---\ntitle: [unclosed\n---\n")
    publish(web.site.config, NOW, keep_going=True)  # the page shows what the last publish indexed
    response = web.app.test_client().get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;alert(1)" in html
    tree = lxml.html.document_fromstring(html)
    rows = {
        li.xpath("a")[0].text_content(): (li.xpath("a/@href")[0], li.xpath("span")[0].text_content())
        for li in tree.xpath("//ul[@class='tags']/li")
    }
    assert rows == {
        "<script>alert(1)": ("/tags/script-alert-1", "1 post"),
        "ATT": ("/tags/att", "2 posts"),
        "Libya": ("/tags/libya", "1 post"),
        "UNPoA": ("/tags/unpoa", "3 posts"),
    }
    alternates = {(el.get("type"), el.get("href")) for el in tree.xpath("//head/link[@rel='alternate']")}
    assert alternates == {("application/atom+xml", "/feeds/atom.xml"), ("application/rss+xml", "/feeds/rss.xml")}
    assert tree.xpath("//form[@action='/subscribe']//input[@name='email' and @type='email']")
    assert {el.get("value") for el in tree.xpath("//input[@name='digest']")} == {"", "daily", "weekly"}
    assert tree.xpath("//form[@role='search' and @method='get']//input[@name='q']")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    style = web.app.test_client().get(tree.xpath("//link[@rel='stylesheet']/@href")[0])
    assert style.status_code == 200 and style.mimetype == "text/css" and "immutable" in style.headers["Cache-Control"]


def test_double_opt_in_sends_only_the_confirmation_until_the_link_is_used(web: Web, secret: bytes) -> None:
    client = web.app.test_client()
    response = _sign_up(client, "Alice@Example.ORG", ("unpoa",), "daily")
    assert response.status_code == 200 and "Check your inbox" in _text(response)
    assert not web.mail.received  # queued: the request did not wait for the mail server
    assert web.send().sent == 1
    (msg,) = web.mail.messages()
    assert msg["To"].addresses[0].addr_spec == "Alice@example.org"
    assert msg["Subject"] == "Confirm your subscription to Test Site"
    pending, digest = _subscriber(web, "alice@example.org")
    assert (pending.status, pending.tags, digest) == ("pending", ("unpoa",), "daily")

    clock = FakeClock()
    assert send_digest(web.site.config, "daily", NOW, clock=clock.now, sleep=clock.sleep).sent == 0
    assert len(web.mail.received) == 1  # nothing but the confirmation before the link is used

    link = local(confirm_link(msg))
    page = client.get(link)
    assert page.status_code == 200 and "Confirm" in _text(page)
    assert _subscriber(web, "alice@example.org")[0].status == "pending"  # opening the link changes nothing

    confirmed = _press(web.app.test_client(), link, "Confirm")  # another browser: the link is the authority
    assert confirmed.status_code == 200 and "Your subscription is active" in _text(confirmed)
    active = _subscriber(web, "alice@example.org")[0]
    assert active.status == "active" and active.confirmed == NOW

    web.clock.at = NOW + timedelta(hours=1)
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    for replay in (client.get(link), client.post(link, data={"csrf": csrf})):
        assert replay.status_code == 200 and "subscribed already" in _text(replay)
    assert _subscriber(web, "alice@example.org")[0].confirmed == NOW  # the replay changed nothing

    tomorrow = NOW + timedelta(days=1)  # the next slot: today's was frozen without her
    assert send_digest(web.site.config, "daily", tomorrow, clock=clock.now, sleep=clock.sleep).sent == 1
    with open_state(web.site.config.state) as store:
        assert "alice@example.org" not in {s.address for s, _ in store.subscribers.active("weekly")}


def test_confirmation_links_expire_and_cannot_revive_an_unsubscribed_address(web: Web) -> None:
    client = web.app.test_client()
    _sign_up(client, "bob@example.com")
    web.send()
    old = local(confirm_link(web.mail.messages()[0]))
    web.clock.at = NOW + timedelta(days=3)
    for response in (client.get(old), client.post(old, data={"csrf": csrf_of(client.get("/").get_data(True))})):
        assert response.status_code == 400 and "expired" in _text(response)
    assert _subscriber(web, "bob@example.com")[0].status == "pending"

    _sign_up(client, "bob@example.com")
    web.send()
    fresh = local(confirm_link(web.mail.messages()[1]))
    assert "active" in _text(_press(client, fresh, "Confirm"))
    bob = _subscriber(web, "bob@example.com")[0]
    token = make_token(SECRET.encode(), UNSUBSCRIBE, bob.id, bob.address)
    assert client.post(f"/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200

    replay = client.get(fresh)
    assert replay.status_code == 400 and "now unsubscribed" in _text(replay)
    assert _subscriber(web, "bob@example.com")[0].status == "unsubscribed"


@pytest.mark.parametrize("route", ["/confirm", "/unsubscribe", "/manage"])
def test_forged_tokens_get_a_clear_page_and_change_nothing(web: Web, route: str) -> None:
    subscribe(web.site, ("carol@example.net", "Carol", []))
    client = web.app.test_client()
    csrf = csrf_of(client.get("/").get_data(as_text=True))
    carol = _subscriber(web, "carol@example.net")[0]
    wrong_purpose = {"/confirm": UNSUBSCRIBE, "/unsubscribe": MANAGE, "/manage": UNSUBSCRIBE}[route]
    other_secret = make_token(b"another-secret-0123456789", wrong_purpose, carol.id, carol.address)
    for token in [*FORGED, make_token(SECRET.encode(), wrong_purpose, carol.id, carol.address), other_secret]:
        for response in (
            client.get(route, query_string={"token": token}),
            client.post(route, query_string={"token": token}, data={"csrf": csrf, "action": "unsubscribe"}),
            client.post(route, query_string={"token": token}, data={"List-Unsubscribe": "One-Click"}),
        ):
            text = _text(response)
            assert response.status_code == 400, (token, response.status_code, text)
            assert ("That did not work" in text or "reload the page" in text) and "Traceback" not in text
    assert _subscriber(web, "carol@example.net")[0].status == "active"


def test_one_click_unsubscribe_from_a_real_digest_without_cookies(web: Web, secret: bytes) -> None:
    subscribe(web.site, ("dave@example.org", "", []), ("erin@example.org", "", []))
    clock = FakeClock()
    assert send_digest(web.site.config, "daily", NOW, clock=clock.now, sleep=clock.sleep).sent == 2
    for msg in web.mail.messages():
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = {
        m["To"].addresses[0].addr_spec: local(m["List-Unsubscribe"].split(",")[0].strip(" <>"))
        for m in web.mail.messages()
    }

    scanner = web.app.test_client(use_cookies=False)  # a mail scanner follows every link
    for method in (scanner.get, scanner.head):
        assert method(links["dave@example.org"]).status_code == 200
    assert _subscriber(web, "dave@example.org")[0].status == "active"  # a GET never unsubscribes

    mail_client = web.app.test_client(use_cookies=False)  # RFC 8058: no cookie, no CSRF field, no login
    response = mail_client.post(links["dave@example.org"], data="List-Unsubscribe=One-Click",
                                content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 200 and response.mimetype == "text/plain"
    response = mail_client.post(links["erin@example.org"], data={"List-Unsubscribe": "One-Click"},
                                content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 200
    assert mail_client.post(links["dave@example.org"], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert {_subscriber(web, a)[0].status for a in links} == {"unsubscribed"}
    assert "no more digests" in _text(scanner.get(links["dave@example.org"]))


def test_unsubscribe_page_button_needs_its_csrf_field(web: Web) -> None:
    subscribe(web.site, ("frank@example.org", "", []))
    frank = _subscriber(web, "frank@example.org")[0]
    url = f"/unsubscribe?token={make_token(SECRET.encode(), UNSUBSCRIBE, frank.id, frank.address)}"
    client = web.app.test_client()
    client.get(url)  # the cookie is set
    assert client.post(url, data={}).status_code == 400
    assert client.post(url, data={"csrf": "forged"}).status_code == 400
    assert _subscriber(web, "frank@example.org")[0].status == "active"
    response = _press(client, url, "Unsubscribe")
    assert response.status_code == 200 and "You are unsubscribed" in _text(response)
    assert _subscriber(web, "frank@example.org")[0].status == "unsubscribed"


def test_forms_without_a_valid_csrf_token_are_rejected(web: Web) -> None:
    client = web.app.test_client()
    attacker = web.app.test_client()
    their_token = csrf_of(attacker.get("/").get_data(as_text=True))  # valid for the attacker's cookie only
    client.get("/")
    for data in ({}, {"csrf": ""}, {"csrf": their_token}, {"csrf": their_token + "x"}):
        response = client.post("/subscribe", data={**data, "email": "grace@example.org"})
        assert response.status_code == 400 and "reload the page" in _text(response)
    no_cookie = web.app.test_client(use_cookies=False)
    assert no_cookie.post("/subscribe", data={"csrf": their_token, "email": "grace@example.org"}).status_code == 400
    assert not web.mail.received and _subscriber(web, "grace@example.org")[0] is None

    subscribe(web.site, ("heidi@example.org", "", ["ATT"]))
    heidi = _subscriber(web, "heidi@example.org")[0]
    url = f"/manage?token={make_token(SECRET.encode(), MANAGE, heidi.id, heidi.address)}"
    for action in ("save", "unsubscribe"):
        assert client.post(url, data={"csrf": their_token, "action": action, "tag": ["libya"]}).status_code == 400
    assert _subscriber(web, "heidi@example.org")[0] == heidi


def test_manage_changes_tags_and_digest_and_unsubscribes_from_all(web: Web) -> None:
    subscribe(web.site, ("ivan@example.org", "Ivan", ["ATT"]))
    ivan = _subscriber(web, "ivan@example.org")[0]
    url = f"/manage?token={make_token(SECRET.encode(), MANAGE, ivan.id, ivan.address)}"
    client = web.app.test_client()
    tree = lxml.html.document_fromstring(client.get(url).get_data(as_text=True))
    assert tree.xpath("//input[@name='tag' and @checked]/@value") == ["att"]
    assert tree.xpath("//input[@name='digest' and @checked]/@value") == [""]

    response = _press(client, url, "Save", action="save", tag=["libya", "unpoa"], digest="weekly")
    assert response.status_code == 200 and "Saved." in _text(response)
    ivan, digest = _subscriber(web, "ivan@example.org")
    assert (ivan.tags, digest, ivan.status) == (("libya", "unpoa"), "weekly", "active")
    with open_state(web.site.config.state) as store:
        assert [s.address for s, _ in store.subscribers.active("weekly")] == ["ivan@example.org"]
        assert store.subscribers.active("daily") == []

    assert _press(client, url, "Save", action="save", digest="monthly").status_code == 400  # no such digest
    assert _press(client, url, "Save", action="save").status_code == 200  # nothing ticked: every tag, every digest
    assert _subscriber(web, "ivan@example.org") == (dataclasses.replace(ivan, tags=None), None)

    asked = _press(client, url, "Unsubscribe from all", action="unsubscribe")  # asks once more, changes nothing
    assert asked.status_code == 200 and "No, keep my subscription" in _text(asked)
    assert _subscriber(web, "ivan@example.org")[0].status == "active"
    html = asked.get_data(as_text=True)
    done = client.post(
        form_action(html, "Yes, unsubscribe from all"),
        data={"csrf": csrf_of(html), "action": "unsubscribe", "confirmed": "yes"},
    )
    assert "You are unsubscribed" in _text(done)
    assert _subscriber(web, "ivan@example.org")[0].status == "unsubscribed"


def test_sign_ups_are_rate_limited_per_address_and_per_client(web: Web) -> None:
    client = web.app.test_client()
    for _ in range(3):
        assert _sign_up(client, "judy@example.org").status_code == 200
    over = _sign_up(client, "JUDY@example.org")  # the 4th today: nothing is sent, and the page does not say so
    first = _sign_up(client, "kate@example.org")
    assert over.status_code == first.status_code == 200
    assert _text(over).replace("JUDY", "kate") == _text(first)
    assert web.send().sent == 3 + 1 and web.mail.per_recipient()["judy@example.org"] == 3
    web.clock.at = NOW + timedelta(hours=25)
    assert _sign_up(client, "judy@example.org").status_code == 200
    assert web.send().sent == 1

    crowd = web.app.test_client()
    crowd.environ_base["REMOTE_ADDR"] = "2001:db8::1"
    for n in range(10):
        assert _sign_up(crowd, f"reader{n}@example.org").status_code == 200
    crowd.environ_base["REMOTE_ADDR"] = "2001:db8::2"  # the same /64
    refused = _sign_up(crowd, "reader10@example.org")
    assert refused.status_code == 429 and "your network" in _text(refused)
    assert _sign_up(client, "reader10@example.org").status_code == 200  # another client is not affected
    assert web.send().sent == 10 + 1


def test_a_sign_up_while_the_mail_server_is_down_shows_the_usual_page_and_is_sent_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    site = published_site(tmp_path / "site", port)  # nobody listens there yet
    app = create_app(site.config, secret=SECRET.encode(), now=lambda: NOW, min_fill=timedelta(0))
    mailer = app.extensions["publisher.mailer"]
    mailer.stop()  # the test makes the mailer's passes itself
    client = app.test_client()
    response = _sign_up(client, "not an address")
    assert response.status_code == 400 and "not a valid e-mail address" in _text(response)
    down = _sign_up(client, "kim@example.org")
    assert down.status_code == 200 and "Check your inbox" in _text(down)
    with caplog.at_level(logging.WARNING, logger="publisher"):
        mailer.send()
    assert f"127.0.0.1:{port}: cannot connect" in caplog.text  # the operator's log says what went wrong
    recorder = Recorder()
    with mail_server(recorder, port):
        up = _sign_up(client, "lee@example.org")
        assert _text(down).replace("kim", "lee") == _text(up)  # the reader's page is the same either way
        for page in (_text(down), _text(up)):
            assert not any(word in page.lower() for word in ("127.0.0.1", str(port), "outbox", "connect", "smtp"))
        mailer.send()
    assert recorder.per_recipient() == {"kim@example.org": 1, "lee@example.org": 1}
    unknown = client.get("/nowhere")
    assert unknown.status_code == 404 and "Page not found" in _text(unknown) and unknown.mimetype == "text/html"


def test_feeds_are_served_with_types_validators_and_304(web: Web) -> None:
    client = web.app.test_client()
    feeds = web.site.feeds
    for path, media_type in (("atom.xml", "application/atom+xml"), ("tags/unpoa/rss.xml", "application/rss+xml")):
        response = client.get(f"/feeds/{path}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == f"{media_type}; charset=utf-8"
        assert response.data == (feeds / path).read_bytes()
        etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
        assert "max-age=300" in response.headers["Cache-Control"]
        for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
            again = client.get(f"/feeds/{path}", headers=headers)
            assert again.status_code == 304 and again.data == b""
        assert client.get(f"/feeds/{path}", headers={"If-None-Match": '"stale"'}).status_code == 200

    (web.site.root / "secret.txt").write_text("secret")
    (feeds / "notes.txt").write_text("not a feed")
    for path in ("../config.toml", "%2e%2e/config.toml", "tags/../../config.toml", "..%2fsecret.txt", "notes.txt",
                 "tags/nope/atom.xml", "tags/unpoa/json.xml", "/etc/passwd"):  # fmt: skip
        response = client.get(f"/feeds/{path}")
        assert response.status_code == 404, path
        assert b"secret" not in response.data


def test_a_missing_secret_or_smtp_password_stops_the_start_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.cli import run

    site = published_site(tmp_path / "site")
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET"):
        create_app(site.config)
    assert run(["--site", str(site.root), "serve"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("publisher: environment: PUBLISHER_SECRET") and error.count("\n") == 1
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    needs_login = published_site(tmp_path / "login")
    text = (
        (needs_login.root / "config.toml")
        .read_text()
        .replace('security = "none"', 'security = "none"\nusername = "u"\npassword_env = "SMTP_PW"')
    )
    (needs_login.root / "config.toml").write_text(text)
    monkeypatch.delenv("SMTP_PW", raising=False)
    with pytest.raises(ConfigError, match="SMTP_PW"):
        create_app(needs_login.config)


def test_production_app_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import publisher.web as web_module

    site = published_site(tmp_path / "site")
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    monkeypatch.setenv("PUBLISHER_CONFIG", str(site.root / "config.toml"))
    monkeypatch.setenv("PUBLISHER_PROXIES", "1")
    web_module._default_app.cache_clear()
    app = web_module.app
    assert isinstance(app, Flask) and web_module.app is app
    response = app.test_client().get(
        "/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/blog"}
    )
    assert 'action="/blog/subscribe"' in response.get_data(as_text=True)
    assert "Secure" in response.headers["Set-Cookie"]
    web_module._default_app.cache_clear()
    monkeypatch.setenv("PUBLISHER_PROXIES", "lots")
    with pytest.raises(ConfigError, match="PUBLISHER_PROXIES"):
        web_module.app_from_environment()


def test_publisher_serve_runs_the_app_and_says_what_to_open(tmp_path: Path) -> None:
    site = published_site(tmp_path / "site")
    port = free_port()
    with publisher_serve(site.root, port) as served:
        assert served.url == f"http://127.0.0.1:{port}/"
        assert any(f'[web] base_url = "{served.url}"' in line for line in served.said)  # links point elsewhere
        with urllib.request.urlopen(f"{served.url}feeds/atom.xml", timeout=10) as response:
            assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"


@pytest.mark.parametrize(
    "url", ["http://localhost:8000", "http://127.0.0.1:8001/", "http://[::1]/", "https://localhost/"]
)
def test_a_base_url_on_this_machine_is_accepted_with_a_warning(tmp_path: Path, url: str) -> None:
    site = published_site(tmp_path / "site", extra=f'\n[web]\nbase_url = "{url}"\n')
    config = site.config
    assert config.web.base_url == url.rstrip("/") + "/"
    assert "links in e-mails only work on it" in (config.web.warning() or "")
    port = urlsplit(url).port or 80
    assert links_open_here(config, port) != url.startswith("https")


@pytest.mark.parametrize(
    "url", ["http://x.org/", "http://127.0.0.2/", "http://localhost.example.org/", "http://[::2]/"]
)
def test_a_plain_http_base_url_elsewhere_is_refused(tmp_path: Path, url: str) -> None:
    site = published_site(tmp_path / "site")
    (site.root / "config.toml").write_text((site.root / "config.toml").read_text() + f'\n[web]\nbase_url = "{url}"\n')
    with pytest.raises(
        ConfigError, match=re.escape(f"web.base_url = {url!r}: expected an absolute https URL (http only")
    ):
        load_config(site.root / "config.toml")


def test_signing_up_an_active_address_keeps_its_settings_and_tells_no_stranger(web: Web) -> None:
    subscribe(web.site, ("liam@example.org", "Liam", ["ATT"]))
    before = _subscriber(web, "liam@example.org")
    client = web.app.test_client()
    stranger = _sign_up(client, "liam@example.org", ("libya",), "weekly")
    newcomer = _sign_up(client, "mia@example.org", ("libya",), "weekly")
    assert _text(stranger).replace("liam", "mia") == _text(newcomer)  # the same page either way
    assert _subscriber(web, "liam@example.org") == before
    web.send()
    link = local(confirm_link(web.mail.messages()[0]))
    response = client.get(link)
    assert "subscribed already" in _text(response) and "Manage your subscription" in _text(response)
    assert _subscriber(web, "liam@example.org") == before
    for path in ("/feeds", "/feeds/", "/feeds//atom.xml", "/feeds/./atom.xml/"):
        assert client.get(path).status_code == 404, path  # nothing redirects


def test_front_page_reads_the_index_without_waiting_for_a_running_publish(web: Web) -> None:
    web.site.post("new.md", "title: New\ndate: 2026-11-19 09:00\ntags: [Fresh]")
    with open_state(web.site.config.state) as store, store.transaction():  # a publish holding the write lock
        html = web.app.test_client().get("/").get_data(as_text=True)
    assert "UNPoA" in html and "Fresh" not in html  # what the last publish saw, nothing read from content/
    publish(web.site.config, NOW)
    assert "Fresh" in web.app.test_client().get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/confirm", "/unsubscribe", "/manage"])
def test_a_token_with_a_huge_id_is_a_clear_400(web: Web, path: str) -> None:
    response = web.app.test_client().get(f"{path}?token=99999999999999999999999999.x")
    assert response.status_code == 400
    assert "malformed" in response.get_data(as_text=True)


@pytest.mark.parametrize("route", ["/confirm", "/unsubscribe", "/manage"])
def test_a_bad_token_does_not_tell_whether_its_subscriber_id_exists(web: Web, route: str) -> None:
    subscribe(web.site, ("olga@example.org", "", []))
    olga = _subscriber(web, "olga@example.org")[0]
    client = web.app.test_client()
    pages = {sid: client.get(route, query_string={"token": f"{sid}.AAAAAAAAAAAAAAAAAAAAAA"}) for sid in (olga.id, 999)}
    assert {r.status_code for r in pages.values()} == {400}
    assert _text(pages[olga.id]) == _text(pages[999])


def test_publisher_run_sends_the_queued_confirmations(web: Web, secret: bytes) -> None:
    from publisher.cli import run

    _sign_up(web.app.test_client(), "nina@example.org")
    assert not web.mail.received
    assert run(["--site", str(web.site.root), "run", "--once"]) == 0
    assert web.mail.per_recipient() == {"nina@example.org": 1}
    assert "/confirm?token=" in web.mail.messages()[0].get_content()
    assert run(["--site", str(web.site.root), "run", "--once"]) == 0
    assert len(web.mail.received) == 1  # sent once


HOLD_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE meta SET value = value")
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
db.execute("COMMIT")
"""


def test_one_click_unsubscribe_succeeds_at_once_while_another_process_holds_the_state_database(
    web: Web, secret: bytes
) -> None:
    subscribe(web.site, ("pat@example.org", "", []), ("quinn@example.org", "", []))
    pat = _subscriber(web, "pat@example.org")[0]
    url = f"/unsubscribe?token={make_token(SECRET.encode(), UNSUBSCRIBE, pat.id, pat.address)}"
    holder = subprocess.Popen(  # a long publish, as far as SQLite can tell
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(web.site.config.state.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        started = time.monotonic()
        response = web.app.test_client(use_cookies=False).post(url, data={"List-Unsubscribe": "One-Click"})
        took = time.monotonic() - started
    finally:
        holder.communicate("", timeout=10)
    assert response.status_code == 200 and response.get_data(as_text=True) == "unsubscribed pat@example.org\n"
    assert took < 2, took  # it waited for the lock (30 s, later 10 s), then failed
    assert _subscriber(web, "pat@example.org")[0].status == "active"  # recorded; the state file was busy

    clock = FakeClock()
    assert send_digest(web.site.config, "daily", NOW, clock=clock.now, sleep=clock.sleep).sent == 1
    assert web.mail.per_recipient() == {"quinn@example.org": 1}  # nothing for the reader who left
    assert _subscriber(web, "pat@example.org")[0].status == "unsubscribed"


def test_manage_offers_only_published_tags_and_warns_about_the_others(web: Web) -> None:
    subscribe(web.site, ("rosa@example.org", "", ["ATT", "Libia", "Knitting"]))
    rosa = _subscriber(web, "rosa@example.org")[0]
    url = f"/manage?token={make_token(SECRET.encode(), MANAGE, rosa.id, rosa.address)}"
    client = web.app.test_client()
    page = client.get(url)
    tree = lxml.html.document_fromstring(page.get_data(as_text=True))
    assert tree.xpath("//input[@name='tag']/@value") == ["att", "libya", "unpoa"]  # what the published posts have
    assert tree.xpath("//input[@name='tag' and @checked]/@value") == ["att"]
    (warning,) = tree.xpath("//p[@class='warning']")
    assert "'libia' (did you mean Libya?), 'knitting'" in warning.text_content()

    refused = _press(client, url, "Save", action="save", tag=["att", "knitting"])
    assert refused.status_code == 400 and "Not saved: no post has the tag 'knitting'" in _text(refused)
    assert _subscriber(web, "rosa@example.org")[0] == rosa  # nothing changed
    saved = _press(client, url, "Save", action="save", tag=["att", "libya"])
    assert saved.status_code == 200 and "Saved." in _text(saved) and "No post has" not in _text(saved)
    assert _subscriber(web, "rosa@example.org")[0].tags == ("att", "libya")


def test_a_deferred_confirmation_is_retried_at_a_later_pass_with_the_digests_rules(web: Web) -> None:
    web.mail.temporary["uma@example.org"] = 1  # 451 once
    _sign_up(web.app.test_client(), "uma@example.org")
    first = web.send()
    assert (first.sent, first.waiting.count) == (0, 1) and not web.mail.received
    assert web.send().sent == 0  # not yet due: a pass never waits for it
    web.clock.at += timedelta(seconds=10)  # smtp.retry_base_seconds
    assert web.send().sent == 1 and web.mail.per_recipient() == {"uma@example.org": 1}
    web.mail.permanent.add("vic@example.org")
    _sign_up(web.app.test_client(), "vic@example.org")
    assert web.send().bounced == ["vic@example.org"] and _subscriber(web, "vic@example.org")[0].status == "bounced"


def test_the_outbox_command_counts_the_confirmation_emails(web: Web, capsys: pytest.CaptureFixture[str]) -> None:
    web.mail.temporary["uma@example.org"] = 1  # 451 once: waiting for its retry
    web.mail.permanent.add("vic@example.org")
    for address in ("uma@example.org", "vic@example.org", "wes@example.org"):
        _sign_up(web.app.test_client(), address)
    web.send()
    assert run(["--site", str(web.site.root), "outbox"]) == 0
    assert "confirmations\t\t1 sent, 1 waiting, 1 bounced, 0 failed\n" in capsys.readouterr().out


def test_a_recorded_unsubscribe_does_not_undo_a_later_sign_up(web: Web, secret: bytes) -> None:
    subscribe(web.site, ("wes@example.org", "", []))
    wes = _subscriber(web, "wes@example.org")[0]
    web.clock.at = NOW + timedelta(minutes=5)
    with open_state(web.site.config.state) as store:  # the reader signed up again and confirmed since
        record_unsubscribe(store, wes, NOW)  # as while a publish held the state file
        store.subscribers.confirm(wes.id, web.clock.at)
        assert apply_unsubscribes(store) == 0
        assert store.subscribers.by_id(wes.id).status == "active"
        record_unsubscribe(store, wes, web.clock.at + timedelta(minutes=1))
        assert apply_unsubscribes(store) == 1 and apply_unsubscribes(store) == 0
        assert store.subscribers.by_id(wes.id).status == "unsubscribed"
