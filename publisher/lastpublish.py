"""What the last clean publish noted, so the next one can tell in one look that nothing
changed, or that an edit moved no post (edits.py); and the report of a publish."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import ContentProblem
from .feeds import FeedChanges
from .state import State

Inputs = tuple[str, dict[str, str]]  # the fingerprint of the content and settings, and each folder's stat hash


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


def last_publish(store: State) -> dict[str, Any]:
    """What the last clean publish noted (see remember); empty before the first."""
    text = store.meta.get("last_publish")
    return json.loads(text) if text else {}


def remember(store: State, inputs: Inputs, report: PublishReport, feed_key: str, record: bool) -> None:
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


def forget_folders(store: State, last: dict[str, Any]) -> None:
    """After a publish with problems: the index no longer is as the last clean publish saw the
    folders, so no edit may be written in place until a clean publish notes them again."""
    if "folders" in last:
        store.meta.set("last_publish", json.dumps({k: v for k, v in last.items() if k != "folders"}))


def unsaid(warnings: list[str], last: dict[str, Any]) -> list[str]:
    """The warnings the last clean publish did not give: each is said once, until it changes."""
    said = set(last.get("warnings", ()))
    return [w for w in warnings if w not in said]


def unchanged_since(last: dict[str, Any], inputs: str, now: datetime, feeds: int) -> PublishReport | None:
    """A report for a publish with nothing to do, or None when anything may have changed.

    Nothing changed when the content files and settings are those of the last clean
    publish and the same posts are live at ``now`` (the caller checks the feed files).
    """
    if last.get("inputs") != inputs or not same_posts_live(last, now):
        return None
    posts, drafts, scheduled = last["counts"]
    return PublishReport(posts=posts, drafts=drafts, scheduled=scheduled, unchanged=feeds)  # warnings: said


def same_posts_live(last: dict[str, Any], now: datetime) -> bool:
    """Whether the posts live at ``now`` are those of the last clean publish: none has come
    due, and none of those published is dated after ``now`` (as after a preview)."""
    if "newest_live" not in last:  # no publish yet, or one by an older publisher
        return False
    due = last["next_change"] is not None and datetime.fromisoformat(last["next_change"]) <= now
    ahead = last["newest_live"] is not None and datetime.fromisoformat(last["newest_live"]) > now
    return not (due or ahead)


def may_edit_in_place(last: dict[str, Any], feed_key: str, now: datetime) -> bool:
    """Whether an edit may re-render only the feeds listing it (edits.py): the last clean
    publish was recorded under the same feed settings, with each folder's hash, and the
    same posts are live (the caller checks the content settings and the feed files)."""
    return (
        last.get("feed_key") == feed_key
        and last.get("recorded") is True
        and "folders" in last
        and same_posts_live(last, now)
    )


def edited_report(last: dict[str, Any], feeds: int, notes: list[str], changes: FeedChanges) -> PublishReport:
    """The report of a publish whose edits moved no post: counts, dates and lasting warnings
    are the last publish's."""
    posts, drafts, scheduled = last["counts"]
    report = PublishReport(posts=posts, drafts=drafts, scheduled=scheduled, written=changes.written)
    report.unchanged = feeds - len(changes.written)
    report.next_change = _when(last["next_change"])
    report.newest_live = _when(last["newest_live"])
    report.lasting = list(last["lasting"])
    report.warnings = notes + report.lasting
    return report


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
