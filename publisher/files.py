"""Writing files so that a reader sees the old bytes or the new ones, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError, quote_path


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


def replace(tmp: Path, path: Path) -> None:
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
    replace(write_temporary(path, data), path)


def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # missing or unreadable: writing it will tell which
        return None
