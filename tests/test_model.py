"""Slug rules: case-insensitive, ASCII-safe, never a path."""

from __future__ import annotations

import pytest

from publisher.model import Tag, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("UNPoA", "unpoa"),
        ("unpoa", "unpoa"),
        ("Désarmement", "desarmement"),
        ("Small Arms & Light Weapons", "small-arms-light-weapons"),
        ("  Security   Council ", "security-council"),
        ("../../etc/passwd", "etc-passwd"),
        ("C:\\Windows", "c-windows"),
        ("ÆSIR", "aesir"),
        ("Łódź Straße", "lodz-strasse"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_tags_differing_only_in_case_are_one_tag() -> None:
    assert Tag("UNPoA").slug == Tag("unpoa").slug == Tag("UNPOA").slug


@pytest.mark.parametrize("name", ["日本", "..", "/", "—", "😀"])
def test_names_without_ascii_letters_get_a_stable_safe_slug(name: str) -> None:
    slug = slugify(name)
    assert slug == slugify(name)
    assert slug.startswith("x-")
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in slug)


def test_distinct_non_ascii_names_get_distinct_slugs() -> None:
    assert slugify("日本") != slugify("中国")
