"""`publisher import wordpress`: a WordPress eXtended RSS export."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cli import run
from publisher.errors import ImportFailed
from publisher.importers import ImportReport, import_source
from publisher.importers.wordpress import expand_shortcodes, render_content, wpautop
from publisher.model import Author, Post, Tag
from publisher.publish import live_posts

from .conftest import NOW, REPO, Site

EXPORT = REPO / "tests" / "data" / "wordpress-export.xml"


def _import(site: Site, source: Path = EXPORT) -> ImportReport:
    return import_source(site.config, "wordpress", str(source))


def _posts(site: Site) -> dict[str, Post]:
    return {post.slug: post for post in live_posts(site.config, NOW)}


def test_only_published_posts_are_imported_and_the_rest_counted(site: Site) -> None:
    report = _import(site)
    assert report.summary() == (
        "3 new posts, 0 updated, 0 unchanged, 5 skipped "
        "(1 attachment, 1 draft, 1 page, 1 password-protected, 1 trash); 1 embed became a link"
    )
    assert [(s.what, s.reason) for s in report.skipped] == [
        ('item 4 "An unfinished draft"', "draft"),
        ('item 5 "About us"', "page"),
        ('item 6 "hall"', "attachment"),
        ('item 7 "Deleted post"', "trash"),
        ('item 8 "Members only"', "password-protected"),
    ]
    assert sorted(_posts(site)) == ["block-editor-post", "desarmement-geneve", "poa-prep-com-wrap-up"]


def test_fields_come_from_the_export(site: Site) -> None:
    _import(site)
    post = _posts(site)["poa-prep-com-wrap-up"]
    assert post.id == "https://old.example.net/?p=101"
    assert post.title == "PoA on Small Arms Prep Com Wrap Up: Looking Forward to August"
    assert post.published == datetime(2012, 3, 26, 20, tzinfo=UTC)
    assert post.updated == post.published
    assert post.authors == (Author("Katherine Prizeman"),)
    assert post.tags == (Tag("Prep Com"), Tag("UNPoA"), Tag("Arms Control"))  # no "Uncategorized"
    assert post.summary == "The Prep Com closed with a procedural report; what deserves attention before August."
    assert post.source == "2012-03-26-poa-prep-com-wrap-up.md"


def test_non_ascii_text_and_the_local_date_fallback(site: Site) -> None:
    _import(site)
    post = _posts(site)["desarmement-geneve"]  # post_name "d%c3%a9sarmement-geneve"
    assert post.title == "Désarmement : la Conférence d’examen à Genève"
    assert post.tags == (Tag("Désarmement"),)
    assert post.authors == (Author("Robert Zuber"),)
    # post_date_gmt is 0000-00-00: post_date is local time in the site's zone (Europe/Paris, UTC+2 in May)
    assert post.published == datetime(2012, 5, 2, 7, 15, tzinfo=UTC)
    assert "Les délégations — de Genève à 東京 — ont parlé de l’ATT. مرحبا [sic]" in post.html


def test_implicit_paragraphs_and_captions_become_html(site: Site) -> None:
    _import(site)
    body = _posts(site)["poa-prep-com-wrap-up"].html
    assert body.startswith(
        "<p>The Preparatory Committee has closed. Member states adopted rules of procedure &amp; an agenda.<br>\n"
        "They also exchanged views on “international assistance”.</p>\n<figure>"
    )
    assert re.search(r'<figure><a href="[^"]+hall\.jpg"[^>]*><img [^>]*alt="Conference room 4"[^>]*></a>', body)
    assert "<figcaption>The Prep Com in Conference Room 4</figcaption></figure>" in body
    assert (
        "<p>Next steps include:</p>\n<ul>\n<li>national action plans;</li>\n<li>peacekeeping and DDR.</li>\n</ul>"
        in body
    )
    assert "more" not in body and "<p></p>" not in body


def test_shortcodes_are_handled(site: Site) -> None:
    _import(site)
    body = _posts(site)["desarmement-geneve"].html
    url = "https://video.example.org/watch?v=abc&amp;t=1"
    assert f'<p><a href="{url}">{url}</a></p>' in body
    assert "contact-form" not in body and "<p></p>" not in body
    assert "<p>Un mot entre nous. Écrire [caption] affiche un code court.</p>" in body
    assert "<pre>ligne 1\n\nligne 3</pre>" in body


def test_block_editor_markers_are_dropped(site: Site) -> None:
    _import(site)
    body = _posts(site)["block-editor-post"].html
    assert body == "<p>A paragraph from the block editor.</p>\n<h2>A heading</h2>\n"


def test_importing_twice_changes_nothing_and_an_edit_updates_in_place(site: Site, tmp_path: Path) -> None:
    _import(site)
    files = sorted((site.root / "content").iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    again = _import(site)
    assert (again.created, again.updated, len(again.unchanged)) == ([], [], 3)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before

    edited = tmp_path / "edited.xml"
    edited.write_text(
        EXPORT.read_text(encoding="utf-8").replace("[CDATA[Block editor post]]", "[CDATA[Block editor post, revised]]"),
        encoding="utf-8",
    )
    report = _import(site, edited)
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 1, 2)
    assert sorted((site.root / "content").iterdir()) == files
    assert _posts(site)["block-editor-post"].title == "Block editor post, revised"


_WXR_1_0 = """\
<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.0/">
<channel>
  <title>Old blog</title>
  <wp:wxr_version>1.0</wp:wxr_version>
  <item>
    <title>From 2008</title>
    <dc:creator><![CDATA[admin]]></dc:creator>
    <guid isPermaLink="false">http://old.example.net/?p=3</guid>
    <content:encoded><![CDATA[Line one
line two]]></content:encoded>
    <wp:post_date>2008-05-01 10:00:00</wp:post_date>
    <wp:post_date_gmt>2008-05-01 08:00:00</wp:post_date_gmt>
    <wp:post_name>from-2008</wp:post_name>
    <wp:status>publish</wp:status>
    <wp:post_type>post</wp:post_type>
    <category><![CDATA[News]]></category>
    <category domain="category" nicename="news"><![CDATA[News]]></category>
    <category domain="tag"><![CDATA[history]]></category>
    <category domain="tag" nicename="history"><![CDATA[history]]></category>
  </item>
