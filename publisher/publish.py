"""scan -> diff against the ledger -> render the feeds whose inputs changed -> write atomically.

A feed's fingerprint covers everything that goes into its bytes (feed settings and
each entry), so a publish with nothing changed renders nothing and writes
nothing, and the same content always gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import __version__
from .config import Config
from .edits import publish_edits
from .errors import ConfigError, ContentError, ContentProblem, quote_path
from .feeds import (
    FeedChanges,
    equal_updated_warnings,
    feeds_as_written,
    fingerprint,
    plan_feeds,
    remember_members,
    update_feeds,
)
from .model import Post, slugify
from .opml import FILE_NAME as OPML_FILE
from .opml import update_opml
from .reading import Progress, Workers, read_changed
from .sources import SourceFile, content_folders, display_path
from .state import POST_FORMAT, CachedFile, FeedRecord, State, open_state
from .state.sqlite import damaged
from .tagindex import summarise
from .tagnames import Renames, rename_tags, renames_json, resolve_tags, tag_renames
from .websub import TIMEOUT, ping_hubs


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
    lasting: list[str] = field(default_factory=list)  # warnings that hold while no post moves


def _content_key(config: Config) -> str:
    return fingerprint(config.site, config.content, config.tags, __version__, POST_FORMAT)


def _folder_digests(by_folder: dict[str, list[SourceFile]]) -> dict[str, str]:
    """A hash of the names and stats of each folder's files (joined text: cheaper than a repr at
    100,000 files). An edit then compares with the index only the folders whose hash changed."""
    return {
        folder: hashlib.sha256(
            "\n".join([f"{rel}\0{mtime}\0{size}" for rel, mtime, size in files]).encode()
        ).hexdigest()
        for folder, files in by_folder.items()
    }


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


def _source_folders(config: Config) -> dict[str, list[SourceFile]]:
    """The content files by folder (sources.content_folders)."""
    folder = config.content.folder
    if not folder.is_dir():
        raise ConfigError(
            f"config: content.folder: {quote_path(folder)} is not a folder; expected the folder holding the posts"
        )
    return content_folders(folder)


def _source_files(config: Config) -> list[SourceFile]:
    return _sorted_files(_source_folders(config))


def _sorted_files(by_folder: dict[str, list[SourceFile]]) -> list[SourceFile]:
    return sorted(file for files in by_folder.values() for file in files)


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
    out = config.feeds.folder
    feed_key = fingerprint(config.site, config.feeds, config.websub, __version__)
    with open_state(config.state) as store, store.transaction(), Workers() as workers:
        by_folder = _source_folders(config)
        files = _sorted_files(by_folder)
        folders = _folder_digests(by_folder)
        inputs = fingerprint(_content_key(config), feed_key, sorted(folders.items()))
        records = store.feeds.records()
        last = _last_publish(store)
        as_written = feeds_as_written(out, records)
        unchanged = _unchanged_since_last_time(last, inputs, now, len(records)) if as_written else None
        if unchanged and not force:
            unchanged.seconds = time.perf_counter() - started
            return unchanged
        notes: list[str] = []
        if not force and as_written and _may_edit_in_place(config, store, last, feed_key, now):
            changed = {f for f in folders if folders[f] != last["folders"].get(f)} | (
                set(last["folders"]) - set(folders)
            )
            edits = publish_edits(config, store, by_folder, changed, records, feed_key, progress)
            if edits and edits.changes:
                report = _edited(
                    store, (inputs, folders), last, records, edits.notes, edits.changes, config, record=record
                )
                report.seconds = time.perf_counter() - started
                return report
            notes = edits.notes if edits else []
        report = PublishReport()
        if force:
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
            keep_going=keep_going,
            files=files,
            progress=progress,
            html=False,
            workers=workers,
        )
        plan = plan_feeds(config, live)
        store.web_tags.put(summarise(live))  # the web pages read these, never the posts
        moved, slugs = _moved_tags(store, live, records)
        live_ids = [p.id for p in live]
        del live  # posts in no feed (and their HTML) need not outlive the plan
        equal = equal_updated_warnings(plan)
        report.lasting += equal
        report.warnings = notes + report.warnings + moved + equal
        opml_record = records.pop(OPML_FILE, None)  # not a feed: update_feeds would remove it
        changes = update_feeds(config, store, plan, records, feed_key, force=force, progress=progress, workers=workers)
        remember_members(store, plan, force=force)
        if store.meta.get("tag_renames") != (text := renames_json(renamed)):
            store.meta.set("tag_renames", text)
        report.written, report.unchanged, report.removed = changes.written, changes.unchanged, changes.removed
        opml = update_opml(config, store, (spec for spec, _posts in plan), opml_record)
        report.written += opml.written
        report.removed += opml.removed
        if record:
            store.websub.queue((hub, topic) for hub in config.websub.hubs for topic in changes.topics)
            numbered = store.published.ids()
            store.published.record((post_id for post_id in live_ids if post_id not in numbered), now)
            if store.meta.get("tag_slugs") != slugs:
                store.meta.set("tag_slugs", slugs)
        if not report.problems:
            _remember(store, (inputs, folders), report, feed_key, record)
        elif "folders" in last:  # the index no longer is as the last clean publish saw the folders
            store.meta.set("last_publish", json.dumps({k: v for k, v in last.items() if k != "folders"}))
        report.warnings = _unsaid(report.warnings, set() if force else last)
    report.seconds = time.perf_counter() - started
    return report


def _unsaid(warnings: list[str], last: dict[str, Any] | set[str]) -> list[str]:
    """The warnings the last clean publish did not give: each is said once, until it changes."""
    said = set(last.get("warnings", ())) if isinstance(last, dict) else last
    return [w for w in warnings if w not in said]


def _may_edit_in_place(config: Config, store: State, last: dict[str, Any], feed_key: str, now: datetime) -> bool:
    """Whether an edit may re-render only the feeds listing it (edits.py): the last clean
    publish was recorded under the same settings and the same posts are live."""
    return (
        last.get("feed_key") == feed_key
        and last.get("recorded") is True
        and "folders" in last
        and store.meta.get("content_fingerprint") == _content_key(config)
        and _same_posts_live(last, now)
    )


def _edited(
    store: State,
    inputs: tuple[str, dict[str, str]],
    last: dict[str, Any],
    records: dict[str, FeedRecord],
    notes: list[str],
    changes: FeedChanges,
    config: Config,
    *,
    record: bool,
) -> PublishReport:
    """The report of a publish whose edits moved no post: counts, dates and lasting warnings
    are the last publish's."""
    posts, drafts, scheduled = last["counts"]
    report = PublishReport(posts=posts, drafts=drafts, scheduled=scheduled, written=changes.written)
    report.unchanged = len(records) - len(changes.written)
    report.next_change = _when(last["next_change"])
    report.newest_live = _when(last["newest_live"])
    report.lasting = list(last["lasting"])
    report.warnings = notes + report.lasting
    if record:
        store.websub.queue((hub, topic) for hub in config.websub.hubs for topic in changes.topics)
    _remember(store, inputs, report, last["feed_key"], record)
    report.warnings = _unsaid(report.warnings, last)
    return report


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _remember(
    store: State, inputs: tuple[str, dict[str, str]], report: PublishReport, feed_key: str, record: bool
) -> None:
    """Note what this publish saw, so that the next one can tell in one look that nothing changed
    (and, with the feed settings and whether it was recorded, whether an edit may be written in place)."""
    summary = {
        "inputs": inputs[0],
        "folders": inputs[1],
        "next_change": report.next_change.isoformat() if report.next_change else None,
        "newest_live": report.newest_live.isoformat() if report.newest_live else None,
        "counts": [report.posts, report.drafts, report.scheduled],
        "warnings": report.warnings,
        "lasting": report.lasting,
        "feed_key": feed_key,
        "recorded": record,
    }
    if store.meta.get("last_publish") != (text := json.dumps(summary)):
        store.meta.set("last_publish", text)


