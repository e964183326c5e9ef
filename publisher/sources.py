"""The content folder's files, as a publish first sees them: names and stat, nothing read yet.

Apart from content.py so that a publish with nothing to do never loads the
Markdown, YAML and HTML machinery.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from .config import Config
from .errors import quote_path


class SourceFile(NamedTuple):
    """A post file as found on disk: enough to tell whether it changed since the last publish.

    A named tuple, not a dataclass: every publish makes one per file.
    """

    rel: str  # path below the content folder, with "/" separators
    mtime_ns: int
    size: int


def content_files(folder: Path) -> list[SourceFile]:
    """Every post file under the content folder, sorted; names starting with '.' or '_' are skipped."""
    return sorted(file for files in content_folders(folder).values() for file in files)


def content_folders(folder: Path) -> dict[str, list[SourceFile]]:
    """The post files under the content folder by the folder holding them ("" for the top),
    each folder's sorted.

    One os.scandir per folder, not os.walk and a path join per file: at 100,000 posts this
    listing is most of a publish with nothing to do. Links to folders are not followed.
    """
    found: dict[str, list[SourceFile]] = {}
    pending = [("", os.fspath(folder))]
    while pending:
        prefix, top = pending.pop()
        try:
            listing = os.scandir(top)
        except OSError:  # as os.walk: a folder that cannot be listed is left out
            continue
        files: list[SourceFile] = []
        with listing as entries:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "_")):
                    continue
                if entry.is_dir():
                    if not entry.is_symlink():
                        pending.append((f"{prefix}{name}/", entry.path))
                elif name.endswith(".md"):
                    try:  # a link to nowhere is still listed, so that reading it reports the problem
                        stat = entry.stat()
                    except FileNotFoundError:
                        try:
                            stat = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # deleted while we looked
                    files.append(SourceFile(prefix + name, stat.st_mtime_ns, stat.st_size))
        if files:
            files.sort()
            found[prefix[:-1]] = files
    return found


def display_path(config: Config, source: str) -> str:
    """How messages name a content file: relative to the site folder when it is inside it, quoted
    when its name holds a character that is not printable."""
    path = config.content.folder / source
    return quote_path(path.relative_to(config.root) if path.is_relative_to(config.root) else path)


class NotRegular(Exception):
    """A FIFO, socket or device where a file was expected: reading it could block for ever."""


class TooLarge(Exception):
    """A file over the size it may have; ``size`` is None when it grew while being read."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


def read_regular_file(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of a regular file (or a link to one) of at most ``max_bytes``.

    Never blocks: the file is opened without waiting and refused unless regular, so a FIFO
    named like a post or a feed cannot hang a publish or an import. Raises OSError,
    NotRegular or TooLarge.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(path)
        if info.st_size > max_bytes:
            raise TooLarge(info.st_size)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read
        raise TooLarge(None)
    return data


class UnreadablePost(Exception):
    """A content file that is not read: the message says why."""


def read_post_file(config: Config, rel: str, notes: list[str]) -> bytes:
    """The bytes of a post file, if it is a regular file (or a link to one) no larger than
    content.max_post_mb; raises UnreadablePost saying why not."""
    path = config.content.folder / rel
    limit = config.content.max_post_mb
    try:
        raw = read_regular_file(path, int(limit * 1_000_000))
    except OSError as exc:
        raise UnreadablePost(f"cannot read: {exc.strerror}") from None
    except NotRegular:
        raise UnreadablePost("not a regular file (a FIFO, socket or device); expected a Markdown file") from None
    except TooLarge as exc:
        size = f"{exc.size / 1_000_000:.1f} MB, over" if exc.size else "over"
        raise UnreadablePost(
            f"{size} the limit of {limit:g} MB (content.max_post_mb); split the post or raise the limit"
        ) from None
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(config.root):
        notes.append(f"{display_path(config, rel)}: a link to {quote_path(real)}, outside the site folder; published")
    return raw
