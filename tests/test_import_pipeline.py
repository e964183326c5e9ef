"""What every import shares: Markdown that renders back to the source text, matching posts
by id, unique slugs, all-or-nothing writes, and the `publisher import` command."""

from __future__ import annotations

import errno
import html
import os
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import publisher.importers
from publisher.cli import run
from publisher.content import parse_post
from publisher.errors import ImportFailed, OutputError
from publisher.importers import import_source
from publisher.importers.common import html_body, markdown_text
from publisher.publish import live_posts, publish
from publisher.sanitize import clean_text

from .conftest import ATOM_SCHEMA, NOW, SEED, Site

LIBYA = "2012-03-08-a-review-of-the-new-sg-report-on-the-support-mission-in-libya-urgent-security.md"


def _render(site: Site, body: str) -> str:
    """The HTML publish makes of a post with this Markdown body."""
    text = f"---\ntitle: T\ndate: 2020-01-01\n---\n\n{body}\n"
    return parse_post(text, "p.md", site.config).html


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_plain_text_as_markdown_renders_to_the_same_text(site: Site, text: str) -> None:
    text = clean_text(text).strip()
    if text:
        assert html.unescape(_render(site, markdown_text(text))) == f"<p>{text}</p>\n"


@pytest.mark.parametrize(
    ("fragment", "rendered"),
    [
        ("Hello *world*\n\n1. not a list", "<div>Hello *world*\n\n1. not a list</div>\n"),
        ("<p>a</p>\n\n\n<pre>x\n\n  y</pre>", "<p>a</p>\n\n\n<pre>x\n\n  y</pre>\n"),
        ('<p><a href="../x/">rel</a> <img src="/i.png"></p>', '<p><a href="https://old.example/posts/x/">rel</a> <img src="https://old.example/i.png"></p>\n'),
        ("<p>ok</p><script>alert(1)</script>", "<p>ok</p>\n"),
    ],
)  # fmt: skip
def test_html_bodies_render_to_themselves(site: Site, fragment: str, rendered: str) -> None:
    assert _render(site, html_body(fragment, "https://old.example/posts/p/")) == rendered


def test_a_post_written_by_hand_with_the_same_id_is_never_overwritten(site: Site) -> None:
    slug = "illicit-cross-border-flows-especially-salws-as-threats-to-international-peace"
    mine = site.post("2012/illicit.md", f"title: My own version\ndate: 2012-04-25\nslug: {slug}")
    before = mine.read_bytes()
    report = import_source(site.config, "archive", str(SEED), year=2012)
    assert (len(report.created), report.updated) == (4, [])
    assert [s.reason for s in report.skipped] == [
        "content/2012/illicit.md has its id and was not imported: left as it is"
    ]
    assert mine.read_bytes() == before
    assert live_posts(site.config, NOW)[0].title == "My own version"
    assert len(import_source(site.config, "archive", str(SEED), year=2012).unchanged) == 4


def test_a_slug_another_post_has_gets_a_number(site: Site) -> None:
    slug = "poa-on-small-arms-prep-com-wrap-up-looking-forward-to-august"
    site.post("other.md", f"id: urn:other\ntitle: Other\ndate: 2020-01-01\nslug: {slug}")
    report = import_source(site.config, "archive", str(SEED), year=2012)
    assert f"content/2012-03-26-{slug}-2.md" in report.created
    assert publish(site.config, NOW).problems == []
    again = import_source(site.config, "archive", str(SEED), year=2012)
    assert len(again.unchanged) == 5


def test_a_repeated_id_in_one_source_is_skipped(site: Site, tmp_path: Path) -> None:
    source = tmp_path / "twice.txt"
    post = "Same title\n\n1 May 2020\n\nText.\n\n–Ann\n\n"
    source.write_text("Tag Archives: X\n\n" + post + post, encoding="utf-8")
    report = import_source(site.config, "archive", str(source))
    assert len(report.created) == 1
    assert [(s.what, s.reason) for s in report.skipped] == [
        ('"Same title"', "same id as an earlier post (tag:news.example.org,2020-05-01:same-title)")
    ]


def _failing_write(monkeypatch: pytest.MonkeyPatch, on_call: int) -> None:
    """Make the on_call-th file write fail as a full disk would."""
    real: Callable[[Path, bytes], None] = publisher.importers.write_atomically
    calls: list[Path] = []

    def write(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == on_call:
            raise OutputError(f"cannot write {path}: {os.strerror(errno.ENOSPC)}")  # as write_atomically does
        real(path, data)

    monkeypatch.setattr(publisher.importers, "write_atomically", write)


def test_a_failed_write_leaves_no_new_files(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_write(monkeypatch, on_call=3)
    with pytest.raises(ImportFailed, match=r"No space left on device; nothing was changed$"):
        import_source(site.config, "archive", str(SEED), year=2012)
    assert list((site.root / "content").iterdir()) == []


def test_a_failed_write_puts_back_the_files_it_changed(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import_source(site.config, "archive", str(SEED), year=2012)
    before = {p: p.read_bytes() for p in (site.root / "content").iterdir()}
    _failing_write(monkeypatch, on_call=3)
    with pytest.raises(ImportFailed):
        import_source(site.config, "archive", str(SEED), year=2012, tags=["Extra"])
    assert {p: p.read_bytes() for p in (site.root / "content").iterdir()} == before


@pytest.mark.parametrize(
    ("kind", "year", "message"),
    [
        ("feed", 2012, r"^import: --year only applies to 'archive' \(a feed or an export has full dates\)$"),
        ("blogger", None, r"^import: unknown kind 'blogger'; expected one of archive, wordpress, feed$"),
    ],
)
def test_wrong_options_are_errors(site: Site, kind: str, year: int | None, message: str) -> None:
    with pytest.raises(ImportFailed, match=message):
        import_source(site.config, kind, str(SEED), year=year)


def test_import_then_publish_in_a_fresh_project_gives_valid_tag_feeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "fresh"
    assert run(["init", str(folder)]) == 0
    assert run(["--site", str(folder), "import", "archive", str(SEED), "--year", "2012"]) == 0
    assert run(["--site", str(folder), "publish", "--now", NOW.isoformat()]) == 0
    out, err = capsys.readouterr()
    assert f"created content/{LIBYA}\n" in out
    assert (
        "5 new posts, 0 updated, 0 unchanged, 0 skipped\nNext: run 'publisher publish' to put them in the feeds.\n"
        in out
    )
    assert err == ""
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    unpoa = folder / "feeds" / "tags" / "unpoa"
    assert schema.validate(etree.parse(str(unpoa / "atom.xml"))), schema.error_log
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse((unpoa / f"{fmt}.xml").read_bytes())
        assert not parsed.bozo
        assert len(parsed.entries) == 5


def test_the_command_reports_a_dry_run_and_errors_in_one_line(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--site", str(site.root), "import", "archive", str(SEED), "--year", "2012", "--dry-run"]) == 0
    assert f"would create content/{LIBYA}\n" in capsys.readouterr().out
    assert list((site.root / "content").iterdir()) == []
    assert run(["--site", str(site.root), "import", "archive", str(SEED)]) == 1
    assert capsys.readouterr().err == (
        f'publisher: import: {SEED}:5: dates like "25 Apr" have no year; pass --year YYYY\n'
    )
