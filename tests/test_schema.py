"""Every Atom feed we write validates against the RFC 4287 RELAX NG schema."""

from __future__ import annotations

import pytest
from lxml import etree

from publisher.publish import publish

from .conftest import NOW, SHARED, Site
from .feedlint import lint_atom, lint_rss

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    path = SHARED / "schema" / "atom.rng"
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the repository")
    return etree.RelaxNG(etree.parse(str(path)))


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
