"""The content folder's files, as a publish first sees them: names and stat, nothing read yet.

Apart from content.py so that a publish with nothing to do never loads the
Markdown, YAML and HTML machinery.
"""

from __future__ import annotations

import os
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
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        prefix = os.path.relpath(top, folder).replace(os.sep, "/")
        for name in names:
            if name.endswith(".md") and not name.startswith((".", "_")):
                try:  # a link to nowhere is still listed, so that reading it reports the problem
                    stat = os.stat(path := os.path.join(top, name))
                except FileNotFoundError:
                    try:
                        stat = os.lstat(path)
                    except FileNotFoundError:
                        continue  # deleted while we looked
                rel = name if prefix == "." else f"{prefix}/{name}"
                found.append(SourceFile(rel, stat.st_mtime_ns, stat.st_size))
    found.sort(key=lambda f: f.rel)
    return found


def display_path(config: Config, source: str) -> str:
    """How messages name a content file: relative to the site folder when it is inside it, quoted
    when its name holds a character that is not printable."""
    path = config.content.folder / source
    return quote_path(path.relative_to(config.root) if path.is_relative_to(config.root) else path)
