"""`publisher import archive`: a blog's "Tag Archives" page saved as text."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from publisher.errors import ImportFailed
from publisher.feeds import plan_feeds
from publisher.importers import ImportReport, import_source
from publisher.model import Tag
from publisher.publish import live_posts, publish

from .conftest import ATOM_SCHEMA, NOW, SEED, Site
from .feedcheck import assert_round_trip

TITLES = [
    "Illicit Cross Border Flows (especially SALWs) as Threats to International Peace and Security",
    "PoA on Small Arms Prep Com Wrap Up: Looking Forward to August",
    "Discussion over Chair’s Summary at the Final Day of the PoA Prep Com",
    "Reviewing for the Purpose of Strengthening the PoA on Small Arms",
    "A Review of the New SG Report on the Support Mission in Libya: Urgent Security Challenges",
]
DATES = ["2012-04-25", "2012-03-26", "2012-03-23", "2012-03-23", "2012-03-08"]


def _import(site: Site, source: Path = SEED, **options: object) -> ImportReport:
    return import_source(site.config, "archive", str(source), **options)  # type: ignore[arg-type]


def _files(site: Site) -> dict[str, tuple[bytes, int]]:
    """Every file under content/ with its bytes and mtime: "nothing changed" means exactly this."""
    return {
        p.relative_to(site.root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted((site.root / "content").rglob("*"))
        if p.is_file()
    }


def test_seed_archive_imports_exactly_five_posts(site: Site) -> None:
    report = _import(site, year=2012)
    assert report.summary() == "5 new posts, 0 updated, 0 unchanged, 0 skipped"
    config = site.config
    posts = live_posts(config, NOW)
    assert [p.title for p in posts] == TITLES
    assert [p.published.astimezone(config.site.tz).date().isoformat() for p in posts] == DATES
    assert Counter(a.name for p in posts for a in p.authors) == {"Katherine Prizeman": 4, "Robert Zuber": 1}
    assert {p.tags for p in posts} == {(Tag("UNPoA"),)}
    for post, day in zip(posts, DATES, strict=True):
        assert post.id == f"tag:news.example.org,{day}:{post.slug}"
        assert post.source == f"{day}-{post.slug}.md"


def test_second_post_bullets_become_a_markdown_list(site: Site) -> None:
    _import(site, year=2012)
    second = live_posts(site.config, NOW)[1]
    items = re.findall(r"<li>(.*?)</li>", second.html, re.S)
    assert len(items) == 5
    assert items[0].startswith("Encouraging national action plans on small arms")
    assert items[4].startswith("Deciding which commitments of the PoA and the ITI")
    assert second.html.count("<ul>") == 1
    _, _, markdown = (site.root / "content" / second.source).read_text(encoding="utf-8").partition("\n---\n")
    assert len(re.findall(r"^- \S", markdown, re.M)) == 5
    assert "•" not in markdown


def test_signatures_become_authors_and_leave_the_body(site: Site) -> None:
    _import(site, year=2012)
    for post in live_posts(site.config, NOW):
        assert "–Katherine" not in post.html and "–Robert" not in post.html
        assert not post.html.rstrip().endswith(f"{post.authors[0].name}</p>")


def test_typographic_characters_are_kept(site: Site) -> None:
    _import(site, year=2012)
    first, _, _, reviewing, libya = live_posts(site.config, NOW)
    assert "“Threats to International Peace and Security”" in first.html
    assert "the Council’s attention can add" in first.html
    assert "mandate stipulates—in the words" in reviewing.html
    assert "heavy weapons– rockets and MANPADS among them–" in libya.html


def test_same_day_posts_keep_page_order_without_equal_times(site: Site) -> None:
    _import(site, year=2012)
    report = publish(site.config, NOW)
    assert report.warnings == []
    posts = live_posts(site.config, NOW)
    chair, reviewing = posts[2], posts[3]
    assert chair.published - reviewing.published == timedelta(minutes=1)
    # The page gives no times: the older post keeps its bare date, the newer one is a minute later.
    assert "\ndate: 2012-03-23\n" in (site.root / "content" / reviewing.source).read_text(encoding="utf-8")
    assert "\ndate: 2012-03-23T00:01:00\n" in (site.root / "content" / chair.source).read_text(encoding="utf-8")
    unpoa = dict((spec.slug, feed_posts) for spec, feed_posts in plan_feeds(site.config, posts))["unpoa"]
    assert [p.title for p in unpoa] == TITLES


def test_feeds_from_the_seed_are_valid_and_round_trip(site: Site) -> None:
    _import(site, year=2012)
    config = site.config
    publish(config, NOW)
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    atom_files = sorted(site.feeds.rglob("atom.xml"))
    assert [p.relative_to(site.feeds).as_posix() for p in atom_files if "tags/" in p.as_posix()] == [
        "tags/unpoa/atom.xml"
    ]
    for path in atom_files:
        assert schema.validate(etree.parse(str(path))), (path, schema.error_log)
    for spec, feed_posts in plan_feeds(config, live_posts(config, NOW)):
        for fmt in config.feeds.formats:
            assert_round_trip(config, spec, fmt, feed_posts)


def test_importing_twice_changes_nothing(site: Site) -> None:
    _import(site, year=2012)
    before = _files(site)
    report = _import(site, year=2012)
    assert (report.created, report.updated, len(report.unchanged)) == ([], [], 5)
    assert _files(site) == before


def test_an_updated_archive_updates_the_changed_post_in_place(site: Site, tmp_path: Path) -> None:
    _import(site, year=2012)
    edited = tmp_path / "edited.txt"
    text = SEED.read_text(encoding="utf-8")
    edited.write_text(text.replace("none of this will be quick.", "this will take years."), encoding="utf-8")
    report = _import(site, edited, year=2012)
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 1, 4)
    assert len(_files(site)) == 5
    libya = live_posts(site.config, NOW)[4]
    assert "this will take years." in libya.html
    assert [libya.source] == [Path(p).name for p in report.updated]


def test_dry_run_lists_the_files_and_writes_nothing(site: Site) -> None:
    report = _import(site, year=2012, dry_run=True)
    assert len(report.created) == 5
    assert report.created[0].startswith("content/2012-04-25-illicit-cross-border-flows")
    assert _files(site) == {}


def test_extra_tags_are_added_to_every_post(site: Site) -> None:
    _import(site, year=2012, tags=["Small Arms", "unpoa"])
    assert {p.tags for p in live_posts(site.config, NOW)} == {(Tag("UNPoA"), Tag("Small Arms"))}


_SHORT_ARCHIVE = """\
Tag Archives: Treaties

