"""Reading posts: the field names users already have, dates in the site's zone, safe absolute HTML."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree as lxml_etree

from publisher.content import read_post
from publisher.errors import ContentProblem
from publisher.frontmatter import BadPost, _simple_yaml, _YamlLoader, split_front_matter
from publisher.model import Author, Post, Tag
from publisher.publish import live_posts, publish
from publisher.sanitize import clean_text, html_to_text, join_url, plain_text

from .conftest import NOW, Site

PARIS = ZoneInfo("Europe/Paris")


def _read(site: Site, name: str, front: str, body: str = "Body.", fmt: str = "yaml") -> Post | ContentProblem:
    path = site.post(name, front, body, fmt)
    return read_post(path.relative_to(site.root / "content").as_posix(), path.read_bytes(), site.config)


def _post(site: Site, *args: str, **kwargs: str) -> Post:
    result = _read(site, *args, **kwargs)
    assert isinstance(result, Post), result
    return result


def test_yaml_front_matter_hugo_style(site: Site) -> None:
    post = _post(
        site,
        "a.md",
        """
        title: Arms Trade Treaty talks open
        date: 2012-07-02T10:00:00+02:00
        lastmod: 2012-07-03
        tags: [ATT, "Small Arms & Light Weapons"]
        categories: [Negotiations]
        authors: [Jane Doe, {name: Ann Lee, email: ann@example.org}]
        description: The July conference begins.
        """,
    )
    assert post.title == "Arms Trade Treaty talks open"
    assert post.published == datetime(2012, 7, 2, 10, tzinfo=PARIS)
    assert post.updated == datetime(2012, 7, 3, tzinfo=PARIS)
    assert [t.name for t in post.tags] == ["ATT", "Small Arms & Light Weapons", "Negotiations"]
    assert post.authors == (Author("Jane Doe"), Author("Ann Lee", "ann@example.org"))
    assert post.summary == "The July conference begins."
    assert post.slug == "a"
    assert post.url == "https://news.example.org/blog/2012/07/02/a/"
    assert post.id == "tag:news.example.org,2012-07-02:a"


def test_toml_front_matter_and_jekyll_pelican_names(site: Site) -> None:
    post = _post(
        site,
        "2012-03-23-prep-com.md",
        """
        title = "Prep Com closes"
        date = 2012-03-23
        modified = 2012-03-24T08:30:00
        tags = "UNPoA, Prep Com"
        category = "Meetings"
        author = "Robert Zuber <robert@example.org>"
        id = "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        """,
        fmt="toml",
    )
    assert post.published == datetime(2012, 3, 23, tzinfo=PARIS)
    assert post.updated == datetime(2012, 3, 24, 8, 30, tzinfo=PARIS)
    assert [t.name for t in post.tags] == ["UNPoA", "Prep Com", "Meetings"]
    assert post.authors == (Author("Robert Zuber", "robert@example.org"),)
    assert post.slug == "prep-com"  # the Jekyll date prefix is not part of the slug
    assert post.id == "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_categories_can_be_ignored(tmp_path) -> None:
    from .conftest import BASE_CONFIG

    site = Site(tmp_path / "s", BASE_CONFIG + '\n[content]\ncategories = "ignore"\n')
    post = _post(site, "a.md", "title: T\ndate: 2012-01-01\ntags: a\ncategories: [b]")
    assert [t.name for t in post.tags] == ["a"]


def test_default_author_slug_and_summary_from_body(site: Site) -> None:
    body = "# Heading\n\nFirst *paragraph* &amp; more.\n\nSecond paragraph."
    post = _post(site, "posts/My Great Post/index.md", "title: T\ndate: 2012-01-01", body)
    assert post.authors == (Author("Default Author", "editor@example.org"),)
    assert post.slug == "my-great-post"
    assert post.summary == "First paragraph & more."


