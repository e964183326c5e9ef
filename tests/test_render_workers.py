"""A large publish renders and writes its feeds on the worker processes that parsed the posts:
the same bytes as the parent's own rendering, and still all feeds or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher import feeds, reading
from publisher.errors import OutputError
from publisher.publish import publish

from .conftest import NOW, Site

POSTS = reading.PARALLEL_THRESHOLD + 4  # parsed by the workers, who then stay for the feeds
FEEDS = 1000  # this test's threshold, whatever the default: its site just reaches it


@pytest.fixture(autouse=True)
def _fewer_feeds_to_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "RENDER_ON_WORKERS", FEEDS)


def _large_site(root: Path) -> Site:
    site = Site(root)
    for n in range(POSTS):
        site.post(
            f"p{n:03}.md",
            f"title: Post {n} & <b>co</b>\ndate: 2012-{1 + n % 12:02}-{1 + n % 28:02} {n % 24:02}:{n % 60:02}\n"
            f"tags: [T{2 * n}, T{2 * n + 1}, Common]\nauthor: Writer {n % 5}",
            f"First [link](../x{n}/) & text.\n\n* a\n* b <script>alert(1)</script>\n\n{'Long line. ' * (n % 40)}",
        )
    return site


def test_the_workers_render_the_same_bytes_as_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workers = _large_site(tmp_path / "workers")
    report = publish(workers.config, NOW)
    assert len(report.written) >= FEEDS  # enough feeds for the workers to take them
    parent = _large_site(tmp_path / "parent")
    monkeypatch.setattr(reading, "PARALLEL_THRESHOLD", POSTS + 1)  # parsed in the parent: no workers
    assert publish(parent.config, NOW).written == report.written
    assert workers.feed_files() == parent.feed_files()
    assert sorted(p.name for p in workers.feeds.rglob(".*")) == []  # no temp file left


def test_a_feed_the_workers_cannot_write_leaves_every_old_feed(tmp_path: Path) -> None:
    site = _large_site(tmp_path / "site")
    publish(site.config, NOW)
    before = site.feed_files()
    for n in range(POSTS):  # every post changes, so every feed is rendered again, on the workers
        site.post(
            f"p{n:03}.md",
            f"title: New {n}\ndate: 2012-01-01 {n % 24:02}:{n % 60:02}\ntags: [T{2 * n}, T{2 * n + 1}, Zzz]",
        )
    (site.feeds / "tags" / "zzz").write_text("in the way")  # a file where the new tag's folder must go
    with pytest.raises(OutputError, match=r"^cannot write .*tags/zzz/atom\.xml"):
        publish(site.config, NOW)
    assert site.feed_files() == before
    assert sorted(p.name for p in site.feeds.rglob(".*")) == []
