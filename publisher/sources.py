"""The content folder's files, as a publish first sees them: names and stat, nothing read yet.

Apart from content.py so that a publish with nothing to do never loads the
Markdown, YAML and HTML machinery.
"""

from __future__ import annotations

import hashlib
import os
import stat
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .config import Config
from .errors import quote_path


class SourceFile(NamedTuple):
    """A post file as found on disk: enough to tell whether it changed since the last publish.

    A named tuple, not a dataclass: a publish that reads files makes one per file.
    """

    rel: str  # path below the content folder, with "/" separators
    mtime_ns: int
    size: int


@dataclass(frozen=True, slots=True)
class FolderFiles:
    """The post files of one folder, sorted by name, as parallel lists: at 100,000 posts, a
    SourceFile each cost a publish with nothing to do 0.06 s more, to make and to hash."""

    prefix: str  # the folder below the content folder with a final "/", "" for the top
    names: list[str]
    mtimes_ns: list[int]
    sizes: list[int]

    def files(self) -> list[SourceFile]:
        return [
            SourceFile(self.prefix + n, t, s) for n, t, s in zip(self.names, self.mtimes_ns, self.sizes, strict=True)
        ]

    def digest(self) -> str:
        """A hash of the names and stats: what the last publish noted of the folder, to tell in
        one look whether any of its files changed."""
        digest = hashlib.sha256(b"%d\0%b%b" % (len(self.names), _packed(self.mtimes_ns), _packed(self.sizes)))
        digest.update("\0".join(self.names).encode(errors="surrogateescape"))  # not UTF-8: kept as bytes
        return digest.hexdigest()


def _packed(values: list[int]) -> bytes:
    """The numbers as 64-bit machine words, or as text when one does not fit (a time past 2262);
    either way unambiguous once their count is known."""
    try:
        return b"q" + array("q", values).tobytes()
    except OverflowError:
        return b"t" + " ".join(map(str, values)).encode() + b"\0"


def content_files(folder: Path) -> list[SourceFile]:
    """Every post file under the content folder, sorted; names starting with '.' or '_' are skipped."""
    return sorted_files(content_folders(folder))


def sorted_files(by_folder: dict[str, FolderFiles]) -> list[SourceFile]:
    """Every file of these folders, sorted by its path."""
    return sorted(file for files in by_folder.values() for file in files.files())


def content_folders(folder: Path) -> dict[str, FolderFiles]:
    """The post files under the content folder by the folder holding them ("" for the top).

    One os.scandir per folder, not os.walk and a path join per file: at 100,000 posts this
    listing is most of a publish with nothing to do. Links to folders are not followed.
    Each folder is opened once and its files looked up from it (_stat_files).
    """
    found: dict[str, FolderFiles] = {}
    pending = [("", os.fspath(folder))]
    while pending:
        prefix, top = pending.pop()
        try:
            fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # as os.walk: a folder that cannot be listed is left out
            continue
        try:
            files = _stat_files(fd, prefix, _post_names(fd, prefix, top, pending))
        finally:
            os.close(fd)
        if files.names:
            found[prefix[:-1]] = files
    return found


def _post_names(fd: int, prefix: str, top: str, pending: list[tuple[str, str]]) -> list[str]:
    """The sorted names of the post files in the open folder ``fd``; its folders go to ``pending``."""
    names: list[str] = []
    try:
        listing = os.scandir(fd)
    except OSError:
        return names
    with listing as entries:
        for entry in entries:
            name = entry.name
            if name.startswith((".", "_")):
                continue
            if entry.is_dir():
                if not entry.is_symlink():
                    pending.append((f"{prefix}{name}/", os.path.join(top, name)))
            elif name.endswith(".md"):
                names.append(name)
    names.sort()
    return names


def _stat_files(fd: int, prefix: str, names: list[str]) -> FolderFiles:
    """Each name's stat, looked up from the open folder: one path component per file, not the
    whole path (at 100,000 posts, 0.23 s instead of 0.32)."""
    files = FolderFiles(prefix, [], [], [])
    for name in names:
        try:  # a link to nowhere is still listed, so that reading it reports the problem
            info = os.stat(name, dir_fd=fd)
        except FileNotFoundError:
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted while we looked
        files.names.append(name)
        files.mtimes_ns.append(info.st_mtime_ns)
        files.sizes.append(info.st_size)
    return files


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
    fd = _open_without_waiting(path)
    try:
        return _read_regular(fd, path, max_bytes)
    finally:
        os.close(fd)


def _open_without_waiting(path: Path | str) -> int:
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))


_CHUNK = 1 << 16


def _read_regular(fd: int, path: Path | str, max_bytes: int) -> bytes:
    """The bytes of an open file, as read_regular_file says. os.read asked for the size fstat
    gave, not a buffered read of max_bytes, which allocates max_bytes for every file (at
    5 MB, a third of the time to read a 3 KB post)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegular(path)
    if info.st_size > max_bytes:
        raise TooLarge(info.st_size)
    parts = [os.read(fd, info.st_size + 1)]
    size = len(parts[0])
    while size <= max_bytes and (more := os.read(fd, min(max_bytes + 1 - size, _CHUNK))):
        parts.append(more)
        size += len(more)
    if size > max_bytes:  # it grew while we read
        raise TooLarge(None)
    return b"".join(parts)


class UnreadablePost(Exception):
    """A content file that is not read: the message says why."""


def read_post_file(config: Config, rel: str, notes: list[str]) -> bytes:
    """The bytes of a post file, if it is a regular file (or a link to one) no larger than
    content.max_post_mb; raises UnreadablePost saying why not. A file that is, or lies in, a
    link to outside the site folder is read, with a note saying so."""
    path = f"{os.fspath(config.content.folder)}/{rel}"
    limit = config.content.max_post_mb
    try:
        fd = _open_without_waiting(path)
        try:
            raw = _read_regular(fd, path, int(limit * 1_000_000))
            real = _real_path(fd, path)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UnreadablePost(f"cannot read: {exc.strerror}") from None
    except NotRegular:
        raise UnreadablePost("not a regular file (a FIFO, socket or device); expected a Markdown file") from None
    except TooLarge as exc:
        size = f"{exc.size / 1_000_000:.1f} MB, over" if exc.size else "over"
        raise UnreadablePost(
            f"{size} the limit of {limit:g} MB (content.max_post_mb); split the post or raise the limit"
        ) from None
    if not real.startswith(os.path.join(os.fspath(config.root), "")):
        notes.append(
            f"{display_path(config, rel)}: a link to {quote_path(Path(real))}, outside the site folder; published"
        )
    return raw


_OPEN_FILES = "/proc/self/fd"  # Linux: a link per descriptor to the file it is open on


def _real_path(fd: int, path: str) -> str:
    """The real path of an open file: on Linux the kernel's name for the descriptor, one
    readlink instead of realpath's lstat of every folder on the way (a quarter of the time
    to read a post)."""
    try:
        return os.readlink(f"{_OPEN_FILES}/{fd}")
    except OSError:  # no /proc: not Linux, or not mounted
        return os.path.realpath(path)