def test_long_summary_is_cut_at_a_word(site: Site) -> None:
    post = _post(site, "a.md", "title: T\ndate: 2012-01-01", "word " * 200)
    assert post.summary.endswith("…")
    assert len(post.summary) <= 301
    assert "wor…" not in post.summary


def test_urls_in_content_become_absolute_and_scripts_go(site: Site) -> None:
    body = (
        "[rel](../other/) [root](/about/) [abs](https://un.org/x) [frag](#notes) [mail](mailto:a@b.org)\n\n"
        '![chart](chart.png)\n\n<img src="/img/map.png" onerror="alert(1)"> <a href="javascript:alert(1)">x</a>\n\n'
        '<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n`href="x.html"`\n\n'
        '<a title="a > b" href="gt.html">gt</a> <img alt="1>0" title="t" src="i.png"/>\n'
    )
    post = _post(site, "p.md", "title: T\ndate: 2012-05-06\nslug: p", body)
    base = "https://news.example.org/blog/2012/05/06/p/"
    assert 'href="https://news.example.org/blog/2012/05/06/other/"' in post.html
    assert 'href="https://news.example.org/about/"' in post.html
    assert 'href="https://un.org/x"' in post.html
    assert f'href="{base}#notes"' in post.html
    assert 'href="mailto:a@b.org"' in post.html
    assert f'src="{base}chart.png"' in post.html
    assert 'src="https://news.example.org/img/map.png"' in post.html
    assert f'<a title="a &gt; b" href="{base}gt.html">' in post.html
    assert f'src="{base}i.png"' in post.html
    assert "onerror" not in post.html and "javascript:" not in post.html and "<script" not in post.html
    assert "<table>" in post.html  # CommonMark plus tables
    assert '<code>href="x.html"</code>' in post.html  # text that merely looks like markup is left alone


def test_xml_illegal_characters_are_removed(site: Site) -> None:
    post = _post(site, "a.md", 'title: "A\\x01B\\x7fC"\ndate: 2012-01-01\ntags: ["t\\x0b"]', "x\x00y\x1bz ]]> <b>&</b>")
    assert post.title == "ABC"
    assert post.tags == (Tag("t"),)
    assert "xyz ]]&gt;" in post.html


def test_drafts_and_future_posts_are_not_published(site: Site) -> None:
    site.post("draft.md", "title: D\ndate: 2012-01-01\ndraft: true")
    site.post("jekyll.md", "title: J\ndate: 2012-01-01\npublished: false")
    site.post("pelican.md", "title: P\ndate: 2012-01-01\nstatus: draft")
    site.post("future.md", "title: F\ndate: 2027-01-01")
    site.post("live.md", "title: L\ndate: 2012-01-01")
    assert [p.title for p in live_posts(site.config, NOW)] == ["L"]
    assert {p.title for p in live_posts(site.config, datetime(2027, 1, 2, tzinfo=PARIS))} == {"F", "L"}


