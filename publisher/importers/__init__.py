"""`publisher import`: posts from a tag-archive page, a WordPress export or any feed -> content/.

Every importer yields the same records; this module matches them to the site's posts by
id, renders one Markdown file per post, and writes all of the files or none of them.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..config import Config
from ..content import read_post
from ..errors import ImportFailed, OutputError
from ..files import write_atomically
from ..frontmatter import split_front_matter
from ..model import Post
from ..sanitize import clean_text, plain_text
from ..sources import UnreadablePost, content_files, display_path, read_post_file
from . import archive, feed, wordpress
from .common import Batch, ImportedPost, Skipped, Source, counted, merge_tags
from .fetch import DEFAULT_LIMITS, FetchLimits, load_source

KINDS = ("archive", "wordpress", "feed")
IMPORTED = "imported"  # front matter mark of a file an import wrote: only those are updated in place


class _FrontMatterDumper(yaml.SafeDumper):
    """Safe YAML that writes a date-time as ISO 8601 proper (2012-03-26T16:00:00-04:00)."""


_FrontMatterDumper.add_representer(
    datetime, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())
)


@dataclass(frozen=True)
class _Change:
    """One file to write: its new bytes, and its old ones (None for a new file)."""

    path: Path
    data: bytes
    old: bytes | None


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do); paths as messages show them."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        reasons = Counter((item.reason, item.plural or item.reason) for item in self.skipped)
        why = ", ".join(counted(count, *words) for words, count in sorted(reasons.items()))
        return (
            f"{counted(len(self.created), 'new post')}, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
            + (f" ({why})" if why else "")
            + "".join(f"; {change}" for change in self.changes)
        )


def _reader(kind: str, year: int | None) -> Callable[[Source, Config], Batch]:
    if kind not in KINDS:
        raise ImportFailed(f"import: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if year is not None and kind != "archive":
        raise ImportFailed("import: --year only applies to 'archive' (a feed or an export has full dates)")
    if kind == "archive":
        return lambda source, config: archive.read(source, config, year)
    return wordpress.read if kind == "wordpress" else feed.read


def _clean(value: Any) -> Any:
    """Text as content.py will read it back, so ids and files compare equal on re-import."""
    if isinstance(value, str):
        return clean_text(value).strip()
    if isinstance(value, tuple):
        return tuple(item for item in map(_clean, value) if item)
    return value


def _prepare(batch: Batch, extra_tags: Iterable[str]) -> tuple[list[ImportedPost], list[Skipped]]:
    """Posts with the extra tags added, each id once; later copies of an id are skipped."""
    extra = _clean(tuple(extra_tags))
    posts: dict[str, ImportedPost] = {}
    skipped = list(batch.skipped)
    for post in batch.posts:
        post = dataclasses.replace(post, **{f.name: _clean(getattr(post, f.name)) for f in dataclasses.fields(post)})
        post = dataclasses.replace(post, tags=merge_tags(post.tags, extra))
        if post.id in posts:
            skipped.append(Skipped(f'"{post.title}"', f"same id as an earlier post ({post.id})"))
        else:
            posts[post.id] = post
    return list(posts.values()), skipped


def _as_written(text: str) -> str:
    """Text as front matter must hold it for publish to read it back unchanged: publish
    drops inline tags and decodes entities in titles, names and summaries, so a title
    such as "The <b> tag" is written escaped rather than lose a word."""
    return text if plain_text(text) == text else html.escape(text, quote=False)


def _render(post: ImportedPost) -> bytes:
    """The post's Markdown file: YAML front matter in the field names content.py reads, then the body."""
    meta: dict[str, Any] = {"id": post.id, "title": _as_written(post.title), "slug": post.slug, "date": post.published}
    if post.updated:
        meta["updated"] = post.updated
    if len(post.authors) == 1:
        meta["author"] = _as_written(post.authors[0])
    elif post.authors:
        meta["authors"] = [_as_written(author) for author in post.authors]
    for key, value in (("tags", post.tags), ("categories", post.categories)):
        if value:
            meta[key] = [_as_written(name) for name in value]
    if post.summary:
        meta["summary"] = _as_written(post.summary)
    if post.link:
        meta["link"] = post.link
    meta[IMPORTED] = True
    front = yaml.dump(meta, Dumper=_FrontMatterDumper, allow_unicode=True, sort_keys=False, width=math.inf)
    return f"---\n{front}---\n\n{post.body}\n".encode()