def _unchanged_since_last_time(last: dict[str, Any], inputs: str, now: datetime, feeds: int) -> PublishReport | None:
    """A report for a publish with nothing to do, or None when anything may have changed.

    Nothing changed when the content files and settings are those of the last clean
    publish, the same posts are live at ``now`` (none has come due, and none of those
    published is dated after ``now``, as after a publish ``--now`` in the future),
    and every feed file is as written.
    """
    if last.get("inputs") != inputs or not _same_posts_live(last, now):
        return None
    posts, drafts, scheduled = last["counts"]
    return PublishReport(posts=posts, drafts=drafts, scheduled=scheduled, unchanged=feeds)  # warnings: said


def _same_posts_live(last: dict[str, Any], now: datetime) -> bool:
    """Whether the posts live at ``now`` are those of the last clean publish: none has come
    due, and none of those published is dated after ``now`` (as after a preview)."""
    if "newest_live" not in last:  # no publish yet, or one by an older publisher
        return False
    due = last["next_change"] is not None and datetime.fromisoformat(last["next_change"]) <= now
    ahead = last["newest_live"] is not None and datetime.fromisoformat(last["newest_live"]) > now
    return not (due or ahead)


def _last_publish(store: State) -> dict[str, Any]:
    """What the last clean publish noted (see _remember); empty before the first."""
    text = store.meta.get("last_publish")
    return json.loads(text) if text else {}
