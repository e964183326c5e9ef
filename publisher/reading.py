"""Reading the changed content files into posts: one by one, or on every core for a large
batch, never blocking on a FIFO or a device, and stopping cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import repeat
from types import TracebackType
from typing import TYPE_CHECKING

from .config import Config
from .errors import ContentProblem
from .model import Post
from .sources import SourceFile, UnreadablePost, display_path, read_post_file
from .state import CachedFile

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

Progress = Callable[[str, int, int], None]
PARALLEL_THRESHOLD = 256  # changed files above which parsing is spread over every core


class Workers:
    """A publish's worker processes: started when first needed, then kept, so the processes
    that parsed the posts of a large publish also render its feeds. Forked while the parent
    is still small (before it holds the plan), they stay small."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor  # only a large publish pays for loading it

            # The parsers, feedgen and lxml loaded once here, before the fork, instead of in each
            # worker: their pages are shared, and no worker starts with 100 ms of imports.
            from . import content  # noqa: F401
            from .formats import head  # noqa: F401

            self._pool = ProcessPoolExecutor(initializer=bind_to_parent, initargs=(os.getpid(),))
        return self._pool

    def close(self) -> None:
        """Let the processes go (a stop leaves only the tasks already started to finish)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_changed(
    config: Config,
    todo: list[SourceFile],
    stale: dict[str, CachedFile],
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> Iterator[tuple[SourceFile, str, Post | ContentProblem | None, list[str]]]:
    """Read changed files and parse those whose bytes did change (a checkout touches every
    file's time, not its text; None stands for the indexed result of such a file), in order
    and as they come, each with its notes (what had to be left out); a large batch is read,
    hashed and parsed on every core (``workers``' processes, else processes of its own)."""
    known = [stale[f.rel].sha256 if f.rel in stale else None for f in todo]
    if len(todo) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
        for f, sha in zip(todo, known, strict=True):
            yield f, *_parse_file(config, f.rel, sha)
        return
    # The workers read the files themselves: the parent stays small, and so do the
    # copies of it that forking makes.
    with contextlib.ExitStack() as own, _noting_stops() as stops:
        kept = workers or own.enter_context(Workers())
        results = kept.pool().map(_parse_file, repeat(config), [f.rel for f in todo], known, chunksize=64)
        for number, (f, result) in enumerate(zip(todo, results, strict=True), 1):
            stops.check()
            yield f, *result
            if progress and number % 100 == 0:
                progress("reading posts", number, len(todo))
        stops.check()


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def bind_to_parent(parent: int) -> None:
    """Make a worker process (a parse's, a digest's renders') die with the command that started it,
    even after a kill -9 of that command (or it would wait for work for ever), and leave Ctrl-C to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before we asked
        os._exit(1)


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class _Stops:
    """SIGTERM and Ctrl-C during a parallel parse, noted by their handlers and acted on between
    results: an exception raised inside a handler can land in a finaliser, which swallows it."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def check(self) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # the pool is shut down and nothing is committed


@contextmanager
def _noting_stops() -> Iterator[_Stops]:
    """Catch SIGTERM and SIGINT unless something else, such as `publisher run`, already handles them."""
    stops = _Stops()
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    defaults = (signal.SIG_DFL, signal.default_int_handler, None)

    def note(signum: int, frame: object) -> None:
        stops.signal = signum

    previous = {
        sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT) if signal.getsignal(sig) in defaults
    }
    try:
        yield stops
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _parse_file(config: Config, rel: str, known_sha: str | None) -> tuple[str, Post | ContentProblem | None, list[str]]:
    """(sha256, post or problem, notes) of one file; None in place of the post when its bytes
    hash to known_sha."""
    notes: list[str] = []
    try:
        raw = read_post_file(config, rel, notes)
    except UnreadablePost as exc:
        return "", ContentProblem(display_path(config, rel), str(exc)), notes
    sha = hashlib.sha256(raw).hexdigest()
    if sha == known_sha:
        return sha, None, notes
    from .content import read_post  # Markdown, YAML and nh3: only when a file is to be parsed

    return sha, read_post(rel, raw, config, notes), notes
