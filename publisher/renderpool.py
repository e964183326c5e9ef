"""A run's shared renders on the idle cores: a large run's groups are rendered by forked worker processes
while the parent signs each recipient's links; then the parent renders what no worker has begun.

Workers are forked, so they start with the parent's Renderer (compiled templates, post blocks) and
the groups in memory: only index ranges go to them and finished renders come back. A render depends
only on its group, never on which process made it or in what order, so the run is the same on one
core or many (tests/test_digest_parallel.py).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from .message import Render
from .model import Post
from .reading import bind_to_parent
from .rendering import Renderer

Group = tuple[tuple[Post, ...], bool, str | None]  # (posts, the recipients have a name, their language)
PARALLEL_THRESHOLD = 512  # renders above which idle cores render too (forking costs ~50 ms)
_CHUNK = 32  # groups per task at most: a task's overhead stays small, and the work is shared out evenly

_renderer: Renderer | None = None  # in a worker: the parent's, as it was when the worker was forked
_groups: Sequence[Group] = ()


class Renders:
    """The renders of a run's groups, in order. A large run's are begun on worker processes at once,
    so the caller can work meanwhile; when it asks for them, it renders the chunks no worker has begun
    yet itself, last first. A small run's are rendered here when asked for."""

    def __init__(self, renderer: Renderer, groups: Sequence[Group], workers: int | None = None) -> None:
        self._renderer = renderer
        self._groups = groups
        self._pool: ProcessPoolExecutor | None = None
        self._chunks: list[tuple[int, Future[list[Render]]]] = []
        count = idle_cores() if workers is None else workers
        parallel = count > 0 and len(groups) >= PARALLEL_THRESHOLD and "fork" in multiprocessing.get_all_start_methods()
        self.workers = count if parallel else 0  # worker processes rendering besides this one
        if parallel:
            self._pool = ProcessPoolExecutor(
                count,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(os.getpid(), renderer, groups),
            )
            self._chunk = max(1, min(_CHUNK, len(groups) // ((count + 1) * 8)))
            self._chunks = [
                (start, self._pool.submit(_render_range, start, start + self._chunk))
                for start in range(0, len(groups), self._chunk)
            ]

    def result(self) -> list[Render]:
        if self._pool is None:
            return self._render(0, len(self._groups))
        here: dict[int, list[Render]] = {}
        for start, future in reversed(self._chunks):
            if not future.cancel():
                break  # a worker has begun it, and so every chunk before it
            here[start] = self._render(start, start + self._chunk)
        return [r for start, future in self._chunks for r in (here[start] if start in here else future.result())]

    def _render(self, start: int, stop: int) -> list[Render]:
        return [self._renderer.render(*group) for group in self._groups[start:stop]]

    def close(self) -> None:
        """Stop the workers; renders not yet begun are dropped (after an error, say)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def idle_cores() -> int:
    """Workers worth forking besides this process: the cores no one else keeps busy (as ``make -l``).

    A worker that has to share a core renders no sooner, and forking a large process and copying every
    render back cost CPU: on two cores that other work kept busy a third to two thirds of the time, a run
    took 14 % more CPU and 10 % more time with one worker than without.
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]  # this process among them
    except OSError:  # no load average on this system
        busy = 1.0
    return max(0, min(cores - 1, int(cores - busy)))  # only cores idle all the time: a shared core is no gain


def _start_worker(parent: int, renderer: Renderer, groups: Sequence[Group]) -> None:
    """Runs in a new worker: its arguments were not copied through a pipe but forked with the parent."""
    global _renderer, _groups
    bind_to_parent(parent)
    _renderer, _groups = renderer, groups


def _render_range(start: int, stop: int) -> list[Render]:
    assert _renderer is not None
    return [_renderer.render(*group) for group in _groups[start:stop]]