def test_equal_timestamps_order_by_source_path(site: Site) -> None:
    for name in ("b.md", "a.md", "c.md"):
        site.post(name, f"title: {name}\ndate: 2012-01-01")
    site.post("z.md", "title: newest\ndate: 2012-01-02")
    assert [p.title for p in live_posts(site.config, NOW)] == ["newest", "a.md", "b.md", "c.md"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (b"---\ntitle: [unclosed\ndate: 2012-01-01\n---\nbody\n", 3, "invalid YAML front matter"),
        (b"+++\ntitle = \ndate = 2012-01-01\n+++\nbody\n", 2, "invalid TOML front matter"),
        (b"---\ndate: 2012-01-01\n---\nbody\n", 1, "missing title"),
        (b"---\ntitle: T\n---\nbody\n", 1, "missing date"),
        (b"---\ntitle: T\ndate: 25 Apr\n---\n", 3, "date: '25 Apr' is not a date; expected YYYY-MM-DD"),
        (b"---\ntitle: T\ndate: 2012-01-01\n---\ncaf\xe9\n", 5, "not UTF-8 text (byte 0xe9)"),
        (b"title: T\n\nbody\n", 1, "no front matter"),
        (b"---\ntitle: T\ndate: 2012-01-01\nbody\n", 1, "never closed"),
        (b"---\n- a\n- b\n---\n", 2, "front matter must be a mapping"),
        (b"---\ntitle: T\ndate: 2012-01-01\ndraft: maybe\n---\n", 4, "draft: expected true or false"),
        (b"---\ntitle: T\ndate: 2012-01-02\nupdated: 2012-01-01\n---\n", 4, "earlier than the publication date"),
    ],
)
def test_broken_files_name_path_line_and_problem(site: Site, text: bytes, line: int, message: str) -> None:
    path = site.root / "content" / "broken.md"
    path.write_bytes(text)
    problem = read_post("broken.md", text, site.config)
    assert isinstance(problem, ContentProblem)
    assert problem.path == "content/broken.md"
    assert problem.line == line
    assert message in problem.message


@pytest.mark.parametrize("body", ["[`", "a[`b", "`` ` ``", "[x](", "<", "*" * 500, "> " * 300, "- " * 200])
def test_markdown_corner_cases_render(site: Site, body: str) -> None:
    # "[`" crashed the Rust markdown-it port with a panic; any text must simply render.
    post = _post(site, "edge.md", "title: T\ndate: 2012-01-01", body)
    assert isinstance(post.html, str)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-5-1", datetime(2024, 5, 1, tzinfo=PARIS)),
        ("2024-05-01 10:00:00 UTC", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00 +0100", datetime(2024, 5, 1, 9, tzinfo=UTC)),
        ("2024-05-01T10:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("Wed, 25 Apr 2012 18:30:00 -0400", datetime(2012, 4, 25, 22, 30, tzinfo=UTC)),
    ],
)
def test_jekyll_and_rfc_2822_dates(site: Site, value: str, expected: datetime) -> None:
    post = _post(site, "a.md", f"title: T\ndate: '{value}'")
    assert post.published == expected


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"])
def test_dates_at_the_edge_of_time_are_errors_not_crashes(site: Site, value: str) -> None:
    problem = _read(site, "a.md", f"title: T\ndate: '{value}'")
    assert isinstance(problem, ContentProblem)
    assert problem.line == 3 and "out of range" in problem.message


def test_titles_tags_and_names_are_plain_text(site: Site) -> None:
    post = _post(
        site,
        "a.md",
        'title: "Hugo <b>style</b> &amp; friends&#8217; <code>&lt;script&gt;</code> tags"\ndate: 2012-01-01\n'
        'tags: ["R&amp;D", "<em>Arms</em> Trade"]\nauthor: "Ann &amp; Bob"\nsummary: "A <i>short</i> &lt;note&gt;"',
    )
    assert post.title == "Hugo style & friends’ <script> tags"
    assert [t.name for t in post.tags] == ["R&D", "Arms Trade"]
    assert post.authors == (Author("Ann & Bob"),)
    assert post.summary == "A short <note>"


def test_a_post_without_body_or_summary_is_summed_up_by_its_title(site: Site) -> None:
    assert _post(site, "a.md", "title: Just a title\ndate: 2012-01-01", "").summary == "Just a title"


def test_mentioning_script_in_text_keeps_the_rest_of_the_post(site: Site) -> None:
    body = (
        "First mentions the <script> element.\n\nSecond paragraph.\n\n<script>alert(1)</script>\n\nThird <style> too."
    )
    post = _post(site, "a.md", "title: T\ndate: 2012-01-01", body)
    assert post.html == (
        "<p>First mentions the &lt;script&gt; element.</p>\n<p>Second paragraph.</p>\n\n"
        "<p>Third &lt;style&gt; too.</p>\n"
    )


