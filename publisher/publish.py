"""scan -> diff against the ledger -> render the feeds whose inputs changed -> write atomically.

A feed's digest covers everything that goes into its bytes (feed settings and
each entry), so a publish with nothing changed renders nothing and writes
nothing, and the same content always gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any

from . import __version__
from .config import FEED_FORMATS, Config, TagsConfig
from .errors import ConfigError, ContentError, ContentProblem, OutputError, quote_path
from .feedspec import FeedSpec, author_spec, site_spec, tag_spec
from .model import Author, Post, Tag, name_slug, slugify
from .sources import SourceFile, UnreadablePost, content_files, display_path, read_post_file
from .state import POST_FORMAT, CachedFile, FeedRecord, State, open_state
from .state.sqlite import damaged

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
    next_change: datetime | None = None  # when the next scheduled post comes due
    newest_live: datetime | None = None  # the latest publication date among the live posts


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def write_temporary(path: Path, data: bytes) -> Path:
    """The bytes in a new temp file beside ``path``, for os.replace to put in its place later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {quote_path(path)}: {exc.strerror}; expected a writable folder") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {quote_path(path)}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same folder + rename: a reader sees the old file or the new one, never half.

    No fsync: if a power cut empties a feed, its size no longer matches the ledger and
    the next publish writes it again.
    """
    _replace(write_temporary(path, data), path)


PARALLEL_THRESHOLD = 256  # changed files above which parsing is spread over every core


def _content_key(config: Config) -> str:
    return _fingerprint(config.site, config.content, config.tags, __version__, POST_FORMAT)


def _parse(
    config: Config, todo: list[SourceFile], stale: dict[str, CachedFile], progress: Progress | None = None
) -> Iterator[tuple[SourceFile, str, Post | ContentProblem | None, list[str]]]:
    """Read changed files and parse those whose bytes did change (a checkout touches every
    file's time, not its text; None stands for the indexed result of such a file), in order
    and as they come, each with its notes (what had to be left out); a large batch is read,
    hashed and parsed on every core."""
    known = [stale[f.rel].sha256 if f.rel in stale else None for f in todo]
    if len(todo) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
        for f, sha in zip(todo, known, strict=True):
            yield f, *_parse_file(config, f.rel, sha)
        return
    # The workers read the files themselves: the parent stays small, and so do the
    # copies of it that forking makes.
    from concurrent.futures import ProcessPoolExecutor  # only a large publish pays for loading it

    pool = ProcessPoolExecutor(initializer=_bind_to_parent, initargs=(os.getpid(),))
    try:
        with _noting_stops() as stops:
            results = pool.map(_parse_file, repeat(config), [f.rel for f in todo], known, chunksize=64)
            for number, (f, result) in enumerate(zip(todo, results, strict=True), 1):
                stops.check()
                yield f, *result
                if progress and number % 100 == 0:
                    progress("reading posts", number, len(todo))
            stops.check()
    finally:
        pool.shutdown(cancel_futures=True)  # a stop leaves only the chunks already started to finish


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _bind_to_parent(parent: int) -> None:
    """Make a parse worker die with the publish that started it, even after a kill -9 of that
    publish (or it would wait for work for ever), and leave Ctrl-C to the publish."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before we asked
        os._exit(1)


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class _Stops:
    """SIGTERM and Ctrl-C during a parallel parse, noted by their handlers and acted on between
    results: an exception raised inside a handler can land in a finaliser, which swallows it."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def check(self) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # the pool is shut down and nothing is committed


@contextmanager
def _noting_stops() -> Iterator[_Stops]:
    """Catch SIGTERM and SIGINT unless something else, such as `publisher run`, already handles them."""
    stops = _Stops()
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    defaults = (signal.SIG_DFL, signal.default_int_handler, None)

    def note(signum: int, frame: object) -> None:
        stops.signal = signum

    previous = {
        sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT) if signal.getsignal(sig) in defaults
    }
    try:
        yield stops
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _parse_file(config: Config, rel: str, known_sha: str | None) -> tuple[str, Post | ContentProblem | None, list[str]]:
    """(sha256, post or problem, notes) of one file; None in place of the post when its bytes
    hash to known_sha."""
    notes: list[str] = []
    try:
        raw = read_post_file(config, rel, notes)
    except UnreadablePost as exc:
        return "", ContentProblem(display_path(config, rel), str(exc)), notes
    sha = hashlib.sha256(raw).hexdigest()
    if sha == known_sha:
        return sha, None, notes
    from .content import read_post  # Markdown, YAML and nh3: only when a file is to be parsed

    return sha, read_post(rel, raw, config, notes), notes


def _utf8(name: str) -> bool:
    """Whether a name read from the disk is UTF-8 (os.walk keeps other bytes as surrogates)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def scan(
    config: Config, store: State, files: list[SourceFile], progress: Progress | None = None, *, html: bool = True
) -> tuple[list[Post | ContentProblem], list[str]]:
    """Every content file as a Post or a problem, re-reading only files whose stat changed;
    and the notes of the files read (said once: an unchanged file is not read again).

    ``html=False``: posts come without their HTML (_write_feeds reads it from the index).
    """
    if store.meta.get("content_fingerprint") != _content_key(config):
        store.content.forget_all()
        store.meta.set("content_fingerprint", _content_key(config))
    cached = store.content.cached_files(html=html)
    results: dict[str, Post | ContentProblem] = {}
    todo = []
    stale: dict[str, CachedFile] = {}
    for f in files:
        if not _utf8(f.rel):  # the index cannot hold the name: report it and leave it out
            results[f.rel] = ContentProblem(
                display_path(config, f.rel), "the file name is not valid UTF-8; rename the file"
            )
            continue
        known = cached.pop(f.rel, None)
        if known and (known.mtime_ns, known.size) == (f.mtime_ns, f.size):
            results[f.rel] = known.result
        else:
            todo.append(f)
            if known:
                stale[f.rel] = known
    unchanged: list[SourceFile] = []
    notes: list[str] = []

    def parsed() -> Iterator[tuple[str, CachedFile]]:
        """Rows for the index as the files are parsed. Without ``html``, a post is kept here
        without its HTML once stored: a large site's bodies never sit in memory together."""
        for f, sha, result, said in _parse(config, todo, stale, progress):
            notes.extend(said)
            if result is None:
                unchanged.append(f)
                results[f.rel] = stale[f.rel].result
                continue
            yield f.rel, CachedFile(f.mtime_ns, f.size, sha, result)
            results[f.rel] = (
                result if html or isinstance(result, ContentProblem) else dataclasses.replace(result, html="")
            )

    store.content.put(parsed())
    store.content.restat((f.rel, f.mtime_ns, f.size) for f in unchanged)
    store.content.forget(cached)
    return [results[f.rel] for f in files], notes


def _source_files(config: Config) -> list[SourceFile]:
    folder = config.content.folder
    if not folder.is_dir():
        raise ConfigError(
            f"config: content.folder: {quote_path(folder)} is not a folder; expected the folder holding the posts"
        )
    return content_files(folder)


def _check_unique(posts: list[Post], config: Config) -> list[ContentProblem]:
    """Two posts may not share an entry id or a permalink: readers would see one of them vanish."""
    problems = []
    by_source = sorted(posts, key=lambda p: p.source)
    for attribute, what in (("id", "entry id"), ("url", "permalink")):
        first: dict[str, Post] = {}
        for post in by_source:
            other = first.setdefault(getattr(post, attribute), post)
            if other is not post:
                problems.append(
                    ContentProblem(
                        display_path(config, post.source),
                        f"same {what} {getattr(post, attribute)!r} as {display_path(config, other.source)}; "
                        "set a distinct 'slug' or 'id'",
                    )
                )
    return problems


def _canonical_names(names: Counter[str]) -> str:
    """The spelling most posts use; ties go to the alphabetically first, so the choice is stable."""
    return min(names, key=lambda name: (-names[name], name))


def resolve_tags(posts: list[Post], config: TagsConfig) -> tuple[list[Post], list[str]]:
    """Give every tag one slug (pinned by the site, else its name's) and one display name per
    slug; warn when different words share a slug the site did not pin."""
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
    if not renamed:  # the usual case: one spelling per tag, and its own slug
        return posts, warnings
    resolved = [
        dataclasses.replace(post, tags=tuple(dict.fromkeys(renamed.get(t.name, t) for t in post.tags)))
        if any(t.name in renamed for t in post.tags)
        else post
        for post in posts
    ]
    return resolved, warnings


def _moved_tags(store: State, posts: list[Post], records: dict[str, FeedRecord]) -> tuple[list[str], str]:
    """Warnings for tags whose slug (so feed URL) is not the last publish's, and the map to remember.

    Before the map was first kept, the last publish's slug of a name is what slugify gives
    (the rule of earlier versions) when the ledger holds a feed in that folder.
    """
    now = {t.name.casefold(): t.slug for post in posts for t in post.tags}
    known = store.meta.get("tag_slugs")
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
                    f"{quote_path(pair[0])} and {quote_path(pair[1])} have the same time ({post.updated.isoformat()}); "
                    "give one a different time so feed readers can order them"
                )
    return warnings


