"""Posts -> the feed files of a publish: which feeds there are, which of their files changed,
and writing those (and only those) atomically.

A feed's fingerprint covers everything that goes into its bytes (feed settings and each
entry), so a publish with nothing changed renders nothing and writes nothing. Each
post's entry is rendered once per format and joined into every feed that lists it: a
post sits in the site feed and in each of its tags' feeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .errors import quote_path
from .feedspec import FeedSpec, author_spec, document, feed_url, site_spec, tag_spec
from .files import read_or_none, replace, write_temporary
from .formats import FORMATS
from .model import Author, FeedKind, Post, Tag
from .reading import Progress, Workers
from .state import FeedRecord, State
from .strays import find_strays, ownership_marks, remove_feed

if TYPE_CHECKING:
    from concurrent.futures import Future

Plan = list[tuple[FeedSpec, list[Post]]]


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def plan_feeds(config: Config, posts: list[Post]) -> Plan:
    """Every feed document to emit (archive pages included) with its posts, newest first."""
    ordered = sorted(posts, key=Post.sort_key)
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
    plan: Plan = []
    if config.feeds.site and ordered:
        plan += _pages(config, site_spec(config), ordered)
    if config.feeds.tags:
        plan += [
            page for slug in sorted(by_tag) for page in _pages(config, tag_spec(config, tag_of[slug]), by_tag[slug])
        ]
    if config.feeds.authors:
        plan += [
            page
            for slug in sorted(by_author)
            for page in _pages(config, author_spec(config, author_of[slug]), by_author[slug])
        ]
    return plan


def _pages(config: Config, spec: FeedSpec, posts: list[Post]) -> Plan:
    """A feed's subscription document (its newest max_items posts) and, with [feeds] archives,
    its RFC 5005 archive pages: the older posts, max_items to a page, page 1 the oldest. New
    posts only ever add to the newest page, so a full page keeps its posts for good."""
    size = config.feeds.max_items
    if not config.feeds.archives or len(posts) <= size:
        return [(spec, posts[:size])]
    older = posts[: size - 1 : -1]  # oldest first
    count = -(-len(older) // size)
    pages = [
        (
            dataclasses.replace(spec, page=n, prev_page=n - 1, next_page=n + 1 if n < count else 0),
            older[(n - 1) * size : n * size][::-1],
        )
        for n in range(1, count + 1)
    ]
    return [(dataclasses.replace(spec, prev_page=count), posts[:size]), *pages]


def doc_key(spec: FeedSpec) -> str:
    """A feed document's name in the member lists: its folder and page."""
    return f"{spec.folder}#{spec.page}"


def remember_members(store: State, plan: Plan, *, force: bool = False) -> None:
    """Keep each document's member list (state/members.py) in step with the plan: rewritten
    only for the documents whose posts changed, so an edit costs a few rows."""
    known = store.members.hashes()
    changed = []
    for spec, posts in plan:
        described = json.dumps([getattr(spec, f.name) for f in dataclasses.fields(spec)], ensure_ascii=False)
        sources = [p.source for p in posts]
        members = fingerprint(described, sources)
        if known.pop(doc_key(spec), None) != members or force:
            changed.append((doc_key(spec), described, members, sources))
    store.members.put(changed)
    store.members.forget(known)


def listed_docs(store: State, sources: set[str]) -> list[tuple[FeedSpec, list[str]]]:
    """The feed documents the last planning put these content files in, each with all its files."""
    found = store.members.listing(sources)
    return [(_spec(described), listed) for described, listed in found.values()]


def _spec(described: str) -> FeedSpec:
    kind, *rest = json.loads(described)
    return FeedSpec(FeedKind(kind), *rest)


def equal_updated_warnings(plan: Plan) -> list[str]:
    """Feed validators flag two entries with the same 'updated' time; name the posts to fix."""
    seen: set[tuple[str, str]] = set()
    warnings = []
    for _spec, posts in plan:
        by_time: dict[datetime, Post] = {}
        for post in posts:
            other = by_time.setdefault(post.updated, post)
            first, second = sorted((other.source, post.source))
            pair = (first, second)
            if other is not post and pair not in seen:
                seen.add(pair)
                warnings.append(
                    f"{quote_path(pair[0])} and {quote_path(pair[1])} have the same time ({post.updated.isoformat()}); "
                    "give one a different time so feed readers can order them"
                )
    return warnings


@dataclass(frozen=True)
class FeedJob:
    """One feed file to render: which feed, which format, its posts and the fingerprint of its inputs."""

    spec: FeedSpec
    fmt: str
    posts: tuple[Post, ...]
    fingerprint: str


