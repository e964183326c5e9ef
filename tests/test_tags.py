"""Tags as real blogs have them: long names, names told apart by symbols, slugs a site pins."""

from __future__ import annotations

import sqlite3

import feedparser
import pytest

from publisher.config import load_config
from publisher.errors import ConfigError
from publisher.feeds import plan_feeds
from publisher.model import SLUG_BYTES, Tag, name_slug
from publisher.publish import live_posts, publish

from .conftest import BASE_CONFIG, NOW, Site
from .feedcheck import assert_round_trip
from .feedlint import lint_feeds

LONG = "Small arms and light weapons " * 11  # 319 characters


def _lint(site: Site) -> list[str]:
    config = site.config
    return lint_feeds(site.feeds, lambda rel: config.site.url(config.feeds.url_path + rel))


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("C", "c"),
        ("C++", "c-plus-plus"),
        ("C#", "c-sharp"),
        ("F#", "f-sharp"),
        (".NET", "dotnet"),
        ("Node.js", "node-js"),
        ("ASP.NET", "asp-net"),
        ("#MeToo", "metoo"),
        ("Web 2.0", "web-2-0"),
        ("UNPoA", "unpoa"),
        ("Small Arms & Light Weapons", "small-arms-light-weapons"),
    ],
)
def test_symbols_that_tell_tags_apart_keep_their_meaning(name: str, slug: str) -> None:
    assert Tag(name).slug == slug


def test_long_names_get_a_capped_slug_that_keeps_them_apart() -> None:
    one, two = name_slug(LONG + "one"), name_slug(LONG + "two")
    assert len(one.encode()) <= SLUG_BYTES and len(two.encode()) <= SLUG_BYTES
    assert one != two and one[:60] == two[:60]
    assert name_slug(LONG + "one") == one and name_slug((LONG + "one").upper()) == one  # stable, case aside


def test_feeds_of_real_world_tags_and_titles_pass_the_validator_rules(site: Site) -> None:
    site.post(
        "a.md",
        f'title: "<script>alert(1)</script> Arms"\ndate: 2012-01-01 10:00\ntags: ["{LONG}one", "C", "C++"]',
    )
    site.post("b.md", f'title: B\ndate: 2012-01-02 10:00\ntags: ["{LONG}two", "C#", "F#", ".NET", "Node.js"]')
    report = publish(site.config, NOW)
    assert report.warnings == []  # no two of these tags share a slug
    tags = sorted(p.name for p in (site.feeds / "tags").iterdir())
    assert [t for t in tags if len(t) < 20] == ["c", "c-plus-plus", "c-sharp", "dotnet", "f-sharp", "node-js"]
    assert len(tags) == 8
    assert _lint(site) == []
    atom = feedparser.parse((site.feeds / "atom.xml").read_bytes())
    assert [e.title for e in atom.entries] == ["B", "alert(1) Arms"]  # the tags went, the words stayed
    sharp = feedparser.parse((site.feeds / "tags/c-sharp/rss.xml").read_bytes())
    assert sharp.feed.title == "Test Site: C#" and [e.title for e in sharp.entries] == ["B"]


def test_the_validator_rules_catch_a_title_with_markup(site: Site) -> None:
    site.post("a.md", 'title: "x &lt;/script&gt; y"\ndate: 2012-01-01')
    publish(site.config, NOW)
    assert _lint(site) == []  # an escaped end tag goes too
    (site.feeds / "rss.xml").write_bytes(
        (site.feeds / "rss.xml").read_bytes().replace(b"<title>x y</title>", b"<title>x &lt;/script&gt; y</title>")
    )
    assert _lint(site) == [
        "rss.xml: item 0 title: HTML end tag </script>",
        "rss.xml: item 0 title: CharacterData 'x </script> y'",
    ]


def _pinned(site: Site, tags_table: str) -> None:
    (site.root / "config.toml").write_text(BASE_CONFIG + tags_table, encoding="utf-8")


