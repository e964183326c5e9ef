"""Reading the changed content files into posts: one by one, or on every core for a large
batch, never blocking on a FIFO or a device, and stopping cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import repeat

from .config import Config
from .errors import ContentProblem
from .model import Post
from .sources import SourceFile, UnreadablePost, display_path, read_post_file
from .state import CachedFile

Progress = Callable[[str, int, int], None]
PARALLEL_THRESHOLD = 256  # changed files above which parsing is spread over every core


def read_changed(
    config: Config, todo: list[SourceFile], stale: dict[str, CachedFile], progress: Progress | None = None
) -> Iterator[tuple[SourceFile, str, Post | ContentProblem | None, list[str]]]:
    """Read changed files and parse those whose bytes did change (a checkout touches every
    file's time, not its text; None stands for the indexed result of such a file), in order
    and as they come, each with its notes (what had to be left out); a large batch is read,
    hashed and parsed on every core."""
    known = [stale[f.rel].sha256 if f.rel in stale else None for f in todo]
    if len(todo) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
        for f, sha in zip(todo, known, strict=True):
            yield f, *_parse_file(config, f.rel, sha)
        return
    # The workers read the files themselves: the parent stays small, and so do the
    # copies of it that forking makes.
    from concurrent.futures import ProcessPoolExecutor  # only a large publish pays for loading it

    pool = ProcessPoolExecutor(initializer=_bind_to_parent, initargs=(os.getpid(),))
    try:
        with _noting_stops() as stops:
            results = pool.map(_parse_file, repeat(config), [f.rel for f in todo], known, chunksize=64)
            for number, (f, result) in enumerate(zip(todo, results, strict=True), 1):
                stops.check()
                yield f, *result
                if progress and number % 100 == 0:
                    progress("reading posts", number, len(todo))
            stops.check()
    finally:
        pool.shutdown(cancel_futures=True)  # a stop leaves only the chunks already started to finish


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _bind_to_parent(parent: int) -> None:
    """Make a parse worker die with the publish that started it, even after a kill -9 of that
    publish (or it would wait for work for ever), and leave Ctrl-C to the publish."""
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
