"""Edits that leave every post where it was: only the feed documents listing the edited posts
are rendered again, and only their posts are read back from the index.

A post's place in the feeds (which feeds, which page, in what order) follows from its id,
permalink, dates, tags, authors and draft state, and the feed titles from the site's tag
names. When an edit keeps all of those, no feed gains or loses a post, so the documents to
write are those the last planning listed the post in (state/members.py). Anything else (a
new, deleted or broken file, a moved post) goes to the full planning in publish.py, which
then finds the files read here in the index and does not read them again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .errors import ContentProblem
from .feeds import FeedChanges, Plan, listed_docs, update_feeds
from .model import FeedKind, Post
from .reading import Progress, read_changed
from .sources import FolderFiles, SourceFile
from .state import CachedFile, FeedRecord, State
from .tagnames import rename_tags, renames_from_json

_KIND_ORDER = {FeedKind.SITE: 0, FeedKind.TAG: 1, FeedKind.AUTHOR: 2}  # plan_feeds' order


@dataclass(frozen=True)
class Edits:
    """What reading the changed files gave: their notes, and the feed changes when no post
    moved (None: the whole site must be planned)."""

    notes: list[str]
    changes: FeedChanges | None


def publish_edits(
    config: Config,
    store: State,
    by_folder: dict[str, FolderFiles],
    folders: set[str],
    records: dict[str, FeedRecord],
    feed_key: str,
    progress: Progress | None = None,
) -> Edits | None:
    """Read the files changed since the last publish (``by_folder``: the content files by folder;
    ``folders``: those whose stats changed) and, if every one keeps its posts' places,
    write the feed documents listing them; None when files were added or removed, or nothing
    changed in place, or the index holds a broken file (the full planning decides)."""
    changed = _changed_in_place(store, by_folder, folders)
    if not changed:
        return None
    stale = store.content.files(f.rel for f in changed)
    rows: list[tuple[str, CachedFile]] = []
    restat: list[tuple[str, int, int]] = []
    notes: list[str] = []
    moved = False
    for f, sha, result, said in read_changed(config, changed, stale, progress):
        notes += said
        if result is None:  # same bytes, new stat (a checkout, a touch)
            restat.append((f.rel, f.mtime_ns, f.size))
            continue
        rows.append((f.rel, CachedFile(f.mtime_ns, f.size, sha, result)))
        moved = moved or not _same_place(stale[f.rel].result, result)
    store.content.put(rows)
    store.content.restat(restat)
    if moved:
        return Edits(notes, None)
    renamed = renames_from_json(store.meta.get("tag_renames") or "{}")
    edited = rename_tags([c.result for _rel, c in rows if isinstance(c.result, Post)], renamed)
    docs = sorted(
        listed_docs(store, {post.source for post in edited}),
        key=lambda doc: (_KIND_ORDER[doc[0].kind], doc[0].slug, doc[0].page),
    )
    needed = {s for _spec, listed in docs for s in listed}
    posts = {rel: c.result for rel, c in store.content.files(needed).items()}
    if len(posts) != len(needed):  # the lists and the index disagree: plan the whole site
        return Edits(notes, None)
    plan: Plan = [
        (spec, rename_tags(sorted((p for s in listed if isinstance(p := posts[s], Post)), key=Post.sort_key), renamed))
        for spec, listed in docs
    ]
    changes = update_feeds(config, store, plan, records, feed_key, progress=progress, whole=False)
    store.web_tags.retitle(edited)
    return Edits(notes, changes)


def _changed_in_place(store: State, by_folder: dict[str, FolderFiles], folders: set[str]) -> list[SourceFile] | None:
    """The files of these folders whose stat is not the indexed one; None if a file was added or
    removed or the index holds a problem."""
    if store.content.has_problems():
        return None
    indexed = {rel: stat for rel, stat in store.content.stats(folders).items() if rel.rpartition("/")[0] in folders}
    current = [f for folder in folders if folder in by_folder for f in by_folder[folder].files()]
    if len(indexed) != len(current):
        return None
    changed = []
    for f in current:
        known = indexed.get(f.rel)
        if known is None:
            return None
        if known != (f.mtime_ns, f.size):
            changed.append(f)
    return changed


def _place(post: Post | ContentProblem) -> tuple[object, ...] | None:
    """What decides the feeds and pages a post is in, and its order there."""
    if isinstance(post, ContentProblem):
        return None
    return (
        post.id,
        post.slug,
        post.url,
        post.published.isoformat(),
        post.updated.isoformat(),
        post.authors,
        post.tags,
        post.draft,
    )


def _same_place(old: Post | ContentProblem, new: Post | ContentProblem) -> bool:
    return _place(new) is not None and _place(old) == _place(new)