def collect(
    config: Config,
    store: State,
    now: datetime,
    report: PublishReport,
    *,
    keep_going: bool = False,
    files: list[SourceFile] | None = None,
    progress: Progress | None = None,
    html: bool = True,
) -> list[Post]:
    """The posts live at ``now``, tags resolved; problems and counts go into the report.

    ``html=False``: posts unchanged since the last publish come without their HTML.
    """
    results, notes = scan(config, store, files if files is not None else _source_files(config), progress, html=html)
    report.problems = [r for r in results if isinstance(r, ContentProblem)]
    posts = [r for r in results if isinstance(r, Post)]
    report.problems += _check_unique(posts, config)
    if report.problems and not keep_going:
        raise ContentError(report.problems)
    bad = {p.path for p in report.problems}
    if bad:  # with keep_going, a post that shares an id or permalink with another stays out
        posts = [p for p in posts if display_path(config, p.source) not in bad]
    report.drafts = sum(p.draft for p in posts)
    report.scheduled = sum(not p.draft and p.published > now for p in posts)
    report.next_change = min((p.published for p in posts if not p.draft and p.published > now), default=None)
    live = [p for p in posts if not p.draft and p.published <= now]
    report.newest_live = max((p.published for p in live), default=None)
    live, merged = resolve_tags(live, config.tags)
    report.warnings = notes + merged
    report.posts = len(live)
    return live


