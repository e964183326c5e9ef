"""scan -> diff against the ledger -> render the feeds whose inputs changed -> write atomically.

A feed's digest covers everything that goes into its bytes (feed settings and
each entry), so a publish with nothing changed renders nothing and writes
nothing, and the same content always gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from feedgen.entry import FeedEntry

from . import __version__
from .config import Config
from .content import content_files, display_path, read_post
from .errors import ConfigError, ContentError, ContentProblem
from .feeds import FeedSpec, author_spec, build_entry, render_feed, site_spec, tag_spec
from .model import Author, Post, Tag
from .store import CachedFile, FeedRecord, Store, post_to_json

Progress = Callable[[str, int, int], None]


@dataclass
class PublishReport:
    """What a publish did, for the one-line summary and for tests."""

    posts: int = 0
    drafts: int = 0
    scheduled: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    problems: list[ContentProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same folder + rename: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def scan(config: Config, store: Store, progress: Progress | None = None) -> list[Post | ContentProblem]:
    """Every content file as a Post or a problem, re-reading only files whose stat changed."""
    folder = config.content.folder
    cache_key = _fingerprint(config.site, config.content, __version__)
    if store.get_meta("content_fingerprint") != cache_key:
        store.forget_all_files()
        store.set_meta("content_fingerprint", cache_key)
    cached = store.cached_files()
    results = []
    if not folder.is_dir():
        raise ConfigError(f"config: content.folder: {folder} is not a folder; expected the folder holding the posts")
    paths = list(content_files(folder))
    for number, path in enumerate(paths, 1):
        rel = path.relative_to(folder).as_posix()
        stat = path.stat()
        known = cached.pop(rel, None)
        if known and (known.mtime_ns, known.size) == (stat.st_mtime_ns, stat.st_size):
            results.append(known.result)
            continue
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        result = known.result if known and known.sha256 == sha else read_post(path, raw, config)
        store.put_file(rel, CachedFile(stat.st_mtime_ns, stat.st_size, sha, result))
        results.append(result)
        if progress:
            progress("reading posts", number, len(paths))
    store.forget_files(cached)
    return results


def _check_unique(posts: list[Post], config: Config) -> list[ContentProblem]:
    """Two posts may not share an entry id or a permalink: readers would see one of them vanish."""
    problems = []
    for attribute, what in (("id", "entry id"), ("url", "permalink")):
        first: dict[str, Post] = {}
        for post in sorted(posts, key=lambda p: p.source):
            other = first.setdefault(getattr(post, attribute), post)
            if other is not post:
                problems.append(
                    ContentProblem(
                        display_path(config, post.source),
                        f"same {what} {getattr(post, attribute)!r} as {other.source}; set a distinct 'slug' or 'id'",
                    )
                )
    return problems


def _canonical_names(names: Counter[str]) -> str:
    """The spelling most posts use; ties go to the alphabetically first, so the choice is stable."""
    return min(names, key=lambda name: (-names[name], name))


def resolve_tags(posts: list[Post]) -> tuple[list[Post], list[str]]:
    """Give every tag one display name per slug; warn when different words share a slug."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for post in posts:
        for tag in post.tags:
            spellings[tag.slug][tag.name] += 1
    canonical = {slug: Tag(_canonical_names(names)) for slug, names in spellings.items()}
    warnings = [
        f"tags {', '.join(repr(n) for n in sorted(names))} share the slug '{slug}': merged into one feed"
        for slug, names in sorted(spellings.items())
        if len({n.casefold() for n in names}) > 1
    ]
    resolved = [
        dataclasses.replace(post, tags=tuple(canonical[t.slug] for t in post.tags))
        if any(t != canonical[t.slug] for t in post.tags)
        else post
        for post in posts
    ]
    return resolved, warnings


def plan_feeds(config: Config, posts: list[Post]) -> list[tuple[FeedSpec, list[Post]]]:
    """Every feed to emit with its posts, newest first, at most max_items each."""
    ordered = sorted(posts, key=Post.sort_key)
    limit = config.feeds.max_items
    by_tag: dict[str, list[Post]] = defaultdict(list)
    by_author: dict[str, list[Post]] = defaultdict(list)
    tag_of: dict[str, Tag] = {}
    author_of: dict[str, Author] = {}
    for post in ordered:
        for tag in post.tags:
            tag_of.setdefault(tag.slug, tag)
            by_tag[tag.slug].append(post)
        for author in post.authors:
            author_of.setdefault(author.slug, author)
            by_author[author.slug].append(post)
    plan: list[tuple[FeedSpec, list[Post]]] = []
    if config.feeds.site and ordered:
        plan.append((site_spec(config), ordered[:limit]))
    if config.feeds.tags:
        plan += [(tag_spec(config, tag_of[slug]), by_tag[slug][:limit]) for slug in sorted(by_tag)]
    if config.feeds.authors:
        plan += [(author_spec(config, author_of[slug]), by_author[slug][:limit]) for slug in sorted(by_author)]
    return plan