</channel>
</rss>
"""


def test_wxr_1_0_reads_too(site: Site, tmp_path: Path) -> None:
    source = tmp_path / "old.xml"
    source.write_text(_WXR_1_0, encoding="utf-8")
    _import(site, source)
    (post,) = live_posts(site.config, NOW)
    assert (post.slug, post.published) == ("from-2008", datetime(2008, 5, 1, 8, tzinfo=UTC))
    assert post.authors == (Author("admin"),)  # WXR 1.0 has no display names
    assert post.tags == (Tag("history"), Tag("News"))
    assert post.html == "<p>Line one<br>\nline two</p>\n"


_ATOM = '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>'
_RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just some text", r"not well-formed XML at line 1, column 1: syntax error; expected a WordPress export \(WXR 1\.0–1\.2\)"),
        (_ATOM.encode(), r"expected a WordPress export \(WXR 1\.0–1\.2\); found an Atom feed; use 'publisher import feed'"),
        (_RSS.encode(), r"expected a WordPress export \(WXR 1\.0–1\.2\); found an RSS feed without wp:wxr_version; use 'publisher import feed'"),
        (EXPORT.read_bytes()[:9000], r"the XML ends unfinished at line \d+, so the file looks truncated; expected a WordPress export \(WXR 1\.0–1\.2\)"),
        (EXPORT.read_bytes().replace(b'encoding="UTF-8"', b'encoding="x-klingon"'), r"cannot read its declared encoding \(unknown encoding: x-klingon\); save it as UTF-8"),
        (EXPORT.read_bytes().replace("Désarmement :".encode(), "Désarmement :".encode("latin-1")), r"not well-formed XML at line 74, column 20: not well-formed \(invalid token\) \(a stray '<' or '&', or bytes that are not in the encoding the file declares\); expected a WordPress export \(WXR 1\.0–1\.2\)"),
    ],
    ids=["not-xml", "atom", "plain-rss", "truncated", "unknown-encoding", "latin-1-bytes"],
)  # fmt: skip
def test_bad_exports_fail_with_one_clear_error_and_write_nothing(
    site: Site, tmp_path: Path, data: bytes, message: str
) -> None:
    source = tmp_path / "export.xml"
    source.write_bytes(data)
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(str(source))}: {message}$"):
        _import(site, source)
    assert list((site.root / "content").iterdir()) == []


def test_wpautop_keeps_block_html_and_pre_as_they_are() -> None:
    text = "One\ntwo\n\n<div>block</div>\n<pre>a\n\nb</pre>\n\nthree <em>x</em>\n<!--more-->\n"
    assert wpautop(text) == "<p>One<br />\ntwo</p>\n<div>block</div>\n<pre>a\n\nb</pre>\n<p>three <em>x</em></p>"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ('[caption id="a" caption="Old style"]<img src="x.png" />[/caption]', '<figure><img src="x.png" /><figcaption>Old style</figcaption></figure>'),
        ("[caption]no image here[/caption]", "no image here"),
        ('[video width="640" src="https://v.example.org/a.mp4"][/video]', '<a href="https://v.example.org/a.mp4">https://v.example.org/a.mp4</a>'),
        ('[audio mp3="https://a.example.org/b.mp3"]', '<a href="https://a.example.org/b.mp3">https://a.example.org/b.mp3</a>'),
        ('[gallery ids="1,2,3"]', ""),
        ("[gallery]", ""),
        ("[toc]", "[toc]"),
        ("[citation needed]", "[citation needed]"),
        ("[[gallery]]", "[gallery]"),
        ("[outer]a [inner]b[/inner] c[/outer]", "a b c"),
    ],
)  # fmt: skip
def test_shortcodes(text: str, html: str) -> None:
    assert expand_shortcodes(text) == html


def test_a_caption_on_its_own_is_a_figure_not_a_paragraph() -> None:
    text = 'Intro.\n\n[caption]<img src="x.png" /> A caption[/caption]\n\n[contact-form id="1"]'
    assert render_content(text) == (
        '<p>Intro.</p>\n<figure><img src="x.png" /><figcaption>A caption</figcaption></figure>\n',
        0,
    )


MIGRATED = REPO / "tests" / "data" / "wordpress-migrated.xml"


def _by_id(site: Site) -> dict[str, Post]:
    return {post.id: post for post in live_posts(site.config, NOW)}


def test_authors_are_display_names_matched_to_the_login_in_any_case(site: Site) -> None:
    _import(site, MIGRATED)  # dc:creator "analima" and "OKOROAFOR"; logins "AnaLima" and "okoroafor"
    assert sorted(post.authors for post in live_posts(site.config, NOW)) == [
        (Author("Ana Lima"),),
        (Author("Chidi Okoroafor"),),
    ]


def test_a_post_whose_guid_repeats_an_earlier_one_is_imported_under_a_fallback_id(site: Site) -> None:
    report = _import(site, MIGRATED)
    assert report.notes == [
        'item 2 "Marking & tracing: why <b> is not bold": its GUID https://notes.example.com/?p=21 is also '
        "item 1's; imported with the id https://notes.example.com/?p=21#wp-post-34"
    ]
    posts = _by_id(site)
    assert sorted(posts) == ["https://notes.example.com/?p=21", "https://notes.example.com/?p=21#wp-post-34"]
    assert posts["https://notes.example.com/?p=21#wp-post-34"].slug == "marking-one-year-on"
    again = _import(site, MIGRATED)  # the same post keeps the same id
    assert (again.created, again.updated, len(again.unchanged)) == ([], [], 2)


def test_titles_keep_words_in_angle_brackets_and_entities(site: Site) -> None:
    _import(site, MIGRATED)
    titles = sorted(post.title for post in live_posts(site.config, NOW))
    assert titles == ["Marking & tracing: why <b> is not bold", "Why some <html> entities survive a move"]


def test_embedded_media_become_links_with_their_titles_and_are_counted(site: Site) -> None:
    report = _import(site, MIGRATED)
    assert (
        report.summary() == "2 new posts, 0 updated, 0 unchanged, 3 skipped (2 drafts, 1 page); 4 embeds became links"
    )
    body = _by_id(site)["https://notes.example.com/?p=21"].html
    assert '<p><a href="https://www.youtube-nocookie.com/embed/abc123">Side event: marking and tracing</a></p>' in body
    assert '<a href="https://media.example.com/briefing.mp4">https://media.example.com/briefing.mp4</a>' in body
    assert '<a href="https://media.example.com/briefing.mp3">Briefing (audio only)</a>' in body
    assert '<p><a href="https://vimeo.com/76979871">https://vimeo.com/76979871</a></p>' in body
    assert "cannot play" not in body


def test_the_command_prints_notes_the_summary_and_the_next_step(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--site", str(site.root), "import", "wordpress", str(MIGRATED), "--dry-run"]) == 0
    assert "publisher publish" not in capsys.readouterr().out  # nothing written yet: nothing to publish
    assert run(["--site", str(site.root), "import", "wordpress", str(MIGRATED)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        'skipped item 5 "Contact": page\n'
        'note: item 2 "Marking & tracing: why <b> is not bold": its GUID https://notes.example.com/?p=21 is also '
        "item 1's; imported with the id https://notes.example.com/?p=21#wp-post-34\n"
        "2 new posts, 0 updated, 0 unchanged, 3 skipped (2 drafts, 1 page); 4 embeds became links\n"
        "Next: run 'publisher publish' to put them in the feeds.\n"
    )
    assert run(["--site", str(site.root), "import", "wordpress", str(MIGRATED)]) == 0
    assert capsys.readouterr().out.endswith(
        "0 new posts, 0 updated, 2 unchanged, 3 skipped (2 drafts, 1 page); 4 embeds became links\n"
    )


def test_one_of_each_is_singular(site: Site, tmp_path: Path) -> None:
    head, *items = MIGRATED.read_text(encoding="utf-8").split("\t<item>")
    single = tmp_path / "single.xml"
    single.write_text(
        "\t<item>".join([head, items[0], items[2], items[4]]), encoding="utf-8"
    )  # a post, a draft, a page
    report = _import(site, single)
    assert report.summary() == "1 new post, 0 updated, 0 unchanged, 2 skipped (1 draft, 1 page); 4 embeds became links"
