"""The state database as a file on disk: opened at once by several processes, damaged, backed up."""

from __future__ import annotations

import multiprocessing
import sqlite3
from multiprocessing.synchronize import Barrier
from pathlib import Path

from publisher.errors import StateError
from publisher.store import MIGRATIONS, Store

OPENERS = 4
ROUNDS = 20


def _open_when_all_ready(path: str, barrier: Barrier, results: multiprocessing.Queue) -> None:
    barrier.wait(timeout=30)
    try:
        with Store(Path(path)) as store:
            store.get_meta("anything")
        results.put("ok")
    except StateError as exc:
        results.put(str(exc))


def _failed_opens(paths: list[Path]) -> list[str]:
    """Open each state file from OPENERS processes at once; the errors they met."""
    context = multiprocessing.get_context("fork")
    failures = []
    for path in paths:
        barrier = context.Barrier(OPENERS)
        results = context.Queue()
        workers = [
            context.Process(target=_open_when_all_ready, args=(str(path), barrier, results)) for _ in range(OPENERS)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        failures += [o for o in outcomes if o != "ok"]
    return failures


def test_a_new_state_file_opened_by_four_processes_at_once_opens_in_each(tmp_path: Path) -> None:
    assert _failed_opens([tmp_path / f"round{n}" / "state.db" for n in range(ROUNDS)]) == []


def test_an_old_state_file_migrated_by_four_processes_at_once_opens_in_each(tmp_path: Path) -> None:
    paths = []
    for number in range(ROUNDS):
        paths.append(path := tmp_path / f"old{number}.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.executescript(f"PRAGMA journal_mode=WAL; {MIGRATIONS[0]}; PRAGMA user_version = 1;")
        db.close()
    assert _failed_opens(paths) == []
    with Store(paths[0]) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
