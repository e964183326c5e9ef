"""Images, enclosures, icons and languages: from front matter and config.toml into every format,
read back by feedparser (and as JSON), kept by the content index, and bad values refused with
one line naming the file and the key."""

from __future__ import annotations

import email
import shutil
import sqlite3
from email import policy
from pathlib import Path

import pytest
from lxml import etree

from publisher import __version__
from publisher.cli import run
from publisher.config import load_config
from publisher.content import read_post
from publisher.errors import ConfigError, ContentProblem
from publisher.feeds import fingerprint, plan_feeds
from publisher.model import Enclosure, Post
from publisher.publish import live_posts, publish
from publisher.state import open_state
from publisher.state.schema import SHARED, SQLITE_HISTORY

from .conftest import ATOM_SCHEMA, BASE_CONFIG, NOW, Site
from .digest_helpers import secret
from .feedcheck import assert_json_round_trip, assert_round_trip
from .feedlint import lint_atom, lint_rss

__all__ = ["secret"]  # the fixture, imported so pytest finds it here

EVERYTHING = BASE_CONFIG.replace(
    'timezone = "Europe/Paris"\n',
    'timezone = "Europe/Paris"\nicon = "/icon.png"\nlogo = "https://cdn.example.org/logo.png"\n',
).replace("[feeds]\n", '[feeds]\nformats = ["atom", "rss", "json"]\narchives = true\nmax_items = 2\nopml = true\n')
EPISODE = """\
title: Épisode 1
date: 2012-01-01 10:00
tags: [Podcast]
lang: fr
image: cover.jpg
enclosures:
  - {url: /media/ep1.mp3, type: audio/mpeg, length: 12345}
  - {url: "https://cdn.example.org/ep1.ogg", type: audio/ogg}
"""


def _site(root: Path) -> Site:
    site = Site(root, EVERYTHING)
    site.post("ep1.md", EPISODE, "Bonjour.")
    site.post("ep2.md", "title: Episode 2\ndate: 2012-01-02 10:00\ntags: [Podcast]\naudio: ep2.mp3\nimage: /i/2.png")
    site.post("ep3.md", "title: Episode 3\ndate: 2012-01-03 10:00\ntags: [Podcast]\nvideo: {url: v.mp4, length: 9}")
    site.post("p4.md", "title: Plain\ndate: 2012-01-04 10:00\ntags: [Podcast, News]")
    return site


