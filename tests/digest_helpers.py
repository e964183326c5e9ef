"""Shared set-up for the digest tests: a site with [smtp] and [[digests]], posts, subscribers, a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from publisher.publish import publish
from publisher.state import open_state
from publisher.subscribers import add_subscriber

from .conftest import BASE_CONFIG, NOW, Site

SECRET = "test-secret-0123456789abcdef"
DIGEST_CONFIG = """
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
max_retries = 3
retry_base_seconds = 10

[[digests]]
name = "daily"
schedule = "daily"
time = "08:00"
subject = "{{{{ site.title }}}}: {{{{ posts|length }}}} new — {{{{ posts[0].title }}}}"
from_address = "Test Site <digest@news.example.org>"
reply_to = "editor@news.example.org"
max_items = 10
"""

# (file, title, date, tags): the newest is first in every digest
POSTS = [
    ("one.md", "Treaty talks open", "2026-11-20 09:00", ["UNPoA", "ATT"]),
    ("two.md", "Arms trade report", "2026-11-21 09:00", ["ATT"]),
    ("three.md", "Libya mission renewed", "2026-11-22 09:00", ["Libya"]),
    ("four.md", "Review conference dates", "2026-11-23 09:00", ["UNPoA"]),
]


class FakeClock:
    """A clock that only moves when something sleeps: retries and throttling without waiting."""

    def __init__(self, start: datetime = NOW) -> None:
        self.at = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += timedelta(seconds=seconds)


def make_site(root: Path, port: int = 2525, extra: str = "") -> Site:
    site = Site(root, BASE_CONFIG + DIGEST_CONFIG.format(port=port) + extra)
    for name, title, date, tags in POSTS:
        site.post(name, f"title: {title}\ndate: {date}\ntags: [{', '.join(tags)}]", f"Body of {title}.")
    return site


def subscribe(site: Site, *people: tuple[str, str, list[str]]) -> None:
    with open_state(site.config.state) as store:
        for address, name, tags in people:
            add_subscriber(store, address, name, tags, NOW)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    return SECRET.encode()


def published_site(root: Path, port: int = 2525, extra: str = "") -> Site:
    site = make_site(root, port, extra)
    publish(site.config, NOW)
    return site