New Year treaty news

3 Jan 2013

A paragraph with *stars*, a [bracket] and <angle> text, & more.
1. Not a list.

–an aside, not a signature

See

Article 51

–Ann Example

Old year treaty news

28 Dec

• one
• two

–Bob Example
"""


def test_dates_may_carry_their_year_and_the_page_crosses_new_year(site: Site, tmp_path: Path) -> None:
    source = tmp_path / "treaties.txt"
    source.write_text(_SHORT_ARCHIVE, encoding="utf-8")
    _import(site, source)
    new, old = live_posts(site.config, NOW)
    tz = site.config.site.tz
    assert [new.published.astimezone(tz).date().isoformat(), old.published.astimezone(tz).date().isoformat()] == [
        "2013-01-03",
        "2012-12-28",
    ]
    assert new.html == (
        "<p>A paragraph with *stars*, a [bracket] and &lt;angle&gt; text, &amp; more.\n1. Not a list.</p>\n"
        "<p>–an aside, not a signature</p>\n<p>See</p>\n<p>Article 51</p>\n"
    )
    assert old.html == "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SEED.read_text(encoding="utf-8"), r'tag-archive-unpoa\.txt:5: dates like "25 Apr" have no year; pass --year YYYY'),
        ("Tag Archives: X\n\nTitle\n\n31 Feb 2012\n\nBody.\n\n–Ann\n", r':5: "31 Feb 2012" is not a date in 2012'),
        ("Tag Archives: X\n\nTitle\n\nBody without a date.\n\n–Ann\n", r':5: expected a date line such as "25 Apr" after the title "Title"'),
        ("Tag Archives: X\n", r"no posts after the header"),
        ("<?xml version='1.0'?>\n<rss/>\n", r'expected a "Tag Archives: NAME" page; it starts with "<\?xml'),
        (SEED.read_text(encoding="utf-8")[:-1200], r'source\.txt:\d+: the post "A Review of the New SG Report .*" has no closing signature line such as "–Name"; is the file truncated\?'),
        ("Tag Archives: X\n\nCaf\xe9\n", r"source\.txt:3: not UTF-8 text \(byte 0xe9\); save the file as UTF-8"),
        ("  \n", r"source\.txt: it is empty"),
    ],
    ids=["no-year", "impossible-date", "no-date", "no-posts", "xml", "truncated", "latin-1", "empty"],
)  # fmt: skip
def test_bad_archives_fail_with_one_clear_error_and_write_nothing(
    site: Site, tmp_path: Path, text: str, message: str
) -> None:
    site.post("existing.md", "title: Existing\ndate: 2020-01-01")
    before = _files(site)
    source = tmp_path / ("tag-archive-unpoa.txt" if "no year" in message else "source.txt")
    source.write_bytes(text.encode("latin-1" if "0xe9" in message else "utf-8"))
    with pytest.raises(ImportFailed, match=rf"^import: .*{message}") as failure:
        _import(site, source, year=None if "no year" in message else 2012)
    assert "\n" not in str(failure.value)
    assert _files(site) == before


def test_a_missing_file_is_named(site: Site, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.txt"
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(str(missing))}: no such file$"):
        _import(site, missing, year=2012)
