"""Shared set-up for the web app tests: a published site with a real state file and a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask

from publisher.delivery import DeliveryReport
from publisher.signup import send_confirmations
from publisher.store import Store
from publisher.web import create_app

from .conftest import NOW, Site
from .digest_helpers import SECRET, published_site
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
        with Store(self.site.config.state.path) as store:
            return send_confirmations(self.site.config, store, clock=self.clock, sleep=self.clock.sleep)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    recorder = Recorder()
    clock = Clock()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port, SECOND_DIGEST)
        yield Web(site, create_app(site.config, secret=SECRET.encode(), now=clock, mailer=False), recorder, clock)


def local(url: str) -> str:
    """A link from an e-mail as a path of the app under test."""
    assert url.startswith(BASE), url
    return "/" + url.removeprefix(BASE)


def confirm_link(msg: EmailMessage) -> str:
    """The confirmation link of a confirmation e-mail."""
    found = re.search(r"https://\S+/confirm\?token=[\w.-]+", msg.get_content())
    assert found, msg.get_content()
    return found.group()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
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
