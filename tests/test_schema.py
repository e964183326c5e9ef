"""Every Atom feed we write validates against the RFC 4287 RELAX NG schema."""

from __future__ import annotations

import pytest
from lxml import etree

from publisher.publish import publish

from .conftest import NOW, SHARED, Site

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