def live_posts(config: Config, now: datetime, *, keep_going: bool = False) -> list[Post]:
    """What a publish at ``now`` would put in the feeds, newest first; ``keep_going`` skips broken files."""
    with open_state(config.state) as store, store.transaction():
        return sorted(collect(config, store, now, PublishReport(), keep_going=keep_going), key=Post.sort_key)


def indexed_posts(config: Config, now: datetime) -> list[Post]:
    """The live posts as the last publish indexed them, newest first, without their HTML;
    broken files left out.

    Read-only and without looking at content/: for web pages, which must stay cheap
    for any anonymous request and never wait for, or hold up, a running publish.
    """
    with open_state(config.state) as store:
        cached = store.content.cached_files(html=False).values()
    posts = [c.result for c in cached if isinstance(c.result, Post)]
    live = [p for p in posts if not p.draft and p.published <= now]
    return sorted(resolve_tags(live, config.tags)[0], key=Post.sort_key)


def publish(
    config: Config,
    now: datetime,
    *,
    keep_going: bool = False,
    force: bool = False,
    record: bool = True,
    progress: Progress | None = None,
) -> PublishReport:
    """Bring the output folder in line with the content; raises ContentError unless keep_going.

    ``force`` reads every post and renders every feed again (after a change the
    records cannot see); files whose bytes come out the same are still left alone.
    ``record=False`` (a preview as of a future time) leaves the publish ledger alone:
    digests number posts in the order real publishes first saw them.
    """
    started = time.perf_counter()
    out = config.feeds.folder
    feed_key = _fingerprint(config.site, config.feeds, __version__)
    with open_state(config.state) as store, store.transaction():
        files = _source_files(config)
        inputs = _fingerprint(_content_key(config), feed_key, [(f.rel, f.mtime_ns, f.size) for f in files])
        records = store.feeds.records()
        unchanged = _unchanged_since_last_time(store, inputs, now, out, records)
        if unchanged and not force:
            unchanged.seconds = time.perf_counter() - started
            return unchanged
        report = PublishReport()
        if force:
            if problems := store.problems(quick=True):
                raise damaged(store.path, problems[0])
            store.content.forget_all()
        # Planning needs no post's HTML: _write_feeds reads it for the entries it writes,
        # so neither an edit nor a full publish holds every post's body.
        live = collect(config, store, now, report, keep_going=keep_going, files=files, progress=progress, html=False)
        plan = plan_feeds(config, live)
        moved, slugs = _moved_tags(store, live, records)
        live_ids = [p.id for p in live]
        del live  # posts in no feed (and their HTML) need not outlive the plan
        report.warnings += moved + _equal_updated_warnings(plan)
        wanted: set[str] = set()
        jobs: list[FeedJob] = []
        for spec, feed_posts in plan:
            inputs_of_feed = _fingerprint(feed_key, spec, [(p.revision, [t.name for t in p.tags]) for p in feed_posts])
            for fmt in config.feeds.formats:
                rel = spec.path(fmt)
                wanted.add(rel)
                digest = _fingerprint(inputs_of_feed, fmt)
                known = records.get(rel)
                if not force and known and known.digest == digest and _same_stat(out / rel, known):
                    report.unchanged += 1
                else:
                    jobs.append(FeedJob(spec, fmt, tuple(feed_posts), digest))
        # Every new feed is written to a temp file first and renamed once all are written:
        # a feed that cannot be written leaves the old feeds, and the ledger, as they were.
        renames: list[tuple[Path, Path]] = []
        try:
            for job, tmp, written_record in _write_feeds(config, jobs, store.content.html_of, progress):
                rel = job.spec.path(job.fmt)
                if tmp:
                    report.written.append(rel)
                    renames.append((tmp, out / rel))
                else:
                    report.unchanged += 1
                store.feeds.put(rel, written_record)
            for tmp, target in renames:
                _replace(tmp, target)
        finally:
            for tmp, _target in renames:
                if tmp.exists():  # not renamed: this publish failed
                    _remove_feed(out, tmp.relative_to(out).as_posix())
        for rel in sorted(set(records) - wanted):
            _remove_feed(out, rel)
            store.feeds.forget(rel)
            report.removed.append(rel)
        for rel in _strays(out, wanted):
            _remove_feed(out, rel)
            report.removed.append(rel)
        if record:
            numbered = store.published.ids()
            store.published.record((post_id for post_id in live_ids if post_id not in numbered), now)
            if store.meta.get("tag_slugs") != slugs:
                store.meta.set("tag_slugs", slugs)
        said = set() if force else set(_last_publish(store).get("warnings", ()))
        if not report.problems:
            _remember(store, inputs, report)
        report.warnings = [w for w in report.warnings if w not in said]  # each said once, until it changes
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class FeedJob:
    """One feed file to render: which feed, which format, its posts and the digest of its inputs."""

    spec: FeedSpec
    fmt: str
    posts: tuple[Post, ...]
    digest: str


