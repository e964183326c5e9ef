"""WebSub: feeds name their hubs, and after each publish every hub is told exactly which
feeds changed, by form-encoded POSTs to a real HTTP server on 127.0.0.1; a hub that is down
never fails a publish and gets its pings at the next one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from lxml import etree

from publisher.publish import publish

from .conftest import BASE_CONFIG, NOW, Site
from .feedlint import lint_atom, lint_rss

FEEDS = "https://news.example.org/blog/feeds/"


class Hub:
    """A hub that records each publish ping and answers with the next status of ``statuses``."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.statuses: list[int] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                assert self.headers["Content-Type"] == "application/x-www-form-urlencoded"
                status = hub.statuses.pop(0) if hub.statuses else 204
                if status < 300:
                    hub.pings.append(parse_qs(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"

    def topics(self) -> list[str]:
        """The feeds pinged since the last call, each ping checked for its mode."""
        assert all(p["hub.mode"] == ["publish"] for p in self.pings)
        found = sorted(url for p in self.pings for url in p["hub.url"])
        self.pings.clear()
        return found


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub()
    thread = threading.Thread(target=hub.server.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


def _site(root: Path, hubs: list[str]) -> Site:
    config = BASE_CONFIG.replace("[feeds]\n", '[feeds]\nformats = ["atom", "rss", "json"]\n')
    site = Site(root, config + f"\n[websub]\nhubs = {json.dumps(hubs)}\n")
    site.post("a.md", "title: A\ndate: 2012-01-01 10:00\ntags: [ATT]\nauthor: Ann")
    site.post("b.md", "title: B\ndate: 2012-01-02 10:00\ntags: [Libya]\nauthor: Bob")
    return site


def test_every_feed_names_its_hubs_and_itself(tmp_path: Path) -> None:
    hubs = ["https://hub.example.org/", "https://other.example.net/websub"]
    site = _site(tmp_path / "site", hubs)
    report = publish(site.config, NOW, hub_timeout=0.01)
    assert len(report.warnings) == 2  # no such hubs here: said, and the publish went on
    for rel in ("atom.xml", "tags/att/atom.xml", "authors/bob/rss.xml", "rss.xml"):
        data = (site.feeds / rel).read_bytes()
        root = etree.fromstring(data)
        links = root.iter("{http://www.w3.org/2005/Atom}link")
        assert [link.get("href") for link in links if link.get("rel") == "hub"] == hubs
        assert (lint_atom if rel.endswith("atom.xml") else lint_rss)(data, FEEDS + rel) == []
    feed = json.loads((site.feeds / "tags/att/feed.json").read_bytes())
    assert feed["hubs"] == [{"type": "WebSub", "url": url} for url in hubs]
    assert feed["feed_url"] == FEEDS + "tags/att/feed.json"


def test_a_publish_pings_exactly_the_feeds_it_wrote(tmp_path: Path, hub: Hub) -> None:
    site = _site(tmp_path / "site", [hub.url])
    first = publish(site.config, NOW)
    assert first.warnings == []
    assert hub.topics() == sorted(FEEDS + rel for rel in first.written)
    site.post("b.md", "title: B, edited\ndate: 2012-01-02 10:00\ntags: [Libya]\nauthor: Bob")
    edit = publish(site.config, NOW)
    assert len(edit.written) == 9  # site, Libya and Bob, in three formats
    assert hub.topics() == sorted(FEEDS + rel for rel in edit.written)
    assert publish(site.config, NOW).written == []
    assert hub.topics() == []  # nothing changed: nothing sent


def test_a_hub_that_fails_gets_its_pings_at_the_next_publish(tmp_path: Path, hub: Hub) -> None:
    site = _site(tmp_path / "site", [hub.url])
    hub.statuses = [500]
    report = publish(site.config, NOW)
    assert report.written  # the feeds are out, whatever the hub said
    assert report.warnings == [
        f"WebSub hub {hub.url}: answered 500 Internal Server Error; "
        f"{len(report.written)} feed update(s) kept to send at the next publish"
    ]
    assert hub.topics() == []
    again = publish(site.config, NOW)  # nothing changed since, but the hub is owed the pings
    assert again.written == [] and again.warnings == []
    assert hub.topics() == sorted(FEEDS + rel for rel in report.written)
    publish(site.config, NOW)
    assert hub.topics() == []


def test_a_hub_that_is_down_never_fails_a_publish(tmp_path: Path, hub: Hub) -> None:
    down = f"http://127.0.0.1:{_closed_port()}/hub"
    site = _site(tmp_path / "site", [down, hub.url])
    report = publish(site.config, NOW)
    assert len(report.warnings) == 1 and report.warnings[0].startswith(f"WebSub hub {down}: cannot connect")
    assert hub.topics() == sorted(FEEDS + rel for rel in report.written)  # the other hub is told at once
    assert publish(site.config, NOW).warnings == report.warnings  # said again while the hub stays down


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
