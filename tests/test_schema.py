"""Every Atom feed we write validates against the RFC 4287 RELAX NG schema."""

from __future__ import annotations

import pytest
from lxml import etree

from publisher.publish import publish

from .conftest import ATOM_SCHEMA, NOW, Site
from .feedlint import lint_atom, lint_rss

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))


def _check_all(site: Site, schema: etree.RelaxNG) -> int:
    count = 0
    for path in sorted(site.feeds.rglob("atom.xml")):
        doc = etree.parse(str(path))
        assert schema.validate(doc), f"{path}: {schema.error_log}"
        for entry in doc.getroot().iter(f"{ATOM}entry"):
            names = entry.findall(f"{ATOM}author/{ATOM}name")
            assert names and all(n.text for n in names), f"{path}: entry without author"
        count += 1
    return count


def test_sample_atom_feeds_validate(demo_site: Site, atom_schema: etree.RelaxNG) -> None:
    publish(demo_site.config, NOW)
    assert _check_all(demo_site, atom_schema) == 11


def test_hostile_content_still_validates(site: Site, atom_schema: etree.RelaxNG) -> None:
    site.post(
        "x.md",
        'title: "]]> <script>alert(1)</script> & \\"quotes\\" 😀 שלום \\u202e"\ndate: 2012-01-01\n'
        'tags: ["<b>bold</b>", "a&b", "مرحبا"]\nauthor: "\\x01Ann\\x02"\nsummary: "<i>x</i> ]]>"',
        "]]> <script>x</script> <b onclick='y'>&amp;</b> \x0c 👩🏽‍💻 مرحبا",
    )
    publish(site.config, NOW)
    assert _check_all(site, atom_schema) == 5


def _lint_all(site: Site) -> list[str]:
    config = site.config
    problems = []
    for path in sorted(site.feeds.rglob("*.xml")):
        url = config.site.url(config.feeds.url_path + path.relative_to(site.feeds).as_posix())
        lint = lint_atom if path.name == "atom.xml" else lint_rss
        problems += [f"{path.relative_to(site.feeds)}: {p}" for p in lint(path.read_bytes(), url)]
    return problems


def test_sample_feeds_pass_the_validator_rules(demo_site: Site) -> None:
    publish(demo_site.config, NOW)
    assert _lint_all(demo_site) == []


def test_posts_as_users_write_them_pass_the_validator_rules(site: Site) -> None:
    site.post(
        "wordpress.md",
        'title: "Arms &amp; the Man: <em>Shaw</em>&#8217;s play"\ndate: 2012-01-01 10:00\n'
        'tags: ["R&amp;D", "Small Arms & Light Weapons", "C++"]\nauthor: "Ann &amp; Bob"',
        'Body with <a href="../rel/">a relative link</a>, <img src="/x.png" onerror="x()">, '
        "a mention of <script> and `</b>` in code.",
    )
    site.post("empty.md", "title: Nothing but a title\ndate: 2012-01-01 11:00", "")
    site.post("same-day.md", "title: Q&A with AT&T\ndate: 2012-01-01 12:00\ntags: [ATT]", "x < y && y > z")
    publish(site.config, NOW)
    assert _lint_all(site) == []
    assert lint_rss(b"<rss><channel><title>a &amp;amp; b</title></channel></rss>", "u")  # the rules can fail


_FEED_HEAD = '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x:feed</id><title>T</title>'


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        (_FEED_HEAD + "<updated>2012-04-25T10:00:00Z</updated></feed>", True),
        (_FEED_HEAD + "<updated>25 April 2012</updated></feed>", False),
        ('<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><updated>2012-04-25T10:00:00Z</updated></feed>', False),
        (_FEED_HEAD + "<updated>2012-04-25T10:00:00Z</updated><updated>2012-04-25T10:00:00Z</updated></feed>", False),
        (_FEED_HEAD + '<updated>2012-04-25T10:00:00Z</updated><link rel="self"/></feed>', False),
        (_FEED_HEAD + '<updated>2012-04-25T10:00:00Z</updated><subtitle type="xhtml">no div</subtitle></feed>', False),
        (_FEED_HEAD + '<updated>2012-04-25T10:00:00Z</updated><x:ext xmlns:x="urn:x"><y/></x:ext></feed>', True),
        (
            _FEED_HEAD + "<updated>2012-04-25T10:00:00Z</updated>"
            "<entry><id>urn:x:1</id><title>E</title><updated>2012-04-25T10:00:00Z</updated>"
            "<author><name>Ann</name><email>not-an-address</email></author></entry></feed>",
            False,
        ),
        (
            _FEED_HEAD + "<updated>2012-04-25T10:00:00Z</updated>"
            "<entry><id>urn:x:1</id><title>E</title><updated>2012-04-25T10:00:00Z</updated>"
            '<content type="html">&lt;p&gt;x&lt;/p&gt;</content><summary>s</summary></entry></feed>',
            True,
        ),
        (
            _FEED_HEAD + "<updated>2012-04-25T10:00:00Z</updated>"
            "<entry><id>urn:x:1</id><title>E</title><updated>2012-04-25T10:00:00Z</updated>"
            '<content src="https://example.org/x">inline text</content></entry></feed>',
            False,
        ),
    ],
    ids=["minimal", "bad-date", "no-id", "two-updated", "link-without-href", "xhtml-without-div", "extension",
         "bad-email", "entry", "src-with-text"],
)  # fmt: skip
def test_the_schema_tells_valid_from_invalid(atom_schema: etree.RelaxNG, document: str, valid: bool) -> None:
    assert atom_schema.validate(etree.fromstring(document.encode())) is valid
