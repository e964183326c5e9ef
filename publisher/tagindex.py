"""Each tag's name, post count and newest posts, worked out at publish time for the web pages.

A front page or tag page then costs what it shows, not what the site holds: an anonymous
request never walks the posts. Tags are ordered as people sort names (``human_key``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from .model import Post

NEWEST = 10  # posts a tag page lists
_NUMBER = re.compile(r"(\d+)")


def folded(text: str) -> str:
    """Case and accents folded away ("Économie" -> "economie"): what a search and a sort compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def human_key(name: str) -> tuple[str | int, ...]:
    """Sort key of a name as people sort: case and accents aside, numbers by value ("Topic 2" < "Topic 10").

    Split on runs of digits, the parts alternate text and number, so two keys always compare.
    """
    return tuple(int(part) if n % 2 else part for n, part in enumerate(_NUMBER.split(folded(name))))


@dataclass(frozen=True)
class PostLink:
    title: str
    url: str
    published: datetime


@dataclass(frozen=True)
class TagSummary:
    """A tag as the web pages show it; ``position`` is its place in human order, from 0."""

    slug: str
    name: str
    position: int
    posts: int
    newest: tuple[PostLink, ...]

    @property
    def search(self) -> str:
        return folded(self.name)


def summarise(posts: list[Post]) -> list[TagSummary]:
    """The tags of ``posts`` in human order, each with its count and NEWEST newest posts."""
    counts: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    newest: dict[str, list[PostLink]] = defaultdict(list)
    for post in sorted(posts, key=Post.sort_key):
        for tag in post.tags:
            counts[tag.slug] += 1
            names.setdefault(tag.slug, tag.name)
            if len(newest[tag.slug]) < NEWEST:
                newest[tag.slug].append(PostLink(post.title, post.url, post.published))
    order = sorted(names, key=lambda slug: (human_key(names[slug]), names[slug], slug))
    return [
        TagSummary(slug, names[slug], position, counts[slug], tuple(newest[slug]))
        for position, slug in enumerate(order)
    ]
