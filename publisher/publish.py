"""scan -> diff against the ledger -> render the feeds whose inputs changed -> write atomically.

A feed's fingerprint covers everything that goes into its bytes (feed settings and
each entry), so a publish with nothing changed renders nothing and writes
nothing, and the same content always gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import __version__
from .config import Config
from .edits import publish_edits
from .errors import ConfigError, ContentError, ContentProblem, quote_path
from .feeds import (
    equal_updated_warnings,
    feeds_as_written,
    fingerprint,
    plan_feeds,
    remember_members,
    update_feeds,
)
from .lastpublish import (
    PublishReport,
    edited_report,
    forget_folders,
    last_publish,
    may_edit_in_place,
    remember,
    unchanged_since,
    unsaid,
)
from .model import Post
from .opml import FILE_NAME as OPML_FILE
from .opml import update_opml
from .reading import Progress, Workers, read_changed
from .sources import FolderFiles, SourceFile, content_folders, display_path, sorted_files
from .state import POST_FORMAT, CachedFile, FeedRecord, State, open_state
from .state.sqlite import damaged
from .tagindex import summarise
from .tagnames import Renames, moved_tags, rename_tags, renames_json, resolve_tags, tag_renames
from .websub import TIMEOUT, ping_hubs


def _content_key(config: Config) -> str:
    return fingerprint(config.site, config.content, config.tags, __version__, POST_FORMAT)


def _utf8(name: str) -> bool:
    """Whether a name read from the disk is UTF-8 (os.walk keeps other bytes as surrogates)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def scan(
    config: Config,
    store: State,
    files: list[SourceFile],
    progress: Progress | None = None,
    *,
    html: bool = True,
    workers: Workers | None = None,
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
        for f, sha, result, said in read_changed(config, todo, stale, progress, workers):
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


def _source_folders(config: Config) -> dict[str, FolderFiles]:
    """The content files by folder (sources.content_folders)."""
    folder = config.content.folder
    if not folder.is_dir():
        raise ConfigError(
            f"config: content.folder: {quote_path(folder)} is not a folder; expected the folder holding the posts"
        )
    return content_folders(folder)


def _source_files(config: Config) -> list[SourceFile]:
    return sorted_files(_source_folders(config))


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
    workers: Workers | None = None,
) -> tuple[list[Post], Renames]:
    """The posts live at ``now``, tags resolved (and the tag names resolved to another tag);
    problems and counts go into the report.

    ``html=False``: posts unchanged since the last publish come without their HTML.
    """
    listed = files if files is not None else _source_files(config)
    results, notes = scan(config, store, listed, progress, html=html, workers=workers)
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
    renamed, merged = tag_renames(live, config.tags)
    report.warnings = notes + merged
    report.lasting = list(merged)
    report.posts = len(live)
    return rename_tags(live, renamed), renamed


def live_posts(config: Config, now: datetime, *, keep_going: bool = False) -> list[Post]:
    """What a publish at ``now`` would put in the feeds, newest first; ``keep_going`` skips broken files."""
    with open_state(config.state) as store, store.transaction():
        return sorted(collect(config, store, now, PublishReport(), keep_going=keep_going)[0], key=Post.sort_key)


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
    hub_timeout: float = TIMEOUT,
) -> PublishReport:
    """Bring the output folder in line with the content, then tell the WebSub hubs which feeds
    changed (this time, or before, to a hub that was down); raises ContentError unless keep_going.

    ``force`` reads every post and renders every feed again (after a change the
    records cannot see); files whose bytes come out the same are still left alone.
    ``record=False`` (a preview as of a future time) leaves the publish ledger alone:
    digests number posts in the order real publishes first saw them; and pings no hub.
    """
    report = _publish(config, now, keep_going=keep_going, force=force, record=record, progress=progress)
    if record:
        report.warnings += ping_hubs(config, hub_timeout)
    return report


