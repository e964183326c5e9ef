"""`publisher import feed`: any RSS or Atom feed, from a file or a URL."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from publisher.errors import ImportFailed
from publisher.importers import ImportReport, import_source
from publisher.model import Author, Post, Tag
from publisher.publish import live_posts, publish

from .conftest import NOW, REPO, SEED, Site

RSS = """\
<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Arms Watch</title><link>https://watch.example.com/</link><description>News</description>
  <item>
    <title>Treaty talks resume</title>
    <link>https://watch.example.com/2024/02/treaty-talks-resume.html</link>
    <guid isPermaLink="false">watch-1001</guid>
    <pubDate>Tue, 06 Feb 2024 09:30:00 -0500</pubDate>
    <dc:creator>Ana Lima</dc:creator>
    <category>ATT</category><category>Geneva</category>
    <description>Talks resume in Geneva.</description>
    <content:encoded><![CDATA[<p>Talks resumed in <em>Geneva</em> on Tuesday.</p>

<pre>code

block</pre>]]></content:encoded>
  </item>
  <item>
    <title>Only a description</title>
    <link>https://watch.example.com/?p=7</link>
    <pubDate>Mon, 05 Feb 2024 08:00:00 GMT</pubDate>
    <description>Short &amp;amp; *sweet*.</description>
  </item>
  <item>
    <description>An item with no title.</description>
    <pubDate>Sun, 04 Feb 2024 08:00:00 GMT</pubDate>
    <guid>https://watch.example.com/x</guid>
  </item>
  <item>
    <title>No date</title>
    <guid>https://watch.example.com/y</guid>
  </item>
</channel>
</rss>
"""

ATOM = """\
<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example.org/blog/">
  <title>Atom source</title><id>urn:uuid:feed</id><updated>2024-03-02T10:00:00Z</updated>
  <author><name>Feed Author</name></author>
  <entry>
    <id>urn:uuid:e1</id>
    <title type="html">Rock &amp;amp; roll &lt;b&gt;loud&lt;/b&gt;</title>
    <link href="https://atom.example.org/rock-and-roll/"/>
    <published>2024-03-01T10:00:00+01:00</published><updated>2024-03-02T10:00:00Z</updated>
    <category term="music" label="Music"/>
    <content type="text">Plain text &lt;not markup&gt;.

Second paragraph *not emphasis*.</content>
  </entry>
  <entry>
    <id>urn:uuid:e2</id><title>Only updated</title><updated>2024-03-01T08:00:00Z</updated>
    <author><name>Entry Author</name><email>entry@example.org</email></author>
    <summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>An <em>XHTML</em> summary, <a href="../about/">about</a></p></div></summary>
  </entry>
</feed>
"""

RSS_1_0 = """\
<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://r1.example.org/">
    <title>R1</title><link>https://r1.example.org/</link><description>d</description>
    <items><rdf:Seq><rdf:li rdf:resource="https://r1.example.org/rdf-item"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://r1.example.org/rdf-item">
    <title>RDF item</title><link>https://r1.example.org/rdf-item</link>
    <dc:date>2024-01-05T12:00:00Z</dc:date><dc:creator>Rita</dc:creator><dc:subject>Archives</dc:subject>
    <description>Old &lt;b&gt;school&lt;/b&gt;.</description>
  </item>
