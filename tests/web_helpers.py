"""Shared set-up for the web app tests: a published site with a real state file and a real SMTP server."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask

from publisher.delivery import DeliveryReport
from publisher.publish import publish
from publisher.signup import send_confirmations
from publisher.state import open_state
from publisher.web import create_app

from .conftest import NOW, Site
from .digest_helpers import SECRET, make_site
from .mailserver import Recorder, mail_server

BASE = "https://news.example.org/blog/"  # [web] base_url: the site's own base_url
SECOND_DIGEST = """
[[digests]]
name = "weekly"
schedule = "weekly"
day = "monday"
from_address = "Test Site <digest@news.example.org>"
"""


class Clock:
    """The app's clock; a test moves it instead of waiting."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Web:
    site: Site
    app: Flask  # without its mailer thread: a test sends the queued confirmations itself, with send()
    mail: Recorder
    clock: Clock

    def send(self) -> DeliveryReport:
        """One pass of the confirmation sender, as `publisher run` makes at each tick."""
        with open_state(self.site.config.state) as store:
            return send_confirmations(self.site.config, store, clock=self.clock, sleep=self.clock.sleep)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    recorder = Recorder()
    clock = Clock()
    with mail_server(recorder) as port:
        site = make_site(tmp_path / "site", port, SECOND_DIGEST)
        config = site.root / "config.toml"  # with the front page's OPML form
        config.write_text(config.read_text(encoding="utf-8").replace("[feeds]\n", "[feeds]\nopml = true\n", 1))
        publish(site.config, NOW)
        # No minimum fill time here: the clock stands still (test_web_pages.py tests that limit).
        app = create_app(site.config, secret=SECRET.encode(), now=clock, mailer=False, min_fill=timedelta(0))
        yield Web(site, app, recorder, clock)


def local(url: str) -> str:
    """A link from an e-mail as a path of the app under test."""
    assert url.startswith(BASE), url
    return "/" + url.removeprefix(BASE)


def confirm_link(msg: EmailMessage) -> str:
    """The confirmation link of a confirmation e-mail."""
    found = re.search(r"https?://\S+/confirm\?token=[\w.-]+", msg.get_content())
    assert found, msg.get_content()
    return found.group()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def issued_of(html: str) -> str:
    """The sign-up form's signed issue time."""
    found = re.search(r'name="issued" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def form_action(html: str, label: str) -> str:
    """The action of the form whose submit button says ``label``."""
    for form in re.findall(r"<form.*?</form>", html, re.S):
        if f">{label}</button>" in form:
            action = re.search(r'action="([^"]+)"', form)
            assert action
            return action.group(1).replace("&amp;", "&")
    raise AssertionError(f"no form with a {label!r} button")


@dataclass(frozen=True)
class Served:
    url: str  # what `publisher serve` said to open
    said: list[str]  # its stderr so far
    lines: queue.Queue[str]  # its stderr still to read

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The next stderr line holding ``text``, blocking until the server writes it."""
        while True:
            line = self.lines.get(timeout=timeout)
            self.said.append(line)
            if text in line:
                return line


@contextmanager
def publisher_serve(root: Path, port: int) -> Iterator[Served]:
    """`publisher serve` as a real process on 127.0.0.1:port, until the block ends (SIGTERM)."""
    code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "--site", str(root), "serve", "--port", str(port)],
        env={**os.environ, "PUBLISHER_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert server.stdout is not None and server.stderr is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stderr], daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        first = server.stdout.readline()
        served = Served("", [], lines)
        served.wait_for("Running on")  # werkzeug is listening
        found = re.fullmatch(r"open (\S+) in a browser.*\n", first)
        assert found, (first, served.said)
        yield Served(found.group(1), served.said, lines)
    finally:
        server.terminate()
        server.wait(timeout=10)
        reader.join(timeout=10)