def test_front_matter_media_and_language_become_post_fields_with_absolute_urls(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    posts = {p.slug: p for p in live_posts(site.config, NOW)}
    permalink = "https://news.example.org/blog/2012/01/01/ep1/"
    assert posts["ep1"].image == permalink + "cover.jpg"
    assert posts["ep1"].lang == "fr"
    assert posts["ep1"].enclosures == (
        Enclosure("https://news.example.org/media/ep1.mp3", "audio/mpeg", 12345),
        Enclosure("https://cdn.example.org/ep1.ogg", "audio/ogg"),
    )
    assert posts["ep2"].enclosures == (Enclosure("https://news.example.org/blog/2012/01/02/ep2/ep2.mp3", "audio/mpeg"),)
    assert posts["ep2"].image == "https://news.example.org/i/2.png"
    assert posts["ep3"].enclosures == (Enclosure("https://news.example.org/blog/2012/01/03/ep3/v.mp4", "video/mp4", 9),)
    assert (posts["p4"].image, posts["p4"].enclosures, posts["p4"].lang) == ("", (), "")


def test_every_feed_and_archive_page_carries_them_and_reads_back(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    report = publish(site.config, NOW)
    assert report.warnings[:1] == [
        "content/ep1.md: 2 enclosures; RSS carries one per item: its feeds list only "
        "https://news.example.org/media/ep1.mp3"
    ]
    config = site.config
    live = live_posts(config, NOW)
    plan = plan_feeds(config, live)
    assert any(spec.page for spec, _posts in plan)  # archive pages are checked too
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    base = "https://news.example.org/blog/feeds/"
    for spec, posts in plan:
        for fmt, lint in (("atom", lint_atom), ("rss", lint_rss)):
            if spec.page and fmt == "json":
                continue
            assert_round_trip(config, spec, fmt, posts)
            data = (site.feeds / spec.path(fmt)).read_bytes()
            assert lint(data, base + spec.path(fmt)) == []
            if fmt == "atom":
                assert schema.validate(etree.ElementTree(etree.fromstring(data))), schema.error_log
        if not spec.page:
            assert_json_round_trip(config, spec, posts)
    plain = (site.feeds / "tags/news/atom.xml").read_bytes()
    assert b"xmlns:media" not in plain  # only feeds with an image declare Media RSS


def test_the_index_keeps_them_and_a_change_rewrites_the_feeds_listing_the_post(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    with open_state(site.config.state) as store:
        indexed = {path: c.result for path, c in store.content.cached_files(html=False).items()}
    parsed = read_post("ep1.md", (site.root / "content/ep1.md").read_bytes(), site.config)
    assert isinstance(parsed, Post)
    kept = indexed["ep1.md"]
    assert isinstance(kept, Post)
    assert (kept.image, kept.enclosures, kept.lang) == (parsed.image, parsed.enclosures, parsed.lang)
    assert publish(site.config, NOW).written == []
    site.post("ep1.md", EPISODE.replace("length: 12345", "length: 54321"), "Bonjour.")
    written = publish(site.config, NOW).written
    assert "tags/podcast/archive/1.xml" in written and "tags/news/atom.xml" not in written
    assert b'length="54321"' in (site.feeds / "tags/podcast/archive/1.rss.xml").read_bytes()


@pytest.mark.parametrize(
    ("front", "line", "message"),
    [
        ("enclosures:\n  - {type: audio/mpeg}", 4, "enclosures: expected a table with url, type and length"),
        (
            "enclosures:\n  - {url: a.mp3, length: big}",
            4,
            "enclosures: https://news.example.org/blog/2012/01/01/a/a.mp3: expected the length in bytes",
        ),
        ("enclosures:\n  - {url: a.mp3, length: 1.5}", 4, "expected the length in bytes as a whole number, got 1.5"),
        ("enclosures:\n  - {url: a.mp3, type: [audio]}", 4, "expected a type such as 'audio/mpeg', got ['audio']"),
        ("enclosures:\n  - {url: a.bin9, type: mp3}", 4, "expected a type such as 'audio/mpeg', got 'mp3'"),
        ("enclosures: a.mp3", 4, "enclosures: expected a list of tables with url, type and length"),
        ("audio: a.unknownext", 4, "audio: https://news.example.org/blog/2012/01/01/a/a.unknownext: expected a type"),
        ("image: [a.png, b.png]", 4, "image: expected a URL or a path relative to the post"),
        ("lang: français", 4, "lang: expected a language tag such as 'fr' or 'pt-BR', got 'français'"),
    ],
)
def test_bad_values_are_one_line_naming_the_file_and_key(site: Site, front: str, line: int, message: str) -> None:
    text = f"---\ntitle: A\ndate: 2012-01-01\n{front}\n---\nBody.\n".encode()
    problem = read_post("a.md", text, site.config)
    assert isinstance(problem, ContentProblem)
    assert (problem.path, problem.line) == ("content/a.md", line)
    assert message in problem.message and "\n" not in problem.message


def test_site_icon_and_logo_are_absolute_and_checked(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", EVERYTHING)
    assert (site.config.site.icon, site.config.site.logo) == (
        "https://news.example.org/blog/icon.png",
        "https://cdn.example.org/logo.png",
    )
    (site.root / "config.toml").write_text(EVERYTHING.replace('"/icon.png"', '"ftp://x/icon.png"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^config: site.icon = 'ftp://x/icon.png': expected an http\(s\) URL"):
        load_config(site.root / "config.toml")


def test_a_digest_shows_the_post_image(tmp_path: Path, secret: bytes) -> None:
    digest = '\n[[digests]]\nname = "daily"\nschedule = "daily"\nfrom_address = "d@example.org"\n'
    site = Site(tmp_path / "site", BASE_CONFIG + digest)
    site.post("a.md", "title: With a picture\ndate: 2026-11-20 09:00\nimage: pic.jpg")
    site.post("b.md", "title: Without\ndate: 2026-11-21 09:00")
    publish(site.config, NOW)
    out = tmp_path / "preview"
    assert (
        run(["--site", str(site.root), "digest", "preview", "daily", "--out", str(out), "--now", NOW.isoformat()]) == 0
    )
    msg = email.message_from_bytes((out / "daily-d@example.org.eml").read_bytes(), policy=policy.default)
    page = msg.get_body(("html",)).get_content()
    assert page.count("<img ") == 1
    assert 'src="https://news.example.org/blog/2026/11/20/a/pic.jpg"' in page


def test_a_state_file_from_before_media_is_migrated_and_its_posts_read_again(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    config = site.config
    publish(config, NOW)
    # The state file as the previous release left it: no media column (nor what later versions added),
    # its posts indexed without one.
    db = sqlite3.connect(config.state.path, isolation_level=None)
    before_media = len(SQLITE_HISTORY) + next(i for i, step in enumerate(SHARED) if "COLUMN media" in step)
    db.executescript(
        "ALTER TABLE files DROP COLUMN media; ALTER TABLE outbox DROP COLUMN claimed_by;"
        " ALTER TABLE outbox DROP COLUMN lease_until; DROP TABLE send_pace; DROP INDEX files_stat;"
        " DROP INDEX files_problems; DROP TABLE feed_docs; DROP TABLE feed_posts;"
        f" PRAGMA user_version = {before_media};"
    )
    old_key = fingerprint(
        config.site, config.content, config.tags, __version__, 4
    )  # the last POST_FORMAT without media
    db.execute("UPDATE meta SET value = ? WHERE key = 'content_fingerprint'", (old_key,))
    db.close()
    shutil.rmtree(site.feeds)
    publish(config, NOW)
    with open_state(config.state) as store:
        kept = store.content.cached_files()["ep1.md"].result
    assert isinstance(kept, Post) and kept.image.endswith("/ep1/cover.jpg") and len(kept.enclosures) == 2
    assert b"<media:thumbnail" in (site.feeds / "tags/podcast/archive/1.xml").read_bytes()