</rdf:RDF>
"""

RSS_0_91 = """\
<?xml version="1.0"?>
<rss version="0.91"><channel><title>Old</title><link>https://o.example.org/</link><description>d</description>
<language>en</language>
<item><title>Plain old item</title><link>https://o.example.org/1</link><description>Hello.</description></item>
</channel></rss>
"""


def _import(site: Site, source: Path | str, **options: object) -> ImportReport:
    return import_source(site.config, "feed", str(source), **options)  # type: ignore[arg-type]


def _write(tmp_path: Path, text: str | bytes, name: str = "feed.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _posts(site: Site) -> dict[str, Post]:
    return {post.id: post for post in live_posts(site.config, NOW)}


def test_rss_2_0_items_become_posts(site: Site, tmp_path: Path) -> None:
    report = _import(site, _write(tmp_path, RSS))
    assert report.summary() == "2 new posts, 0 updated, 0 unchanged, 2 skipped (1 no readable date, 1 no title)"
    assert [(s.what, s.reason) for s in report.skipped] == [
        ("entry 3", "no title"),
        ('entry 4 "No date"', "no readable date"),
    ]
    posts = _posts(site)
    talks = posts["watch-1001"]
    assert (talks.title, talks.slug) == ("Treaty talks resume", "treaty-talks-resume")
    assert talks.published == datetime(2024, 2, 6, 14, 30, tzinfo=UTC)
    assert talks.authors == (Author("Ana Lima"),)
    assert talks.tags == (Tag("ATT"), Tag("Geneva"))
    assert talks.summary == "Talks resume in Geneva."
    assert talks.html == "<p>Talks resumed in <em>Geneva</em> on Tuesday.</p>\n\n<pre>code\n\nblock</pre>\n"
    front = (site.root / "content" / talks.source).read_text(encoding="utf-8")
    assert "\nlink: https://watch.example.com/2024/02/treaty-talks-resume.html\n" in front
    # No guid: the link is the id. No content: the description is the body, read as HTML, not Markdown.
    short = posts["https://watch.example.com/?p=7"]
    assert (short.slug, short.html, short.summary) == (
        "only-a-description",
        "<div>Short &amp; *sweet*.</div>\n",
        "Short & *sweet*.",
    )


def test_atom_entries_become_posts(site: Site, tmp_path: Path) -> None:
    _import(site, _write(tmp_path, ATOM))
    posts = _posts(site)
    rock = posts["urn:uuid:e1"]
    assert (rock.title, rock.slug) == ("Rock & roll loud", "rock-and-roll")
    assert rock.published == datetime(2024, 3, 1, 9, tzinfo=UTC)
    assert rock.updated == datetime(2024, 3, 2, 10, tzinfo=UTC)
    assert rock.authors == (Author("Feed Author"),)  # inherited from the feed
    assert rock.tags == (Tag("Music"),)
    assert rock.html == "<p>Plain text &lt;not markup&gt;.</p>\n<p>Second paragraph *not emphasis*.</p>\n"
    updated_only = posts["urn:uuid:e2"]
    assert updated_only.published == updated_only.updated == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert updated_only.authors == (Author("Entry Author"),)  # the name only, never the address
    assert updated_only.slug == "only-updated"  # from the title: an id such as urn:uuid:e2 is no link
    text = (site.root / "content" / updated_only.source).read_text(encoding="utf-8")
    assert text.startswith(
        "---\nid: urn:uuid:e2\ntitle: Only updated\nslug: only-updated\ndate: 2024-03-01T09:00:00+01:00\n"
    )
    assert "entry@example.org" not in text and "link:" not in text
    assert (
        updated_only.html == '<p>An <em>XHTML</em> summary, <a href="https://atom.example.org/about/">about</a></p>\n'
    )


def test_rss_1_0_and_0_91_are_read(site: Site, tmp_path: Path) -> None:
    _import(site, _write(tmp_path, RSS_1_0))
    (rdf,) = live_posts(site.config, NOW)
    assert (rdf.id, rdf.title, rdf.published) == (
        "https://r1.example.org/rdf-item",
        "RDF item",
        datetime(2024, 1, 5, 12, tzinfo=UTC),
    )
    assert (rdf.authors, rdf.tags, rdf.html) == (
        (Author("Rita"),),
        (Tag("Archives"),),
        "<div>Old <b>school</b>.</div>\n",
    )
    report = _import(site, _write(tmp_path, RSS_0_91))
    assert [(s.what, s.reason) for s in report.skipped] == [('entry 1 "Plain old item"', "no readable date")]


def test_reimporting_changes_nothing_and_updates_in_place(site: Site, tmp_path: Path) -> None:
    _import(site, _write(tmp_path, RSS))
    files = sorted((site.root / "content").iterdir())
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    assert len(_import(site, _write(tmp_path, RSS)).unchanged) == 2
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before
    report = _import(site, _write(tmp_path, RSS.replace("Treaty talks resume", "Treaty talks resume in Geneva")))
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 1, 1)
    assert sorted((site.root / "content").iterdir()) == files
    assert _posts(site)["watch-1001"].title == "Treaty talks resume in Geneva"


def test_a_feed_with_recoverable_errors_imports_what_it_can_and_says_so(site: Site, tmp_path: Path) -> None:
    broken = RSS.replace("<title>Treaty talks resume</title>", "<title>Arms & the man</title>")
    report = _import(site, _write(tmp_path, broken))
    assert len(report.created) == 2
    assert report.warnings == [
        f"{tmp_path / 'feed.xml'}: line 6, column 18: not well-formed (invalid token); imported what could be read"
    ]
    assert _posts(site)["watch-1001"].title == "Arms & the man"


def test_a_feed_in_another_encoding_than_it_declares_is_read_with_a_warning(site: Site, tmp_path: Path) -> None:
    report = _import(site, _write(tmp_path, ATOM.replace("utf-8", "us-ascii").replace("Only updated", "Déjà vu")))
    assert _posts(site)["urn:uuid:e2"].title == "Déjà vu"
    assert report.warnings == [
        f"{tmp_path / 'feed.xml'}: document declared as us-ascii, but parsed as utf-8; imported what could be read"
    ]


WXR = (REPO / "tests" / "data" / "wordpress-export.xml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (RSS[:700], r"the XML ends unfinished at line \d+, so the file looks truncated; expected an RSS 0\.9x/1\.0/2\.0 or Atom feed"),
        ("hello, world", r"not well-formed XML at line 1, column 1: syntax error; expected an RSS 0\.9x/1\.0/2\.0 or Atom feed"),
        ("<!DOCTYPE html><html><head><title>x</title></head><body><p>Hi</p></body></html>", r"expected an RSS 0\.9x/1\.0/2\.0 or Atom feed; this is neither"),
        (WXR, r"this is a WordPress export \(WXR\); use 'publisher import wordpress'"),
        ("", r"it is empty"),
    ],
    ids=["truncated", "text", "html", "wxr", "empty"],
)  # fmt: skip
def test_bad_feeds_fail_with_one_clear_error_and_write_nothing(
    site: Site, tmp_path: Path, text: str, message: str
) -> None:
    source = _write(tmp_path, text)
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(str(source))}: {message}$"):
        _import(site, source)
    assert list((site.root / "content").iterdir()) == []


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local web server (127.0.0.1 only) serving a folder: URL import without the network."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_feed_is_imported_from_a_url(site: Site, served: tuple[str, Path]) -> None:
    base, folder = served
    _write(folder, ATOM, "atom.xml")
    report = _import(site, base + "atom.xml")
    assert len(report.created) == 2
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(base)}missing\.xml: the server answered HTTP 404 "):
        _import(site, base + "missing.xml")


@pytest.mark.parametrize("fmt", ["atom", "rss"])
@pytest.mark.parametrize(
    ("kind", "source", "options"),
    [
        ("archive", SEED, {"year": 2012}),
        ("wordpress", REPO / "tests" / "data" / "wordpress-export.xml", {}),
    ],
    ids=["archive", "wordpress"],
)
def test_a_published_feed_imports_back_into_the_same_posts(
    tmp_path: Path, kind: str, source: Path, options: dict[str, int], fmt: str
) -> None:
    """The importers and the feed writer agree: import -> publish -> import the feed elsewhere."""
    first = Site(tmp_path / "first")
    import_source(first.config, kind, str(source), **options)  # type: ignore[arg-type]
    publish(first.config, NOW)
    second = Site(tmp_path / "second")
    report = _import(second, first.feeds / f"{fmt}.xml")
    assert (report.skipped, report.warnings) == ([], [])

    def fields(post: Post) -> tuple[object, ...]:
        return (post.id, post.title, post.published, post.updated, post.authors, post.tags, post.summary, post.html)

    originals = live_posts(first.config, NOW)
    assert [fields(p) for p in live_posts(second.config, NOW)] == [fields(p) for p in originals]
    publish(second.config, NOW)
    assert second.feed_files() == first.feed_files()


FEEDBURNER = REPO / "tests" / "data" / "feedburner-rss.xml"
PARTLY_BROKEN = REPO / "tests" / "data" / "partly-broken-rss.xml"


def test_the_original_link_is_preferred_over_a_feed_service_redirect(site: Site) -> None:
    """feedburner:origLink in the first item; in the second, <atom:link rel="alternate"> before a proxy <link>."""
    report = _import(site, FEEDBURNER)
    assert sorted(report.created) == [
        "content/2024-03-15-stockpile-reports.md",
        "content/2024-04-09-verification-step-by-step.md",
    ]
    links = sorted(
        line
        for path in (site.root / "content").iterdir()
        for line in path.read_text().split("\n")
        if line.startswith("link:")
    )
    assert links == [
        "link: https://treatywatch.example.org/2024/03/stockpile-reports/",
        "link: https://treatywatch.example.org/2024/04/verification-step-by-step/",
    ]
    assert {post.slug for post in _posts(site).values()} == {"stockpile-reports", "verification-step-by-step"}


def test_ads_share_buttons_and_reader_counters_are_dropped_and_counted(site: Site) -> None:
    report = _import(site, FEEDBURNER)
    assert report.summary() == (
        "2 new posts, 0 updated, 0 unchanged, 0 skipped; "
        "1 embed became a link; 2 tracking images removed; 4 feed-ad links removed"
    )
    posts = _posts(site)
    assert posts["https://treatywatch.example.org/?p=310"].html == (
        "<p>How inspectors check a declared stockpile, one crate at a time.</p>\n"
        '<p><a href="https://www.youtube.com/embed/zz9">Inspectors at work</a></p>\n'
    )
    chart = posts["https://treatywatch.example.org/?p=298"].html
    assert "pixel.gif" not in chart
    assert 'alt="Declared stockpiles by year"' in chart


def test_blank_lines_before_the_xml_declaration_are_not_a_problem(site: Site) -> None:
    assert FEEDBURNER.read_bytes().startswith(b"\n\n<?xml")
    report = _import(site, FEEDBURNER)
    assert (report.warnings, len(report.created)) == ([], 2)


def test_a_partly_readable_feed_says_how_many_entries_were_read(site: Site) -> None:
    report = _import(site, PARTLY_BROKEN)
    assert report.warnings == [
        f"{PARTLY_BROKEN}: line 22, column 4: mismatched tag; only 2 of its 3 entries could be read"
    ]
    assert sorted(post.title for post in _posts(site).values()) == [
        "Dredging starts in July",
        "The ferry timetable changes",
    ]
