"""Feed files that no feed of this publish owns: those a publish that stopped before recording
them left behind (a crash), with its temp files; found by what only publisher writes in them,
so a user's own files in the output folder are never touched."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from .config import Config
from .files import read_or_none
from .formats import FORMATS


def ownership_marks(config: Config) -> tuple[bytes, ...]:
    """What only a feed file publisher wrote for this site holds: an XML feed's generator, and
    (JSON Feed has no generator) a JSON Feed's feed_url under this site's feeds URL."""
    feeds_url = json.dumps(config.site.url(config.feeds.url_path), ensure_ascii=False)[:-1]  # no closing quote
    return b"<generator>publisher</generator>", f'"feed_url": {feeds_url}'.encode()


_FEED_KINDS = ("tags", "authors")  # the folders holding a folder of feeds each


def _feed_folders(out: Path) -> list[str]:
    """Where feeds are written: the output folder, and each tag's and author's folder in it."""
    folders = [""]
    for kind in _FEED_KINDS:
        with contextlib.suppress(OSError), os.scandir(out / kind) as entries:
            folders += [f"{kind}/{e.name}" for e in entries if not e.name.startswith(".") and e.is_dir()]
    return folders


def find_strays(out: Path, keep: set[str], marks: tuple[bytes, ...], folders: Iterable[str] | None = None) -> list[str]:
    """Feed files publisher wrote that no feed of this publish owns: left by a publish that
    stopped before recording them (a crash), with the temp files of one. Files that only
    look like feeds (a user's own) are left alone. ``folders``: those to search (relative to
    ``out``), else every feed folder. One listing per folder: at 10,000 tags, a glob per
    file name walked every tag folder eight times."""
    names = {fmt.file_name for fmt in FORMATS.values()}
    temps = re.compile("|".join(rf"\.{re.escape(name)}\..*\.tmp" for name in sorted(names)), re.S)
    found = []
    for folder in _feed_folders(out) if folders is None else folders:
        found += _leftovers(out, folder, temps, names.__contains__, keep, marks)
        archive = f"{folder}/archive" if folder else "archive"
        found += _leftovers(out, archive, _ARCHIVE_TEMP, _ARCHIVE_PAGE.fullmatch, keep, marks)
    return sorted(found)


def _leftovers(
    out: Path,
    folder: str,
    temp: re.Pattern[str],
    feed: Callable[[str], object],
    keep: set[str],
    marks: tuple[bytes, ...],
) -> list[str]:
    """In one folder: the temp files (names ``temp`` matches) and the feed files of ours (names
    ``feed`` accepts) that ``keep`` does not hold."""
    prefix = f"{folder}/" if folder else ""
    return [
        prefix + entry.name
        for entry in _listing(out / folder)
        if (temp.fullmatch(entry.name) and entry.is_file())
        or (feed(entry.name) and _stray(out, prefix + entry.name, entry, keep, marks))
    ]


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    """A folder's entries; none when it is missing or not a folder."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


_ARCHIVE_PAGE = re.compile(r"[1-9][0-9]*\.[a-z.]+")
_ARCHIVE_TEMP = re.compile(r"\..*\.tmp", re.S)


def _stray(out: Path, rel: str, entry: os.DirEntry[str], keep: set[str], marks: tuple[bytes, ...]) -> bool:
    if rel in keep or not entry.is_file():
        return False
    data = read_or_none(out / rel) or b""
    return any(mark in data for mark in marks)


def remove_feed(out: Path, rel: str) -> None:
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
