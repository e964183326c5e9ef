"""The state database as a file on disk: opened at once by several processes, damaged, backed up."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from publisher.cli import run
from publisher.errors import StateError
from publisher.state import open_state
from publisher.state.schema import SQLITE_HISTORY as MIGRATIONS
from publisher.state.schema import VERSION
from publisher.unsubscribes import apply_unsubscribes, record_unsubscribe

from .conftest import Site

OPENERS = 4
ROUNDS = 20


def _open_when_all_ready(path: str, barrier: Barrier, results: multiprocessing.Queue) -> None:
    barrier.wait(timeout=30)
    try:
        with open_state(Path(path)) as store:
            store.meta.get("anything")
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
    with open_state(paths[0]) as store:
        assert store.db.value("PRAGMA user_version") == VERSION


def _site_with_a_subscriber(site: Site) -> Path:
    site.post("a.md", "title: A\ndate: 2012-01-01\ntags: [X]")
    assert run(["--site", str(site.root), "publish", "-q"]) == 0
    assert run(["--site", str(site.root), "subscribers", "add", "reader@example.org"]) == 0
    return site.root / ".publisher" / "state.db"


def test_an_emptied_state_file_is_refused_not_recreated_until_reset(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _site_with_a_subscriber(site)
    state.write_bytes(b"")  # truncated by a full disk or a bad copy
    capsys.readouterr()
    assert run(["--site", str(site.root), "subscribers", "list"]) == 1
    assert capsys.readouterr().err == (
        f"publisher: state database {state} is empty (0 bytes): its data was lost; restore a backup, "
        "or run 'publisher db reset' to move it aside and start with no subscribers\n"
    )
    assert state.stat().st_size == 0
    assert run(["--site", str(site.root), "db", "reset"]) == 0
    aside = next(state.parent.glob("state.db.damaged-*"))
    assert aside.stat().st_size == 0
    assert run(["--site", str(site.root), "subscribers", "list"]) == 0
    assert capsys.readouterr().out.endswith("started a new state database with no subscribers\n")


def test_a_sound_state_file_is_not_reset(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    state = _site_with_a_subscriber(site)
    capsys.readouterr()
    assert run(["--site", str(site.root), "db", "reset"]) == 1
    assert (
        capsys.readouterr().err == f"publisher: state database {state} passes the integrity check; nothing to reset\n"
    )
    assert run(["--site", str(site.root), "db", "check"]) == 0
    assert capsys.readouterr().out == f"{state}: ok\n"


def _damage_a_page(state: Path) -> bytes:
    """Overwrite the subscribers table's root page, as a bad sector or a stray write would."""
    db = sqlite3.connect(state)
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'subscribers'").fetchone()[0]
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with state.open("r+b") as handle:
        handle.seek((root - 1) * page)
        handle.write(b"\xa5" * page)
    return state.read_bytes()


