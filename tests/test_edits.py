"""An edit that moves no post re-renders only the feed documents listing it and reads only
their posts; edits that move posts (tags, dates, deletes, drafts) bring every feed and
archive page in line. Each step is checked against a forced publish of the same content,
which reads every post and renders every feed again: it must find nothing to change."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.publish import PublishReport, publish
from publisher.state import open_state

from .conftest import BASE_CONFIG, NOW, Site

CONFIG = BASE_CONFIG.replace("[feeds]\n", "[feeds]\narchives = true\nmax_items = 2\n")
TAGS = ["ATT", "UNPoA", "Libya"]


def _post(site: Site, n: int, *, tags: str | None = None, day: int | None = None, body: str = "Body.") -> None:
    if tags is None:
        tags = f"[{TAGS[n % 3]}, {TAGS[(n + 1) % 3]}]" if n % 2 else f"[{TAGS[n % 3]}]"
    site.post(
        f"p{n:02}.md",
        f"title: Post {n}\ndate: 2012-01-{day or n:02} 10:00\ntags: {tags}\nauthor: {'Ann' if n % 2 else 'Bob'}",
        body,
    )


@pytest.fixture
def blog(tmp_path: Path, backend: str) -> Site:
    site = Site(tmp_path / "site", CONFIG)
    for n in range(1, 15):
        _post(site, n)
    publish(site.config, NOW)
    return site


def _files(site: Site) -> dict[str, bytes]:
    return {p.relative_to(site.feeds).as_posix(): p.read_bytes() for p in sorted(site.feeds.rglob("*")) if p.is_file()}


def _checked(site: Site) -> PublishReport:
    """Publish, then check that a forced publish (every post read, every feed rendered) changes nothing."""
    before = _files(site)
    report = publish(site.config, NOW)
    after = _files(site)
    changed = sorted(rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel))
    assert sorted(report.written + report.removed) == changed  # nothing written that did not change
    forced = publish(site.config, NOW, force=True)
    assert (forced.written, forced.removed) == ([], [])
    assert _files(site) == after
    return report


def _holding(site: Site, n: int, day: int | None = None) -> list[str]:
    """The feed files whose entries include post n (by its entry id, which holds its date)."""
    entry_id = f"tag:news.example.org,2012-01-{day or n:02}:p{n:02}".encode()
    return sorted(rel for rel, data in _files(site).items() if entry_id in data)


def test_a_body_edit_rewrites_exactly_the_documents_listing_the_post(blog: Site) -> None:
    _post(blog, 5, body="A new first paragraph, so the summary changes too.")
    report = _checked(blog)
    assert sorted(report.written) == _holding(blog, 5)
    assert "archive/" in " ".join(report.written)  # the site feed's archive page holding it, not the newest page
    assert report.posts == 14 and report.unchanged == len(_files(blog)) - len(report.written)


@contextlib.contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL the state database runs within the block: the real SQLite, traced."""
    connect = sqlite3.connect
    seen: list[str] = []

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        db = connect(*args, **kwargs)  # type: ignore[arg-type]
        db.set_trace_callback(seen.append)
        return db

    sqlite3.connect = traced  # type: ignore[assignment]
    try:
        yield seen
    finally:
        sqlite3.connect = connect


def test_a_body_edit_reads_only_the_posts_of_the_documents_listing_it(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", CONFIG)
    for n in range(1, 15):
        _post(site, n)
    publish(site.config, NOW)
    _post(site, 5, body="Edited.")
    with _statements() as seen:
        report = publish(site.config, NOW)
    assert report.written and seen
    post_reads = [sql for sql in seen if re.search(r"\bFROM files\b", sql) and "revision" in sql]
    assert post_reads and all(" WHERE path IN (" in sql for sql in post_reads)  # never the whole index
    read = {name for sql in post_reads for name in re.findall(r"'(p\d\d\.md)'", sql)}
    listed = {f"p{n:02}.md" for rel in report.written for n in range(1, 15) if f"p{n:02}" in _text(site, rel)}
    assert read == listed | {"p05.md"}
    assert len(read) < 14


def _text(site: Site, rel: str) -> str:
    return (site.feeds / rel).read_text(encoding="utf-8")


def test_changing_a_posts_tags_moves_it_between_tag_feeds(blog: Site) -> None:
    _post(blog, 4, tags="[Libya, Disarmament]")
    report = _checked(blog)
    assert "tags/disarmament/atom.xml" in report.written
    assert any(rel.startswith("tags/unpoa/") for rel in report.written)  # it left UNPoA's pages
    _post(blog, 4, tags="[Libya, Disarmament]", body="Edited after the move.")  # the new lists are used
    report = _checked(blog)
    assert sorted(report.written) == _holding(blog, 4) and "tags/disarmament/atom.xml" in report.written


def test_back_dating_a_post_rewrites_the_pages_from_its_new_place_on(blog: Site) -> None:
    _post(blog, 13, day=1)  # from the newest pages to the oldest
    _checked(blog)
    _post(blog, 13, day=1, body="Edited where it now is.")
    report = _checked(blog)
    assert sorted(report.written) == _holding(blog, 13, day=1)
    assert "archive/1.xml" in report.written  # the site feed's oldest page now holds it


def test_deleting_a_post_and_making_one_a_draft(blog: Site) -> None:
    (blog.root / "content" / "p07.md").unlink()
    _checked(blog)
    assert _holding(blog, 7) == []
    blog.post("p08.md", "title: Post 8\ndate: 2012-01-08 10:00\ntags: [UNPoA]\ndraft: true")
    _checked(blog)
    assert _holding(blog, 8) == []
    _post(blog, 9, body="Edited after the others left.")
    assert sorted(_checked(blog).written) == _holding(blog, 9)


def test_a_title_edit_reaches_the_web_pages_tag_lists(blog: Site) -> None:
    blog.post("p14.md", "title: Retitled\ndate: 2012-01-14 10:00\ntags: [Libya]\nauthor: Bob")
    _checked(blog)
    with open_state(blog.config.state) as store:
        newest = store.web_tags.one("libya")
    assert newest is not None and newest.newest[0].title == "Retitled"