def test_a_site_pins_slugs_and_display_names(site: Site) -> None:
    _pinned(site, '\n[tags.slugs]\n"C++" = "cpp"\n\n[tags.names]\ncpp = "C++ (the language)"\n"c#" = "C Sharp"\n')
    site.post("a.md", "title: A\ndate: 2012-01-01 10:00\ntags: [c++, C#]")
    site.post("b.md", "title: B\ndate: 2012-01-02 10:00\ntags: [C++]")
    publish(site.config, NOW)
    cpp = feedparser.parse((site.feeds / "tags/cpp/atom.xml").read_bytes())
    assert cpp.feed.title == "Test Site: C++ (the language)" and len(cpp.entries) == 2
    assert {t.label for t in cpp.entries[1].tags} == {"C++ (the language)", "C Sharp"}
    assert feedparser.parse((site.feeds / "tags/c-sharp/atom.xml").read_bytes()).feed.title == "Test Site: C Sharp"
    assert not (site.feeds / "tags/c-plus-plus").exists()


def test_a_changed_slug_is_said_once(site: Site) -> None:
    _pinned(site, '\n[tags.slugs]\n"C++" = "cpp"\n')
    site.post("a.md", "title: A\ndate: 2012-01-01 10:00\ntags: [C++]")
    assert publish(site.config, NOW).warnings == []
    _pinned(site, "")
    assert publish(site.config, NOW).warnings == [
        "tag 'c++' has the slug 'c-plus-plus', no longer 'cpp': its feed URL changed; "
        'to keep the old one, add [tags.slugs] "c++" = "cpp" to config.toml'
    ]
    assert publish(site.config, NOW).warnings == []


def test_a_slug_changed_by_a_newer_publisher_is_said(site: Site) -> None:
    """A ledger from before slugs were remembered: its folders tell the old slugs (slugify's)."""
    _pinned(site, '\n[tags.slugs]\n"C++" = "c"\n')  # where earlier versions put C++
    site.post("a.md", "title: A\ndate: 2012-01-01 10:00\ntags: [C++]")
    publish(site.config, NOW)
    with sqlite3.connect(site.root / ".publisher/state.db") as db:
        db.execute("DELETE FROM meta WHERE key = 'tag_slugs'")
    _pinned(site, "")
    assert [w.split(":")[0] for w in publish(site.config, NOW).warnings] == [
        "tag 'c++' has the slug 'c-plus-plus', no longer 'c'"
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[tags.slugs]\n"C++" = "C PP"', "config: tags.slugs.'C++' = 'C PP': expected lower-case letters"),
        ('[tags.slugs]\n"C++" = 3', "config: tags.slugs.'C++' = 3: expected lower-case letters"),
        ('[tags.names]\ncpp = ""', "config: tags.names.'cpp' = '': expected the tag's display name"),
        ("[tags]\nmax_per_post = 0", "config: tags.max_per_post = 0: expected an integer of at least 1"),
        ("[tags]\nslug = {}", "config: unknown key tags.slug; [tags] accepts max_per_post, names, slugs"),
    ],
)
def test_bad_tag_settings_are_one_line_errors(site: Site, table: str, message: str) -> None:
    _pinned(site, "\n" + table + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(site.root / "config.toml")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_text_that_reads_as_markup_is_hex_escaped_in_rss_and_round_trips(site: Site) -> None:
    """ "some &lt;html&gt; entities" is text with angle brackets: RSS, which cannot say "plain
    text", writes it with hexadecimal references (the validator's CharacterData rule)."""
    site.post("a.md", 'title: "some &lt;html&gt; entities"\ndate: 2012-01-01\ntags: ["&lt;b&gt; tag", "a < b"]')
    publish(site.config, NOW)
    assert _lint(site) == []
    rss = (site.feeds / "rss.xml").read_bytes()
    assert b"<title>some &#x3C;html&gt; entities</title>" in rss
    assert b">&#x3C;b&gt; tag</category>" in rss and b">a &lt; b</category>" in rss
    tag_feed = (site.feeds / "tags" / "b-tag" / "rss.xml").read_bytes()
    assert b"<title>Test Site: &#x3C;b&gt; tag</title>" in tag_feed
    config = site.config
    for spec, posts in plan_feeds(config, live_posts(config, NOW)):
        for fmt in config.feeds.formats:
            assert_round_trip(config, spec, fmt, posts)
    (site.feeds / "rss.xml").write_bytes(rss.replace(b"&#x3C;html", b"&lt;html"))
    assert _lint(site) == ["rss.xml: item 0 title: CharacterData 'some <html> entities'"]