def test_a_damaged_page_stops_a_forced_publish_with_one_line_and_changes_nothing(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _site_with_a_subscriber(site)
    damaged = _damage_a_page(state)
    feeds = site.feed_files()
    capsys.readouterr()
    assert run(["--site", str(site.root), "publish", "--force"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"publisher: state database {state} is damaged (")
    assert err.endswith("restore a backup, or move it aside with 'publisher db reset'\n")
    assert err.count("\n") == 1
    assert state.read_bytes() == damaged
    assert site.feed_files() == feeds
    assert run(["--site", str(site.root), "db", "check"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"publisher: state database {state} is damaged (")
    assert all(line.startswith(f"error: {state}: ") for line in err[:-1])


def test_a_backup_is_a_private_working_copy_and_never_overwrites(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _site_with_a_subscriber(site)
    copy = tmp_path / "backups" / "state-copy.db"
    with open_state(state):  # another process has it open: the online backup does not mind
        assert run(["--site", str(site.root), "db", "backup", str(copy)]) == 0
    assert capsys.readouterr().out.endswith(f"backed up {state} to {copy}\n")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    with open_state(copy) as store:
        assert [s.address for s in store.subscribers.all()] == ["reader@example.org"]
        assert store.problems() == []
    assert run(["--site", str(site.root), "db", "backup", str(copy)]) == 1
    assert capsys.readouterr().err == f"publisher: {copy} already exists; expected the name of a new file\n"


def test_a_backup_keeps_the_unsubscribes_still_waiting_in_their_journal(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _site_with_a_subscriber(site)
    with open_state(state) as store:  # as while a publish held the state file: only the journal has it
        reader = store.subscribers.all()[0]
        record_unsubscribe(store, reader, (reader.confirmed or reader.created) + timedelta(minutes=1))
    copy = tmp_path / "state-copy.db"
    assert run(["--site", str(site.root), "db", "backup", str(copy)]) == 0
    journal = tmp_path / "state-copy-unsubscribes.db"
    assert capsys.readouterr().out.endswith(f"backed up {state} to {copy} and {journal}\n")
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    with open_state(copy) as restored:  # the pair, restored, still applies the reader's unsubscribe
        assert apply_unsubscribes(restored) == 1
        assert [s.status for s in restored.subscribers.all()] == ["unsubscribed"]
    copy.unlink()
    assert run(["--site", str(site.root), "db", "backup", str(copy)]) == 1
    assert capsys.readouterr().err == f"publisher: {journal} already exists; expected the name of a new file\n"
    assert not copy.exists()


def test_the_state_folder_and_files_are_private_to_their_owner(site: Site) -> None:
    old = os.umask(0o022)
    try:
        state = _site_with_a_subscriber(site)
        with open_state(state) as store, store.transaction():  # the write-ahead log and its index exist while open
            store.meta.set("probe", "1")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.parent.iterdir()}
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert modes == {"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs), to be filled up; needs root to mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # no space left on device
        pass
    finally:
        os.close(fd)
    return filler


def _site_with_state_on(site: Site, disk: Path) -> Site:
    config = site.root / "config.toml"
    config.write_text(config.read_text() + f'\n[state]\npath = "{disk / "state.db"}"\n')
    return site


def test_a_full_disk_during_the_index_commit_is_one_line_and_loses_nothing(
    site: Site, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _site_with_state_on(site, small_disk)
    _site_with_a_subscriber(site)
    feeds = site.feed_files()
    for number in range(24):  # 1.5 MB of posts: their index rows do not fit
        site.post(f"big{number}.md", f"title: Big {number}\ndate: 2012-02-{number + 1:02d}", "word " * 12_000)
    capsys.readouterr()
    assert run(["--site", str(site.root), "publish"]) == 1
    state = small_disk / "state.db"
    assert capsys.readouterr().err == (
        f"publisher: the disk holding {state} is full; free some space and run again (nothing was changed)\n"
    )
    for number in range(24):
        (site.root / "content" / f"big{number}.md").unlink()
    assert run(["--site", str(site.root), "subscribers", "list"]) == 0
    assert capsys.readouterr().out.startswith("reader@example.org\tactive")
    assert run(["--site", str(site.root), "publish"]) == 0
    assert site.feed_files() == feeds


def test_a_full_disk_is_called_full_not_a_bad_state_file(
    site: Site, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _site_with_state_on(site, small_disk)
    _site_with_a_subscriber(site)
    filler = _fill(small_disk)
    capsys.readouterr()
    assert run(["--site", str(site.root), "subscribers", "list"]) == 1
    assert capsys.readouterr().err == (
        f"publisher: the disk holding {small_disk / 'state.db'} is full; free some space and run again "
        "(nothing was changed)\n"
    )
    filler.unlink()
    assert run(["--site", str(site.root), "subscribers", "list"]) == 0
    assert capsys.readouterr().out.startswith("reader@example.org\tactive")


def test_a_database_held_by_another_process_is_one_line_and_the_next_try_works(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _site_with_a_subscriber(site)
    site.post("b.md", "title: B\ndate: 2012-01-02\ntags: [Y]")
    monkeypatch.setattr("publisher.state.sqlite.BUSY_SECONDS", 0.2)  # a long publish would hold it for minutes
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(state)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"holding\n"
        capsys.readouterr()
        assert run(["--site", str(site.root), "publish"]) == 1
        assert (
            capsys.readouterr().err == f"publisher: another publisher process holds {state}; try again when it ends\n"
        )
    finally:
        holder.communicate(b"release\n", timeout=30)
    assert run(["--site", str(site.root), "publish"]) == 0
    assert "tags/y/atom.xml" in site.feed_files()


HOLD_THE_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""