def _write_feeds(
    config: Config, jobs: list[FeedJob], html_of: Callable[[set[str]], dict[str, str]], progress: Progress | None
) -> Iterator[tuple[FeedJob, Path | None, FeedRecord]]:
    """Render each feed and write it to a temp file beside it (None: the file already holds
    these bytes); the record is that of the bytes that will be in place.

    Each post's entry is written once and joined into every feed that lists it; it is
    dropped after its last feed, so a full publish never holds them all. Posts come
    without their HTML: ``html_of`` (sources -> HTML) gives it for the entries built.
    (Also tried: a forked process rendering half the feeds, 1 s quicker for 2,000 feeds but
    60 MiB of copied pages more; and two threads for the file work, no measurable gain.)
    """
    from .feeds import entry_xml, render_feed  # feedgen and lxml: only when a feed is to be written

    uses = Counter(p.id for job in jobs for p in job.posts)
    entries: dict[str, dict[str, bytes]] = {}
    for number, job in enumerate(jobs, 1):
        new = {p.source for p in job.posts if p.id not in entries}
        bodies = html_of(new) if config.feeds.full_content else {}  # summaries need no HTML
        feed_entries = []
        for post in job.posts:
            xml = entries.get(post.id)
            if xml is None:
                full = dataclasses.replace(post, html=bodies[post.source]) if post.source in bodies else post
                xml = entries[post.id] = entry_xml(config, full)
            feed_entries.append(xml[job.fmt])
            uses[post.id] -= 1
            if not uses[post.id]:
                del entries[post.id]
        newest = max(post.updated for post in job.posts)
        data = render_feed(config, job.spec, feed_entries, newest, job.fmt)
        target = config.feeds.folder / job.spec.path(job.fmt)
        tmp = write_temporary(target, data) if _read(target) != data else None
        stat = (tmp or target).stat()  # a rename keeps the time and size
        yield job, tmp, FeedRecord(job.digest, stat.st_mtime_ns, stat.st_size)
        if progress and (number % 50 == 0 or number == len(jobs)):
            progress("writing feeds", number, len(jobs))


