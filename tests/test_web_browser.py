"""A reader in a real browser: headless Chromium (Debian's) driven by Playwright against the app on 127.0.0.1.

The reader signs up, the confirmation e-mail is caught by aiosmtpd, the browser
opens its link and confirms, changes tags on the manage page, and finally
unsubscribes through the link of a real digest. Links in e-mails point at the
configured https base URL; the test opens the same path on the local server.

A local trial, end to end with real processes: `publisher serve` on
http://127.0.0.1:<port>/ as [web] base_url, a sign-up while the mail server is
down, `publisher run --once` once it is up, and the e-mailed link opened as is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from publisher.digest import send_digest
from publisher.state import open_state
from publisher.web import create_app

from .conftest import NOW
from .digest_helpers import SECRET, FakeClock, published_site, secret
from .mailserver import Recorder, free_port, mail_server
from .web_helpers import BASE, SECOND_DIGEST, confirm_link, publisher_serve

__all__ = ["secret"]  # the fixture, imported so pytest finds it here

CHROMIUM = Path("/usr/bin/chromium")
RUN = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium before the tests")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs this test")
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, empty user-data-dir.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@contextmanager
def http_server(app: Flask) -> Iterator[str]:
    """The app on a real HTTP server on 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join()


def _status(store_path: Path, address: str) -> tuple[str, tuple[str, ...] | None, str | None]:
    with open_state(store_path) as store:
        found = store.subscribers.by_address(address)
        assert found is not None
        return found.status, found.tags, store.subscribers.digest_of(found.id)


def _heading(page: Page, text: str) -> None:
    expect(page.locator("h1")).to_have_text(text)


def test_reader_signs_up_confirms_manages_and_unsubscribes_in_chromium(
    tmp_path: Path, browser: Browser, secret: bytes
) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port, SECOND_DIGEST)
        state = site.config.state.path
        # its mailer thread sends; the clock stands still, so no minimum fill time
        app = create_app(site.config, secret=SECRET.encode(), now=lambda: NOW, min_fill=timedelta(0))
        with http_server(app) as local:
            page = browser.new_page()
            page.goto(local)
            _heading(page, "Feeds and e-mail digests")
            page.get_by_role("link", name="UNPoA").click()
            _heading(page, "UNPoA")
            page.get_by_label("E-mail address").fill("reader@example.org")
            page.get_by_role("button", name="Subscribe").click()
            _heading(page, "Check your inbox")
            assert recorder.wait_for(1, timeout=10)
            assert _status(state, "reader@example.org") == ("pending", ("unpoa",), "daily")

            page.goto(confirm_link(recorder.messages()[0]).replace(BASE, local))
            assert _status(state, "reader@example.org")[0] == "pending"  # opening the link is not enough
            page.get_by_role("button", name="Confirm").click()
            _heading(page, "You are subscribed")
            assert _status(state, "reader@example.org")[0] == "active"

            page.get_by_role("link", name="Manage your subscription").click()
            _heading(page, "Your subscription")
            page.get_by_label("ATT").check()
            page.get_by_role("button", name="Save").click()
            expect(page.locator(".note")).to_have_text("Saved.")
            assert _status(state, "reader@example.org") == ("active", ("att", "unpoa"), "daily")

            clock = FakeClock()
            assert send_digest(site.config, "daily", NOW + timedelta(days=1), clock=clock.now, sleep=clock.sleep).sent
            digest = recorder.messages()[1]
            page.goto(digest["List-Unsubscribe"].split(",")[0].strip(" <>").replace(BASE, local))
            _heading(page, "Unsubscribe")
            assert _status(state, "reader@example.org")[0] == "active"  # a GET never unsubscribes
            page.get_by_role("button", name="Unsubscribe").click()
            _heading(page, "You are unsubscribed")
            assert _status(state, "reader@example.org")[0] == "unsubscribed"
        app.extensions["publisher.mailer"].stop()


def test_a_sign_up_while_mail_is_down_is_confirmed_after_publisher_run_with_no_link_edited(
    tmp_path: Path, browser: Browser, secret: bytes
) -> None:
    smtp_port, web_port = free_port(), free_port()
    local = f"http://127.0.0.1:{web_port}/"
    # A long tick: the server's mailer tries once, at the sign-up, and leaves the rest to `publisher run`.
    extra = f'{SECOND_DIGEST}\n[web]\nbase_url = "{local}"\nmin_fill_seconds = 0\n\n[run]\ntick_seconds = 3600\n'
    site = published_site(tmp_path / "site", smtp_port, extra)  # nothing listens on smtp_port yet
    with publisher_serve(site.root, web_port) as served:
        assert served.url == local
        assert any("links in e-mails only work on it" in line for line in served.said)
        page = browser.new_page()
        page.goto(served.url)
        page.get_by_role("link", name="ATT").click()
        page.get_by_label("E-mail address").fill("sam@example.org")
        page.get_by_role("button", name="Subscribe").click()
        _heading(page, "Check your inbox")
        text = page.locator("body").inner_text()
        assert not any(word in text.lower() for word in ("127.0.0.1", str(smtp_port), "outbox", "connect", "smtp"))
        assert f"127.0.0.1:{smtp_port}: cannot connect" in served.wait_for("confirmation e-mails")  # logged

        recorder = Recorder()
        with mail_server(recorder, smtp_port):
            ran = subprocess.run(
                [sys.executable, "-c", RUN, "--site", str(site.root), "run", "--once"],
                env={**os.environ, "PUBLISHER_SECRET": SECRET},
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert ran.returncode == 0, ran.stderr
        assert "confirmation e-mails: 1 sent, 0 waiting" in ran.stderr
        assert recorder.per_recipient() == {"sam@example.org": 1}
        link = confirm_link(recorder.messages()[0])
        assert link.startswith(local)

        page.goto(link)  # exactly as it came in the e-mail
        page.get_by_role("button", name="Confirm").click()
        _heading(page, "You are subscribed")
        assert _status(site.config.state.path, "sam@example.org") == ("active", ("att",), "daily")
