"""Files for their owner's eyes only: subscriber addresses and live unsubscribe tokens."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, created (or narrowed) to mode 0600 whatever the umask: a
    preview holds a reader's address and links that unsubscribe them."""
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, PRIVATE_FILE)  # a file that existed keeps its old mode through os.open
        handle.write(data)