def _remember(store: State, inputs: str, report: PublishReport) -> None:
    """Note what this publish saw, so that the next one can tell in one look that nothing changed."""
    summary = {
        "inputs": inputs,
        "next_change": report.next_change.isoformat() if report.next_change else None,
        "newest_live": report.newest_live.isoformat() if report.newest_live else None,
        "counts": [report.posts, report.drafts, report.scheduled],
        "warnings": report.warnings,
    }
    if store.meta.get("last_publish") != (text := json.dumps(summary)):
        store.meta.set("last_publish", text)


def _unchanged_since_last_time(
    store: State, inputs: str, now: datetime, out: Path, records: dict[str, FeedRecord]
) -> PublishReport | None:
    """A report for a publish with nothing to do, or None when anything may have changed.

    Nothing changed when the content files and settings are those of the last clean
    publish, the same posts are live at ``now`` (none has come due, and none of those
    published is dated after ``now``, as after a publish ``--now`` in the future),
    and every feed file is as written.
    """
    last = _last_publish(store)
    if not last:
        return None
    if last.get("inputs") != inputs or "newest_live" not in last:  # changed, or written by an older publisher
        return None
    due = last["next_change"] is not None and datetime.fromisoformat(last["next_change"]) <= now
    ahead = last["newest_live"] is not None and datetime.fromisoformat(last["newest_live"]) > now
    if due or ahead:
        return None
    if not all(_same_stat(out / rel, record) for rel, record in records.items()):
        return None
    posts, drafts, scheduled = last["counts"]
    return PublishReport(posts=posts, drafts=drafts, scheduled=scheduled, unchanged=len(records))  # warnings: said


def _last_publish(store: State) -> dict[str, Any]:
    """What the last clean publish noted (see _remember); empty before the first."""
    text = store.meta.get("last_publish")
    return json.loads(text) if text else {}


def _same_stat(path: Path, record: FeedRecord) -> bool:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    return (stat.st_mtime_ns, stat.st_size) == (record.mtime_ns, record.size)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # missing or unreadable: writing it will tell which
        return None


_OURS = b"<generator>publisher</generator>"  # in the head of every feed publisher writes


def _strays(out: Path, keep: set[str]) -> list[str]:
    """Feed files publisher wrote that no feed of this publish owns: left by a publish that
    stopped before recording them (a crash), with the temp files of one. Files that only
    look like feeds (a user's own) are left alone."""
    found = []
    for folder in ("", "tags/*/", "authors/*/"):
        for fmt in FEED_FORMATS:
            found += [p for p in out.glob(f"{folder}.{fmt}.xml.*.tmp") if p.is_file()]
            found += [
                p
                for p in out.glob(f"{folder}{fmt}.xml")
                if p.relative_to(out).as_posix() not in keep and p.is_file() and _OURS in (_read(p) or b"")
            ]
    return sorted(p.relative_to(out).as_posix() for p in found)


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