def _publish(
    config: Config, now: datetime, *, keep_going: bool, force: bool, record: bool, progress: Progress | None
) -> PublishReport:
    started = time.perf_counter()
    feed_key = fingerprint(config.site, config.feeds, config.websub, __version__)
    with open_state(config.state) as store, store.transaction(), Workers() as workers:
        by_folder = _source_folders(config)
        folders = {folder: files.digest() for folder, files in by_folder.items()}
        inputs = (fingerprint(_content_key(config), feed_key, sorted(folders.items())), folders)
        last = last_publish(store)
        written = store.feeds.stats()
        as_written = feeds_as_written(config.feeds.folder, written)
        report = unchanged_since(last, inputs[0], now, len(written)) if as_written and not force else None
        records = store.feeds.records() if report is None else {}  # the fingerprints: to plan with
        notes: list[str] = []
        if report is None and not force and as_written and _may_edit_in_place(config, store, last, feed_key, now):
            changed = {f for f in folders if folders[f] != last["folders"].get(f)} | (
                set(last["folders"]) - set(folders)
            )
            edits = publish_edits(config, store, by_folder, changed, records, feed_key, progress)
            notes = edits.notes if edits else []
            if edits and edits.changes:
                report = edited_report(last, len(records), notes, edits.changes)
                _queue_pings(config, store, edits.changes.topics, record)
                remember(store, inputs, report, feed_key, record)
                report.warnings = unsaid(report.warnings, last)
        if report is None:
            report = PublishReport()
            plan = _Plan(sorted_files(by_folder), records, feed_key, notes, keep_going, force, record)
            _plan_and_write(config, store, now, report, plan, progress, workers)
            if not report.problems:
                remember(store, inputs, report, feed_key, record)
            else:
                forget_folders(store, last)
            report.warnings = unsaid(report.warnings, {} if force else last)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class _Plan:
    """What the whole planning of a publish starts from."""

    files: list[SourceFile]
    records: dict[str, FeedRecord]
    feed_key: str
    notes: list[str]  # of the files an attempt to write edits in place read
    keep_going: bool
    force: bool
    record: bool


def _plan_and_write(
    config: Config,
    store: State,
    now: datetime,
    report: PublishReport,
    start: _Plan,
    progress: Progress | None,
    workers: Workers,
) -> None:
    """The whole planning: every live post, every feed document; the report is filled in."""
    if start.force:
        if problems := store.problems(quick=True):
            raise damaged(store.path, problems[0])
        store.content.forget_all()
    # Planning needs no post's HTML: _write_feeds reads it for the entries it writes,
    # so neither an edit nor a full publish holds every post's body.
    live, renamed = collect(
        config,
        store,
        now,
        report,
        keep_going=start.keep_going,
        files=start.files,
        progress=progress,
        html=False,
        workers=workers,
    )
    plan = plan_feeds(config, live)
    store.web_tags.put(summarise(live))  # the web pages read these, never the posts
    moved, slugs = moved_tags(store.meta.get("tag_slugs"), live, start.records)
    live_ids = [p.id for p in live]
    del live  # posts in no feed (and their HTML) need not outlive the plan
    equal = equal_updated_warnings(plan)
    report.lasting += equal
    report.warnings = start.notes + report.warnings + moved + equal
    records = dict(start.records)
    opml_record = records.pop(OPML_FILE, None)  # not a feed: update_feeds would remove it
    changes = update_feeds(
        config, store, plan, records, start.feed_key, force=start.force, progress=progress, workers=workers
    )
    remember_members(store, plan, force=start.force)
    if store.meta.get("tag_renames") != (text := renames_json(renamed)):
        store.meta.set("tag_renames", text)
    report.written, report.unchanged, report.removed = changes.written, changes.unchanged, changes.removed
    opml = update_opml(config, store, (spec for spec, _posts in plan), opml_record)
    report.written += opml.written
    report.removed += opml.removed
    _queue_pings(config, store, changes.topics, start.record)
    if start.record:
        numbered = store.published.ids()
        store.published.record((post_id for post_id in live_ids if post_id not in numbered), now)
        if store.meta.get("tag_slugs") != slugs:
            store.meta.set("tag_slugs", slugs)


def _queue_pings(config: Config, store: State, topics: list[str], record: bool) -> None:
    if record:
        store.websub.queue((hub, topic) for hub in config.websub.hubs for topic in topics)


def _may_edit_in_place(config: Config, store: State, last: dict[str, Any], feed_key: str, now: datetime) -> bool:
    """lastpublish.may_edit_in_place, under the same content settings (the index is theirs)."""
    return may_edit_in_place(last, feed_key, now) and store.meta.get("content_fingerprint") == _content_key(config)