def _equal_updated_warnings(plan: list[tuple[FeedSpec, list[Post]]]) -> list[str]:
    """Feed validators flag two entries with the same 'updated' time; name the posts to fix."""
    seen: set[tuple[str, str]] = set()
    warnings = []
    for _spec, posts in plan:
        by_time: dict[datetime, Post] = {}
        for post in posts:
            other = by_time.setdefault(post.updated, post)
            pair = tuple(sorted((other.source, post.source)))
            if other is not post and pair not in seen:
                seen.add(pair)
                warnings.append(
                    f"{pair[0]} and {pair[1]} have the same time ({post.updated.isoformat()}); "
                    "give one a time of day so feed readers can order them"
                )
    return warnings


def collect(
    config: Config,
    store: Store,
    now: datetime,
    report: PublishReport,
    *,
    keep_going: bool = False,
    progress: Progress | None = None,
) -> list[Post]:
    """The posts live at ``now``, tags resolved; problems and counts go into the report."""
    results = scan(config, store, progress)
    report.problems = [r for r in results if isinstance(r, ContentProblem)]
    posts = [r for r in results if isinstance(r, Post)]
    report.problems += _check_unique(posts, config)
    if report.problems and not keep_going:
        raise ContentError(report.problems)
    bad = {p.path for p in report.problems}
    report.drafts = sum(p.draft for p in posts)
    report.scheduled = sum(not p.draft and p.published > now for p in posts)
    live = [p for p in posts if not p.draft and p.published <= now and display_path(config, p.source) not in bad]
    live, report.warnings = resolve_tags(live)
    report.posts = len(live)
    return live


def live_posts(config: Config, now: datetime) -> list[Post]:
    """What a publish at ``now`` would put in the feeds, newest first."""
    with Store(config.state.path) as store, store.transaction():
        return sorted(collect(config, store, now, PublishReport()), key=Post.sort_key)


def publish(
    config: Config,
    now: datetime,
    *,
    keep_going: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> PublishReport:
    """Bring the output folder in line with the content; raises ContentError unless keep_going.

    ``force`` renders every feed again (after a template or version change a digest
    cannot see); files whose bytes come out the same are still left alone.
    """
    started = time.perf_counter()
    report = PublishReport()
    out = config.feeds.folder
    with Store(config.state.path) as store, store.transaction():
        live = collect(config, store, now, report, keep_going=keep_going, progress=progress)
        plan = plan_feeds(config, live)
        report.warnings += _equal_updated_warnings(plan)

        feed_key = _fingerprint(config.site, config.feeds, __version__)
        records = store.feed_records()
        post_keys: dict[str, str] = {}
        entries: dict[str, FeedEntry] = {}
        wanted: set[str] = set()
        for number, (spec, feed_posts) in enumerate(plan, 1):
            for post in feed_posts:
                if post.id not in post_keys:
                    post_keys[post.id] = _fingerprint(post_to_json(post))
            for fmt in config.feeds.formats:
                rel = spec.path(fmt)
                wanted.add(rel)
                digest = _fingerprint(feed_key, spec, fmt, [post_keys[p.id] for p in feed_posts])
                target = out / rel
                record = records.get(rel)
                if not force and record and record.digest == digest and _same_stat(target, record):
                    report.unchanged += 1
                    continue
                feed_entries = [
                    entries[p.id] if p.id in entries else entries.setdefault(p.id, build_entry(config, p))
                    for p in feed_posts
                ]
                data = render_feed(config, spec, feed_entries, feed_posts, fmt)
                if _read(target) == data:
                    report.unchanged += 1
                else:
                    write_atomically(target, data)
                    report.written.append(rel)
                stat = target.stat()
                store.put_feed(rel, FeedRecord(digest, stat.st_mtime_ns, stat.st_size))
            if progress:
                progress("writing feeds", number, len(plan))
        for rel in sorted(set(records) - wanted):
            _remove_feed(out, rel)
            store.forget_feed(rel)
            report.removed.append(rel)
        store.record_published((p.id for p in live), now)
    report.seconds = time.perf_counter() - started
    return report


def _same_stat(path: Path, record: FeedRecord) -> bool:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    return (stat.st_mtime_ns, stat.st_size) == (record.mtime_ns, record.size)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _remove_feed(out: Path, rel: str) -> None:
    """Delete a feed we once wrote and any folders it leaves empty, never above the output folder."""
    path = out / rel
    path.unlink(missing_ok=True)
    folder = path.parent
    while folder != out and folder.is_relative_to(out):
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent
