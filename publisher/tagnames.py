"""One slug and one display name per tag across the site: what the feeds call each tag."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterable

from .config import TagsConfig
from .model import Post, Tag, name_slug, slugify

Renames = dict[str, Tag]  # a tag name as written in a post -> the tag the feeds show


def _canonical_names(names: Counter[str]) -> str:
    """The spelling most posts use; ties go to the alphabetically first, so the choice is stable."""
    return min(names, key=lambda name: (-names[name], name))


def tag_renames(posts: list[Post], config: TagsConfig) -> tuple[Renames, list[str]]:
    """Give every tag one slug (pinned by the site, else its name's) and one display name per
    slug; warn when different words share a slug the site did not pin. Returns the names
    that become another Tag (usually none), and the warnings."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for name, count in Counter(t.name for post in posts for t in post.tags).items():
        spellings[config.slug(name)][name] = count
    warnings = [
        f"tags {', '.join(repr(n) for n in sorted(names))} share the slug '{slug}': merged into one feed"
        for slug, names in sorted(spellings.items())
        if len({n.casefold() for n in names}) > 1 and not config.is_pinned(slug)
    ]
    tags = {}
    for slug, names in spellings.items():
        shown = config.display.get(slug) or _canonical_names(names)
        tags[slug] = Tag(shown, "" if name_slug(shown) == slug else slug)
    renamed = {name: tags[slug] for slug, names in spellings.items() for name in names if Tag(name) != tags[slug]}
    return renamed, warnings


def rename_tags(posts: list[Post], renamed: Renames) -> list[Post]:
    """The posts with their tags as the feeds show them."""
    if not renamed:  # the usual case: one spelling per tag, and its own slug
        return posts
    return [
        dataclasses.replace(post, tags=tuple(dict.fromkeys(renamed.get(t.name, t) for t in post.tags)))
        if any(t.name in renamed for t in post.tags)
        else post
        for post in posts
    ]


def resolve_tags(posts: list[Post], config: TagsConfig) -> tuple[list[Post], list[str]]:
    """The posts with one slug and display name per tag, and the warnings about merged tags."""
    renamed, warnings = tag_renames(posts, config)
    return rename_tags(posts, renamed), warnings


def renames_json(renamed: Renames) -> str:
    return json.dumps({name: [tag.name, tag.pinned] for name, tag in sorted(renamed.items())}, ensure_ascii=False)


def renames_from_json(text: str) -> Renames:
    return {name: Tag(shown, pinned) for name, (shown, pinned) in json.loads(text).items()}


def moved_tags(known: str | None, posts: list[Post], records: Iterable[str]) -> tuple[list[str], str]:
    """Warnings for tags whose slug (so feed URL) is not the last publish's (``known``: its map, as
    JSON), and the map to remember; ``records``: the feed files the last publish wrote.

    Before the map was first kept, the last publish's slug of a name is what slugify gives
    (the rule of earlier versions) when the ledger holds a feed in that folder.
    """
    now = {t.name.casefold(): t.slug for post in posts for t in post.tags}
    if known is not None:
        before = json.loads(known)
    else:
        folders = {rel.rpartition("/")[0] for rel in records}
        before = {name: slugify(name) for name in now if f"tags/{slugify(name)}" in folders}
    warnings = [
        f"tag {name!r} has the slug '{slug}', no longer '{before[name]}': its feed URL changed; "
        f'to keep the old one, add [tags.slugs] {json.dumps(name)} = "{before[name]}" to config.toml'
        for name, slug in sorted(now.items())
        if before.get(name, slug) != slug
    ]
    return warnings, json.dumps(dict(sorted({**before, **now}.items())))
