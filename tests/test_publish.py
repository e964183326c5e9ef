"""Publishing: deterministic bytes, only changed feeds rewritten, broken input loses nothing."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import publisher.content
import publisher.reading
from publisher.errors import ConfigError, ContentError, OutputError
from publisher.feeds import plan_feeds
from publisher.model import slugify
from publisher.publish import live_posts, publish
from publisher.reading import PARALLEL_THRESHOLD

from .conftest import NOW, REPO, Site
from .feedcheck import feedgen_reference


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*.xml")}


def _three_posts(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01 10:00\ntags: [UNPoA, ATT]\nauthor: Ann")
    site.post("b.md", "title: B\ndate: 2012-01-02 10:00\ntags: [ATT]\nauthor: Bob")
    site.post("c.md", "title: C\ndate: 2012-01-03 10:00\ntags: [Libya]\nauthor: Bob")


def test_golden_sample_feeds_match_committed_files(demo_site: Site) -> None:
    publish(demo_site.config, NOW)
    expected = {p.relative_to(REPO / "feeds").as_posix(): p.read_bytes() for p in (REPO / "feeds").rglob("*.xml")}
    assert demo_site.feed_files() == expected
    assert "tags/unpoa/atom.xml" in expected and "tags/unpoa/rss.xml" in expected


def test_layout_and_summary(site: Site) -> None:
    _three_posts(site)
    report = publish(site.config, NOW)
    assert sorted(site.feed_files()) == sorted(
        f"{folder}{fmt}.xml"
        for folder in ("", "tags/unpoa/", "tags/att/", "tags/libya/", "authors/ann/", "authors/bob/")
        for fmt in ("atom", "rss")
    )
    assert (report.posts, len(report.written), report.unchanged, report.removed) == (3, 12, 0, [])
    assert not list(site.feeds.rglob("*.tmp"))


def test_republishing_is_byte_identical_and_writes_nothing(site: Site) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    before, stamps = site.feed_files(), _mtimes(site.feeds)
    shutil.rmtree(site.root / ".publisher")  # even without the ledger: same bytes, no rewrite
    report = publish(site.config, NOW)
    assert report.written == [] and report.unchanged == 12
    again = publish(site.config, NOW)
    assert again.written == [] and again.unchanged == 12
    assert site.feed_files() == before
    assert _mtimes(site.feeds) == stamps


def test_editing_one_post_rewrites_exactly_its_feeds_and_equals_a_clean_publish(site: Site, tmp_path: Path) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    stamps = _mtimes(site.feeds)
    path = site.post("b.md", "title: B edited\ndate: 2012-01-02 10:00\ntags: [ATT]\nauthor: Bob")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse file systems
    report = publish(site.config, NOW)
    changed = {rel for rel, ns in _mtimes(site.feeds).items() if ns != stamps[rel]}
    expected = {f"{folder}{fmt}.xml" for folder in ("", "tags/att/", "authors/bob/") for fmt in ("atom", "rss")}
    assert set(report.written) == changed == expected
    clean = Site(tmp_path / "clean")
    shutil.copytree(site.root / "content", clean.root / "content", dirs_exist_ok=True)
    publish(clean.config, NOW)
    assert clean.feed_files() == site.feed_files()


def test_feed_of_a_tag_without_posts_is_removed(site: Site) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    (site.root / "content" / "c.md").unlink()
    report = publish(site.config, NOW)
    assert report.removed == ["tags/libya/atom.xml", "tags/libya/rss.xml"]
    assert not (site.feeds / "tags" / "libya").exists()
    assert (site.feeds / "tags" / "att" / "atom.xml").exists()


def test_max_items_keeps_the_newest(site: Site, tmp_path: Path) -> None:
    from .conftest import BASE_CONFIG

    small = Site(tmp_path / "small", BASE_CONFIG.replace("[feeds]\n", "[feeds]\nmax_items = 2\n"))
    _three_posts(small)
    publish(small.config, NOW)
    atom = (small.feeds / "atom.xml").read_text()
    assert atom.index("<title>C</title>") < atom.index("<title>B</title>")
    assert "<title>A</title>" not in atom


def test_tags_sharing_a_slug_are_merged_with_a_warning(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01\ntags: [UNPoA]")
    site.post("b.md", "title: B\ndate: 2012-01-02\ntags: [unpoa]")
    site.post("c.md", "title: C\ndate: 2012-01-03\ntags: [UNPoA]")
    site.post("d.md", "title: D\ndate: 2012-01-04\ntags: [Small Arms]")
    site.post("e.md", "title: E\ndate: 2012-01-05\ntags: [small-arms]")
    report = publish(site.config, NOW)
    assert report.warnings == ["tags 'Small Arms', 'small-arms' share the slug 'small-arms': merged into one feed"]
    unpoa = (site.feeds / "tags/unpoa/atom.xml").read_text()
    assert unpoa.count("<entry>") == 3 and 'term="unpoa"' not in unpoa  # most used spelling wins
    assert (site.feeds / "tags/small-arms/atom.xml").read_text().count("<entry>") == 2


def test_same_time_in_one_feed_is_warned_about(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    site.post("b.md", "title: B\ndate: 2012-01-01")
    report = publish(site.config, NOW)
    warning = (
        "a.md and b.md have the same time (2012-01-01T00:00:00+01:00); "
        "give one a different time so feed readers can order them"
    )
    assert report.warnings == [warning]
    assert publish(site.config, NOW).warnings == []  # said once: not again on a publish with nothing to do
    site.post("c.md", "title: C\ndate: 2012-01-05")
    assert publish(site.config, NOW).warnings == []  # nor on one that changed something else
    assert publish(site.config, NOW, force=True).warnings == [warning]  # a full publish says all again


def test_broken_files_are_all_reported_and_feeds_left_untouched(site: Site) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    before, stamps = site.feed_files(), _mtimes(site.feeds)
    site.post("b.md", "title: B\ndate: not a date\ntags: [ATT]")
    (site.root / "content" / "bad.md").write_bytes(b"---\ntitle: \xff\n---\n")
    site.post("new.md", "title: New\ndate: 2012-02-01\ntags: [New]")
    with pytest.raises(ContentError) as caught:
        publish(site.config, NOW)
    assert [(p.path, p.line) for p in caught.value.problems] == [("content/b.md", 3), ("content/bad.md", 2)]
    assert site.feed_files() == before and _mtimes(site.feeds) == stamps
    report = publish(site.config, NOW, keep_going=True)
    assert len(report.problems) == 2
    assert (site.feeds / "tags/new/atom.xml").exists()
    assert "<title>B</title>" not in (site.feeds / "atom.xml").read_text()


def test_two_posts_with_one_id_are_refused(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01\nid: same")
    site.post("b.md", "title: B\ndate: 2012-01-02\nid: same")
    with pytest.raises(ContentError) as caught:
        publish(site.config, NOW)
    assert str(caught.value) == "content/b.md: same entry id 'same' as content/a.md; set a distinct 'slug' or 'id'"


def test_full_content_off_gives_summaries_only(tmp_path: Path) -> None:
    from .conftest import BASE_CONFIG

    site = Site(tmp_path / "s", BASE_CONFIG.replace("[feeds]\n", "[feeds]\nfull_content = false\n"))
    site.post("a.md", "title: A\ndate: 2012-01-01", "Hello **world**.")
    publish(site.config, NOW)
    atom = (site.feeds / "atom.xml").read_text()
    rss = (site.feeds / "rss.xml").read_text()
    assert "<content" not in atom and "content:encoded>" not in rss
    assert '<summary type="html">Hello world.</summary>' in atom
    config = site.config
    for spec, posts in plan_feeds(config, live_posts(config, NOW)):
        for fmt in config.feeds.formats:
            assert (site.feeds / spec.path(fmt)).read_bytes() == feedgen_reference(config, spec, fmt, posts)


def test_missing_content_folder_is_an_error_and_keeps_the_feeds(site: Site) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    before = site.feed_files()
    shutil.move(site.root / "content", site.root / "content-moved")
    with pytest.raises(ConfigError, match=r"content.folder: .*content is not a folder"):
        publish(site.config, NOW)
    assert site.feed_files() == before


def test_hostile_tag_names_stay_inside_the_output_folder(site: Site) -> None:
    site.post("a.md", 'title: A\ndate: 2012-01-01\ntags: ["../../escape", "/etc/passwd", ".."]')
    publish(site.config, NOW)
    written = {p.resolve() for p in site.root.rglob("*.xml")}
    assert all(p.is_relative_to(site.feeds.resolve()) for p in written)
    assert {p.parent.name for p in site.feeds.glob("tags/*/atom.xml")} == {"escape", "etc-passwd", slugify("..")}


def test_a_scheduled_post_appears_once_its_time_has_come(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    site.post("later.md", "title: Later\ndate: 2030-01-01 09:00\ntags: [Soon]")
    first = publish(site.config, NOW)
    assert (first.posts, first.scheduled) == (1, 1)
    assert publish(site.config, NOW).written == []
    due = publish(site.config, datetime(2030, 1, 1, 9, tzinfo=UTC))
    assert (due.posts, due.scheduled) == (2, 0)
    assert "tags/soon/atom.xml" in due.written
    assert "<title>Later</title>" in (site.feeds / "atom.xml").read_text()


def test_a_feed_deleted_by_hand_is_written_again(site: Site) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    before = site.feed_files()
    (site.feeds / "tags/att/rss.xml").unlink()
    assert publish(site.config, NOW).written == ["tags/att/rss.xml"]
    assert site.feed_files() == before


def test_a_feed_cut_short_on_disk_is_written_again_though_its_time_is_kept(site: Site) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    before = site.feed_files()
    feed = site.feeds / "tags/att/rss.xml"
    written = feed.stat()
    feed.write_bytes(before["tags/att/rss.xml"][:-40])  # as a power cut may leave it
    os.utime(feed, ns=(written.st_atime_ns, written.st_mtime_ns))
    assert publish(site.config, NOW).written == ["tags/att/rss.xml"]
    assert site.feed_files() == before


def test_many_changed_files_are_parsed_in_parallel_with_the_same_result(site: Site, tmp_path: Path) -> None:
    for n in range(PARALLEL_THRESHOLD + 4):
        site.post(f"p{n:03}.md", f"title: Post {n}\ndate: 2012-01-01 {n // 60:02}:{n % 60:02}\ntags: [T{n % 7}]")
    site.post("broken.md", "title: Broken\ndate: nope")
    report = publish(site.config, NOW, keep_going=True)
    assert report.posts == PARALLEL_THRESHOLD + 4
    assert [str(p) for p in report.problems] == [
        "content/broken.md:3: date: 'nope' is not a date; expected YYYY-MM-DD or an ISO 8601 date-time"
    ]
    assert (site.feeds / "tags/t3/atom.xml").read_text().count("<entry>") == 20


def test_publishing_as_of_an_earlier_time_takes_back_posts_not_yet_due(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    site.post("embargo.md", "title: Embargoed\ndate: 2030-01-01\ntags: [Later]")
    publish(site.config, datetime(2030, 6, 1, tzinfo=UTC))  # a preview of the future
    assert "<title>Embargoed</title>" in (site.feeds / "atom.xml").read_text()
    report = publish(site.config, NOW)
    assert (report.posts, report.scheduled, report.removed) == (1, 1, ["tags/later/atom.xml", "tags/later/rss.xml"])
    assert "Embargoed" not in (site.feeds / "atom.xml").read_text()


def test_an_output_folder_that_cannot_be_written_is_one_clear_error(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    site.feeds.write_text("not a folder")
    with pytest.raises(OutputError, match=r"^cannot write .*/feeds/atom.xml: .*expected a writable folder$"):
        publish(site.config, NOW)
    assert site.feeds.read_text() == "not a folder"


def test_spellings_sharing_a_slug_within_one_post_are_merged_with_a_warning(site: Site) -> None:
    site.post("a.md", 'title: A\ndate: 2012-01-01\ntags: ["Small Arms & Light Weapons", "small-arms-light-weapons"]')
    report = publish(site.config, NOW)
    assert report.warnings == [
        "tags 'Small Arms & Light Weapons', 'small-arms-light-weapons' share the slug "
        "'small-arms-light-weapons': merged into one feed"
    ]
    atom = (site.feeds / "tags/small-arms-light-weapons/atom.xml").read_text()
    assert atom.count("<category ") == 1


def test_touched_but_unchanged_files_are_not_parsed_again(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    _three_posts(site)
    publish(site.config, NOW)
    for path in (site.root / "content").glob("*.md"):
        os.utime(path, ns=(1, 1))  # as a checkout does
    parsed: list[str] = []
    real = publisher.content.read_post
    monkeypatch.setattr(
        publisher.content, "read_post", lambda rel, raw, *args: parsed.append(rel) or real(rel, raw, *args)
    )
    site.post("b.md", "title: B again\ndate: 2012-01-02 10:00\ntags: [ATT]\nauthor: Bob")
    report = publish(site.config, NOW)
    assert parsed == ["b.md"]
    assert sorted(report.written) == [
        "atom.xml",
        "authors/bob/atom.xml",
        "authors/bob/rss.xml",
        "rss.xml",
        "tags/att/atom.xml",
        "tags/att/rss.xml",
    ]
    # The index took the touched files' new times: the next change reads only its own file.
    read: list[str] = []
    real_parse = publisher.reading._parse_file
    monkeypatch.setattr(
        publisher.reading, "_parse_file", lambda config, rel, sha: read.append(rel) or real_parse(config, rel, sha)
    )
    site.post("c.md", "title: C again\ndate: 2012-01-03 10:00\ntags: [Libya]\nauthor: Bob")
    publish(site.config, NOW)
    assert read == ["c.md"]


def test_a_large_publish_reports_progress_while_reading_and_writing(site: Site) -> None:
    for n in range(PARALLEL_THRESHOLD + 44):
        site.post(f"p{n:03}.md", f"title: Post {n}\ndate: 2012-01-01 {n // 60:02}:{n % 60:02}\ntags: [T{n % 30}]")
    seen: list[tuple[str, int, int]] = []
    publish(site.config, NOW, progress=lambda stage, done, total: seen.append((stage, done, total)))
    reading = [s for s in seen if s[0] == "reading posts"]
    writing = [s for s in seen if s[0] == "writing feeds"]
    assert reading == [("reading posts", 100, 300), ("reading posts", 200, 300), ("reading posts", 300, 300)]
    assert writing[-1] == ("writing feeds", 64, 64)  # site, 30 tags and one author, Atom and RSS


def test_feeds_after_edits_equal_a_fresh_publish_of_the_same_content(tmp_path: Path) -> None:
    """Re-rendered feeds take unchanged posts (and their HTML) from the index: nothing may differ."""
    edited = Site(tmp_path / "edited")
    _three_posts(edited)
    edited.post("d.md", "title: D\ndate: 2012-01-04 10:00\ntags: [ATT, Libya]\nauthor: Ann", "Some **bold** <b>&</b>.")
    publish(edited.config, NOW)
    edited.post("b.md", "title: B, edited\ndate: 2012-01-02 10:00\ntags: [ATT]\nauthor: Bob", "New [text](/x/).")
    report = publish(edited.config, NOW)
    assert "tags/att/atom.xml" in report.written  # rewritten with a, b and d, two of them from the index
    os.utime(edited.root / "content" / "c.md", ns=(1, 1))  # same bytes, new time: not parsed again
    publish(edited.config, NOW)
    fresh = Site(tmp_path / "fresh")
    shutil.copytree(edited.root / "content", fresh.root / "content", dirs_exist_ok=True)
    publish(fresh.config, NOW)
    assert edited.feed_files() == fresh.feed_files()
    assert b"Some &lt;strong&gt;bold&lt;/strong&gt;" in edited.feed_files()["tags/att/atom.xml"]


def test_a_feed_that_cannot_be_written_leaves_every_old_feed_and_the_ledger_as_they_were(
    site: Site, tmp_path: Path
) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01\ntags: [X]")
    publish(site.config, NOW)
    before = site.feed_files()
    site.post("b.md", "title: B\ndate: 2012-01-02\ntags: [X, Zzz]")
    (site.feeds / "tags" / "zzz").write_text("in the way")  # a file where the tag's folder must go
    with pytest.raises(OutputError, match=r"^cannot write .*tags/zzz/atom\.xml"):
        publish(site.config, NOW)
    assert site.feed_files() == before  # the site feed and tags/x were written before tags/zzz failed
    assert sorted(p.name for p in site.feeds.rglob(".*")) == []
    (site.feeds / "tags" / "zzz").unlink()
    publish(site.config, NOW)
    clean = Site(tmp_path / "clean", config_text=(site.root / "config.toml").read_text())
    shutil.copytree(site.root / "content", clean.root / "content", dirs_exist_ok=True)
    publish(clean.config, NOW)
    assert site.feed_files() == clean.feed_files()


def test_feeds_a_crashed_publish_left_unrecorded_are_removed_and_a_users_own_files_kept(
    site: Site, tmp_path: Path
) -> None:
    crashed = Site(tmp_path / "crashed", config_text=(site.root / "config.toml").read_text())
    crashed.post("gone.md", "title: Gone\ndate: 2012-01-01\ntags: [Gone]")
    publish(crashed.config, NOW)
    site.post("a.md", "title: A\ndate: 2012-01-01\ntags: [X]")
    # What a publish killed after writing a new tag's feeds, before recording them, leaves:
    shutil.copytree(crashed.feeds / "tags" / "gone", site.feeds / "tags" / "gone")
    (site.feeds / "tags" / "x").mkdir(parents=True)
    (site.feeds / "tags" / "x" / ".atom.xml.k2j4h1.tmp").write_bytes(b"<?xml half")
    own = {
        "README.txt": b"my notes",
        "tags/mine/atom.xml": b"<feed>my own feed, written by hand</feed>",
        "extra/atom.xml": crashed.feed_files()["atom.xml"],  # not a place publisher writes
    }
    for rel, data in own.items():
        (site.feeds / rel).parent.mkdir(parents=True, exist_ok=True)
        (site.feeds / rel).write_bytes(data)
    report = publish(site.config, NOW)
    assert sorted(report.removed) == ["tags/gone/atom.xml", "tags/gone/rss.xml", "tags/x/.atom.xml.k2j4h1.tmp"]
    assert not (site.feeds / "tags" / "gone").exists()
    assert {rel: (site.feeds / rel).read_bytes() for rel in own} == own
    assert sorted(site.feed_files()) == [
        "atom.xml", "authors/default-author/atom.xml", "authors/default-author/rss.xml", "extra/atom.xml",
        "rss.xml", "tags/mine/atom.xml", "tags/x/atom.xml", "tags/x/rss.xml",
    ]  # fmt: skip