def _existing(config: Config) -> tuple[dict[str, Path], dict[str, Path], dict[str, str]]:
    """The site's posts by id, those an import wrote (updated in place) apart from those
    written by hand (never overwritten), and slug -> id (so no two posts share a slug).

    Each file is read the way publish reads it, so a post without an explicit id matches
    by the id publish gives it.
    """
    folder = config.content.folder
    imported: dict[str, Path] = {}
    by_hand: dict[str, Path] = {}
    slug_owner: dict[str, str] = {}
    for found in content_files(folder) if folder.is_dir() else ():
        path = folder / found.rel
        try:
            raw = read_post_file(config, found.rel, [])
        except UnreadablePost as exc:  # a link to nowhere, a FIFO: which post it was is unknown
            shown = display_path(config, found.rel)
            raise ImportFailed(f"import: {shown}: {exc}; fix or remove it, then import again") from None
        post = read_post(found.rel, raw, config)
        if isinstance(post, Post):
            marked = split_front_matter(raw.decode("utf-8"))[0].get(IMPORTED) is True
            (imported if marked else by_hand).setdefault(post.id, path)
            slug_owner.setdefault(post.slug, post.id)
    return imported, by_hand, slug_owner


def _plan(config: Config, posts: list[ImportedPost]) -> tuple[list[_Change], list[Skipped]]:
    """Each post's file and bytes. A known id keeps its file; a new post gets
    ``YYYY-MM-DD-slug.md``, with "-2", "-3"... when another post has the slug.
    A post written by hand with the same id is left alone and the import skipped."""
    by_id, by_hand, slug_owner = _existing(config)
    importing = {post.id for post in posts}
    taken = {slug for slug, owner in slug_owner.items() if owner not in importing}
    claimed: set[Path] = set()
    changes = []
    skipped = []
    for post in posts:
        if post.id in by_hand and post.id not in by_id:
            shown = display_path(config, by_hand[post.id].relative_to(config.content.folder).as_posix())
            skipped.append(Skipped(f'"{post.title}"', f"{shown} has its id and was not imported: left as it is"))
            continue
        path = by_id.get(post.id)
        for number in itertools.count(1):
            slug = post.slug if number == 1 else f"{post.slug}-{number}"
            target = path or config.content.folder / f"{post.published:%Y-%m-%d}-{slug}.md"
            if slug not in taken and target not in claimed and (path is not None or not target.exists()):
                break
        taken.add(slug)
        claimed.add(target)
        changes.append(
            _Change(target, _render(dataclasses.replace(post, slug=slug)), path.read_bytes() if path else None)
        )
    return changes, skipped


def _write(changes: list[_Change]) -> None:
    """Every file or none: when one write fails, the files already written are put back."""
    written: list[_Change] = []
    try:
        for change in changes:
            write_atomically(change.path, change.data)
            written.append(change)
    except OutputError as exc:
        for done in reversed(written):
            if done.old is None:
                done.path.unlink(missing_ok=True)
            else:
                write_atomically(done.path, done.old)
        raise ImportFailed(f"import: {exc}; nothing was changed") from None


def import_source(
    config: Config,
    kind: str,
    location: str,
    *,
    year: int | None = None,
    tags: Iterable[str] = (),
    dry_run: bool = False,
    limits: FetchLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Read ``location`` as ``kind`` and bring content/ in line with it; a dry run writes nothing.

    The whole source is read and every file rendered before the first write, so bad
    input raises ImportFailed with content/ untouched.
    """
    batch = _reader(kind, year)(load_source(location, limits), config)
    posts, skipped = _prepare(batch, tags)
    report = ImportReport(
        skipped=skipped, warnings=list(batch.warnings), notes=list(batch.notes), changes=list(batch.changes)
    )
    pending = []
    changes, left_alone = _plan(config, posts)
    report.skipped += left_alone
    for change in changes:
        shown = display_path(config, change.path.relative_to(config.content.folder).as_posix())
        if change.old == change.data:
            report.unchanged.append(shown)
        else:
            (report.created if change.old is None else report.updated).append(shown)
            pending.append(change)
    if not dry_run:
        _write(pending)
    return report