@dataclass
class FeedChanges:
    """What a publish did to the feed files (paths relative to the feeds folder)."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # URLs of the subscription documents written


def update_feeds(
    config: Config,
    store: State,
    plan: Plan,
    records: dict[str, FeedRecord],
    feed_key: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
    whole: bool = True,
    workers: Workers | None = None,
) -> FeedChanges:
    """Write the feed files whose inputs changed, remove those no feed owns any more, and
    keep the ledger (``records``: what the last publish wrote) in step.

    ``whole=False``: the plan holds only some documents (those an edit touched); the others
    stay as recorded and only the plan's folders are searched for leftovers. ``workers``: the
    processes that parsed the posts, if any, render and write the feeds too.
    """
    out = config.feeds.folder
    changes = FeedChanges()
    wanted, jobs = _jobs(config, plan, records, feed_key, force)
    changes.unchanged = len(wanted) - len(jobs)
    # Every new feed is written to a temp file first and renamed once all are written:
    # a feed that cannot be written leaves the old feeds, and the ledger, as they were.
    renames: list[tuple[Path, Path]] = []
    try:
        for job, tmp, written_record in _rendered(config, jobs, store.content.html_of, progress, workers):
            rel = job.spec.path(job.fmt)
            if tmp:
                changes.written.append(rel)
                if not job.spec.page:
                    changes.topics.append(feed_url(config, job.spec, job.fmt))
                renames.append((tmp, out / rel))
            else:
                changes.unchanged += 1
            store.feeds.put(rel, written_record)
        for tmp, target in renames:
            replace(tmp, target)
    finally:
        for tmp, _target in renames:
            if tmp.exists():  # not renamed: this publish failed
                remove_feed(out, tmp.relative_to(out).as_posix())
    if whole:
        for rel in sorted(set(records) - wanted):
            remove_feed(out, rel)
            store.feeds.forget(rel)
            changes.removed.append(rel)
        strays = find_strays(out, wanted, ownership_marks(config))
    else:
        folders = sorted({spec.folder for spec, _ in plan})
        strays = find_strays(out, wanted | set(records), ownership_marks(config), folders)
    for rel in strays:
        remove_feed(out, rel)
        changes.removed.append(rel)
    return changes


def _jobs(
    config: Config, plan: Plan, records: dict[str, FeedRecord], feed_key: str, force: bool
) -> tuple[set[str], list[FeedJob]]:
    """The plan's feed files, and those to render: whose inputs' fingerprint or stat is not the recorded one."""
    out = config.feeds.folder
    wanted: set[str] = set()
    jobs: list[FeedJob] = []
    for spec, feed_posts in plan:
        inputs_of_feed = fingerprint(feed_key, spec, [(p.revision, [t.name for t in p.tags]) for p in feed_posts])
        for fmt in config.feeds.formats:
            if spec.page and not FORMATS[fmt].archive_suffix:
                continue  # a format without archive pages
            rel = spec.path(fmt)
            wanted.add(rel)
            feed_fingerprint = fingerprint(inputs_of_feed, fmt)
            known = records.get(rel)
            if (
                force
                or not known
                or known.fingerprint != feed_fingerprint
                or not same_stat(out / rel, known.mtime_ns, known.size)
            ):
                jobs.append(FeedJob(spec, fmt, tuple(feed_posts), feed_fingerprint))
    return wanted, jobs


# Feed files from which the workers render (a task for each of two cores): below, the parent
# renders alone, after the parse's processes have gone. The 202 feed files of a 1,000-post
# site took 60 ms less wall time on the workers than in the parent. Small tasks keep what a
# worker holds small: at 10,000 posts (2,000 feed files) tasks of 250 took the tree from 96 to
# 160 MiB PSS, tasks of 50 to some 117 MiB (each task's HTML, its pickle and its rendered
# entries sit in the parent and a worker at once).
RENDER_ON_WORKERS = 100
RENDER_BATCH = 50  # feed files per task: a post in feeds of several tasks is rendered in each
IN_FLIGHT = 3  # tasks handed to the workers at once: their HTML is all the parent holds


def _rendered(
    config: Config,
    jobs: list[FeedJob],
    html_of: Callable[[set[str]], dict[str, str]],
    progress: Progress | None,
    workers: Workers | None,
) -> Iterator[tuple[FeedJob, Path | None, FeedRecord]]:
    """_write_feeds, on every core when the parse started worker processes: the parent reads
    each batch's HTML from the index (only it sees this publish's rows before the commit) and
    the workers render and write the temp files, so the parent's one core is no longer the
    tail of a large publish. A batch renders each of its posts' entries once; a post listed
    in several batches is rendered in each. When a batch fails, the temp files of the others
    still in flight are removed (the caller removes those it was given)."""
    if workers is None or not workers.started or len(jobs) < RENDER_ON_WORKERS:
        if workers is not None:
            workers.close()  # the parse's processes are not needed any more: their memory goes
        yield from _write_feeds(config, jobs, html_of, progress)
        return
    pool = workers.pool()
    pending: deque[tuple[int, Future[list[tuple[Path | None, FeedRecord]]]]] = deque()

    def oldest() -> Iterator[tuple[FeedJob, Path | None, FeedRecord]]:
        start, future = pending.popleft()
        batch = jobs[start : start + RENDER_BATCH]
        for job, (tmp, record) in zip(batch, future.result(), strict=True):
            yield job, tmp, record
        if progress:
            progress("writing feeds", start + len(batch), len(jobs))

    try:
        for start in range(0, len(jobs), RENDER_BATCH):
            batch = jobs[start : start + RENDER_BATCH]
            bodies = html_of({p.source for job in batch for p in job.posts}) if config.feeds.full_content else {}
            pending.append((start, pool.submit(_render_batch, config, batch, bodies)))
            if len(pending) >= IN_FLIGHT:
                yield from oldest()
        while pending:
            yield from oldest()
    finally:
        for _start, future in pending:  # a batch failed or the publish stops: nothing of theirs is kept
            future.cancel()
            with contextlib.suppress(Exception):
                for tmp, _record in future.result():
                    if tmp:
                        tmp.unlink(missing_ok=True)


def _render_batch(config: Config, jobs: list[FeedJob], bodies: dict[str, str]) -> list[tuple[Path | None, FeedRecord]]:
    """In a worker: _write_feeds for a batch whose HTML the parent sent; its temp files go if one fails."""
    written: list[tuple[Path | None, FeedRecord]] = []
    try:
        for _job, tmp, record in _write_feeds(config, jobs, lambda sources: {s: bodies[s] for s in sources}, None):
            written.append((tmp, record))
    except BaseException:
        for tmp, _record in written:
            if tmp:
                tmp.unlink(missing_ok=True)
        raise
    return written


def _write_feeds(
    config: Config, jobs: list[FeedJob], html_of: Callable[[set[str]], dict[str, str]], progress: Progress | None
) -> Iterator[tuple[FeedJob, Path | None, FeedRecord]]:
    """Render each feed and write it to a temp file beside it (None: the file already holds
    these bytes); the record is that of the bytes that will be in place.

    Each post's entry is written once and joined into every feed that lists it; it is
    dropped after its last feed, so a full publish never holds them all. Posts come
    without their HTML: ``html_of`` (sources -> HTML) gives it for the entries built.
    (Also tried: a process forked after planning rendering half the feeds, 1 s quicker for
    2,000 feeds but 60 MiB of copied pages more; hence _rendered's use of the parse workers,
    forked early. Two threads for the file work: no measurable gain.)
    """
    uses = Counter(p.id for job in jobs for p in job.posts)
    entries: dict[str, dict[str, bytes]] = {}
    for number, job in enumerate(jobs, 1):
        new = {p.source for p in job.posts if p.id not in entries}
        bodies = html_of(new) if config.feeds.full_content else {}  # summaries need no HTML
        feed_entries = []
        for post in job.posts:
            rendered = entries.get(post.id)
            if rendered is None:
                full = dataclasses.replace(post, html=bodies[post.source]) if post.source in bodies else post
                rendered = entries[post.id] = {fmt: FORMATS[fmt].entry(config, full) for fmt in config.feeds.formats}
            feed_entries.append(rendered[job.fmt])
            uses[post.id] -= 1
            if not uses[post.id]:
                del entries[post.id]
        newest = max(post.updated for post in job.posts)
        head = document(config, job.spec, job.fmt, newest, media=any(p.image for p in job.posts))
        data = FORMATS[job.fmt].document(config, head, feed_entries)
        target = config.feeds.folder / job.spec.path(job.fmt)
        tmp = write_temporary(target, data) if read_or_none(target) != data else None
        stat = (tmp or target).stat()  # a rename keeps the time and size
        yield job, tmp, FeedRecord(job.fingerprint, stat.st_mtime_ns, stat.st_size)
        if progress and (number % 50 == 0 or number == len(jobs)):
            progress("writing feeds", number, len(jobs))


def same_stat(path: Path | str, mtime_ns: int, size: int) -> bool:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return False
    return stat.st_mtime_ns == mtime_ns and stat.st_size == size


def feeds_as_written(out: Path, written: Iterable[tuple[str, int, int]]) -> bool:
    """Whether every recorded feed file (FeedLedger.stats) still has the stat it was written with
    (a power cut may have emptied one). Plain strings: at 20,000 feeds, Path objects cost more
    than the stats."""
    folder = os.fspath(out)
    return all(same_stat(f"{folder}/{rel}", mtime_ns, size) for rel, mtime_ns, size in written)