@pytest.mark.parametrize(
    "name",
    ["script", "STYLE", "Textarea", "title", "xmp", "IFrame", "noembed", "noframes", "noscript", "plaintext", "ſcript"],
)
def test_mentioning_any_raw_text_element_keeps_the_rest_of_the_post(site: Site, name: str) -> None:
    post = _post(site, "a.md", "title: T\ndate: 2012-01-01", f"Mentions <{name}> here.\n\nSecond paragraph.")
    assert post.html == f"<p>Mentions &lt;{name}&gt; here.</p>\n<p>Second paragraph.</p>\n"


def test_a_link_to_nowhere_is_reported(site: Site) -> None:
    (site.root / "content" / "gone.md").symlink_to(site.root / "missing.md")
    site.post("ok.md", "title: OK\ndate: 2012-01-01")
    report = publish(site.config, NOW, keep_going=True)
    assert [str(p) for p in report.problems] == ["content/gone.md: cannot read: No such file or directory"]
    assert report.posts == 1


_YAML_PIECES = st.sampled_from(
    ['"', "'", "''", "#", " #", ": ", ":", "[", "]", ",", "{", "}", "-", "?", "&", "*", "!", "|", ">", "%", "@",
     "`", "\\", "\t", " ", "~", "null", "yes", "No", "on", "true", "1", "0x1f", "1_000", "1:20", ".5", ".inf",
     "2012-01-01", "2012-07-09 10:00:00 +0100", "a", "Hello World", "é", "😀", "\u00a0", "\u200f", "\ufeff"]
)  # fmt: skip
_yaml_scalar = st.lists(_YAML_PIECES, min_size=1, max_size=4).map("".join)
_yaml_value = st.one_of(
    _yaml_scalar,
    _yaml_scalar.map(lambda s: f'"{s}"'),
    _yaml_scalar.map(lambda s: f"'{s}'"),
    st.lists(st.one_of(_yaml_scalar, _yaml_scalar.map(lambda s: f'"{s}"')), max_size=3).map(
        lambda items: "[" + ", ".join(items) + "]"
    ),
)
_yaml_line = st.one_of(
    st.tuples(st.sampled_from(["title", "tags", "on", "null", "Title", "a-b", "_x", "yes", "2012"]),
              st.sampled_from([" ", "", "  "]), _yaml_value).map(lambda t: f"{t[0]}:{t[1]}{t[2]}"),
    st.sampled_from(["", "# a comment", "  indented: x", "- item"]),
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(_yaml_line, min_size=1, max_size=3).map("\n".join))
def test_simple_front_matter_reads_exactly_as_yaml_does(source: str) -> None:
    fast = _simple_yaml(source)
    try:
        slow = yaml.load(source, Loader=_YamlLoader)
    except yaml.YAMLError:
        slow = "a YAML error"
    assert fast is None or fast == slow


_FRONT_MATTER_LINES = st.sampled_from(
    ["---", "+++", "...", "--- ", "---\r", "+++\t", "a: 1", "B: x", 'c = "y"', "", " ", "text"]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_FRONT_MATTER_LINES, min_size=1, max_size=8).map("\n".join))
def test_front_matter_ends_at_its_first_closing_line(text: str) -> None:
    lines = text.split("\n")
    closers = {"---": ("---", "..."), "+++": ("+++",)}.get(lines[0].rstrip(), ())
    end = next((n for n in range(1, len(lines)) if lines[n].rstrip() in closers), None)
    try:
        found: object = split_front_matter(text)
    except BadPost as exc:
        found = str(exc)
    if end is None:
        assert found in ("no front matter: expected a first line of '---' (YAML) or '+++' (TOML)",
                         f"front matter opened with '{lines[0].rstrip()}' is never closed")  # fmt: skip
        return
    source, body = "\n".join(lines[1:end]), "\n".join(lines[end + 1 :])
    try:
        meta = (yaml.load(source, Loader=_YamlLoader) or {}) if closers[0] == "---" else tomllib.loads(source)
    except (yaml.YAMLError, tomllib.TOMLDecodeError):
        assert isinstance(found, str) and found.startswith("invalid")
        return
    if not isinstance(meta, dict):
        assert found == "front matter must be a mapping of field names to values"
        return
    assert found == ({str(k).lower(): v for k, v in meta.items()}, body)


@pytest.mark.parametrize(
    "source", ["title: A  ", "title:   ", 'tags: ["a", b]   ', "title: 'x' ", "date:  2012-01-01 \nb:  c d  "]
)
def test_spaces_after_a_value_are_read_as_yaml_reads_them(source: str) -> None:
    assert _simple_yaml(source) == yaml.load(source, Loader=_YamlLoader)


def test_common_front_matter_is_read_without_the_yaml_parser() -> None:
    source = 'title: "Sanctions, again (2)"\ndate: 2011-11-02T07:38:38+00:00\nauthor: Hana Sato\ntags: ["UNPoA", ATT]'
    assert _simple_yaml(source) == {
        "title": "Sanctions, again (2)",
        "date": "2011-11-02T07:38:38+00:00",
        "author": "Hana Sato",
        "tags": ["UNPoA", "ATT"],
    }


@given(
    st.sampled_from(["https://a.org/b/c/", "https://a.org", "http://a.org:8080/x", "https://a.org/b?q=1#f"]),
    st.lists(
        st.sampled_from(["/", "//", ".", "..", "x", "?", "#", ";", "%20", " ", "\\", ":", "@", "é"]), max_size=6
    ).map("".join),
)
@settings(max_examples=500)
def test_join_url_is_urljoin(base: str, url: str) -> None:
    assert join_url(base, url) == urljoin(base, url)


@pytest.mark.parametrize(
    "source",
    [
        "title: A\n# note\u2029date: 2020-01-01",
        "tags: [\xa0]",
        "title: A\n\xa0\ndate: B",
        "tags: [a, \u3000]",
        "k" * 1030 + ": v",
    ],
)
def test_front_matter_yaml_reads_otherwise_goes_to_the_yaml_parser(source: str) -> None:
    try:
        expected = yaml.load(source, Loader=_YamlLoader)
    except yaml.YAMLError:
        expected = None
    fast = _simple_yaml(source)
    assert fast is None or fast == expected


def test_clean_text_keeps_exactly_the_characters_xml_allows() -> None:
    allowed = "\t\n\r" + "".join(map(chr, range(0x20, 0x7F)))
    every = "".join(map(chr, range(0x80)))
    assert clean_text(every) == allowed
    assert clean_text(every + "\x85é\ufffe") == allowed + "é"
    assert clean_text(allowed) == allowed


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a b", "a b"), ("a\tb", "a b"), ("a\nb", "a b"), ("a  b", "a b"), (" a \r\n\f\v b ", "a b"),
     ("a\xa0 b", "a\xa0 b"), ("a \xa0b", "a \xa0b"), ("a&#9;b", "a b"), ("a\u2028b", "a\u2028b")],
)  # fmt: skip
def test_whitespace_runs_are_one_space_in_text(text: str, expected: str) -> None:
    assert html_to_text(f"<p>{text}</p>") == expected
    assert plain_text(text) == expected


def test_character_references_to_characters_xml_forbids_are_dropped(site: Site) -> None:
    post = _post(
        site, "a.md", "title: T\ndate: 2012-01-01", "One &#1; two &#xFFFF; three &#xFFFE; <span title='&#2;'>x</span>"
    )
    assert "\x01" not in post.html and "\x02" not in post.html and "\x01" not in post.summary
    assert post.summary.startswith("One two")
    publish(site.config, NOW)
    for path in site.feeds.rglob("*.xml"):
        lxml_etree.fromstring(path.read_bytes())  # well-formed: raises otherwise
