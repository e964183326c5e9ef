"""The state's repositories on both engines, and what only PostgreSQL does: migrations raced by several
processes, server-held locks freed by a killed holder, `db copy` from a SQLite file."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from publisher.cli import run
from publisher.config import StateConfig
from publisher.errors import Busy, StateError
from publisher.locks import holding
from publisher.model import Subscriber
from publisher.state import FeedRecord, open_state
from publisher.state.schema import VERSION

from .conftest import NOW, Site, postgres_schema
from .digest_helpers import FakeClock, published_site, secret, subscribe
from .mailserver import Recorder, mail_server

__all__ = ["secret"]

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _person(address: str, status: str = "active") -> Subscriber:
    return Subscriber(0, address, "", ("att",), status, T)


def test_subscribers_and_ledgers_read_back_what_they_wrote(backend: str, tmp_path: Path) -> None:
    with open_state(StateConfig(tmp_path / "state.db")) as state:
        assert state.db.dialect.name == backend
        with state.transaction():
            state.subscribers.insert([_person("Ann@Example.org"), _person("bo@example.org", "pending")])
            state.meta.set("k", "one")
            state.meta.set("k", "two")
            state.published.record(["p1", "p2"], T)
            state.published.record(["p1", "p3"], T)
            state.feeds.put("tags/a/rss.xml", FeedRecord("f1", 1_796_205_117_585_470_258, 4))
            state.feeds.put("atom.xml", FeedRecord("f2", 2, 3))
            state.feeds.put("atom.xml", FeedRecord("f3", 5, 6))
        ann = state.subscribers.by_address("ann@EXAMPLE.org")
        assert ann is not None and ann.address == "Ann@Example.org" and ann.tags == ("att",)
        with pytest.raises(StateError, match=r"^state database .*(UNIQUE|unique|duplicate)"), state.transaction():
            state.subscribers.insert([_person("ANN@example.org")])  # one subscriber per address, in any case
        assert [s.address for s in state.subscribers.all()] == ["Ann@Example.org", "bo@example.org"]
        assert state.meta.get("k") == "two" and state.meta.get("missing") is None
        seqs = state.published.seqs()
        assert sorted(seqs, key=seqs.__getitem__) == ["p1", "p2", "p3"] and state.published.ids() == set(seqs)
        assert state.feeds.records() == {
            "tags/a/rss.xml": FeedRecord("f1", 1_796_205_117_585_470_258, 4),
            "atom.xml": FeedRecord("f3", 5, 6),
        }
        assert sorted(state.feeds.stats()) == [("atom.xml", 5, 6), ("tags/a/rss.xml", 1_796_205_117_585_470_258, 4)]
        with state.transaction():
            state.subscribers.set_preferences(ann.id, None, "daily")
        assert state.subscribers.digest_of(ann.id) == "daily"
        assert [s.address for s, mark in state.subscribers.active("daily")] == ["Ann@Example.org"]
        assert state.subscribers.active("weekly") == []


def test_runs_outbox_and_watermarks_on_both_engines(backend: str, tmp_path: Path) -> None:
    with open_state(StateConfig(tmp_path / "state.db")) as state:
        with state.transaction():
            state.subscribers.insert([_person("a@example.org"), _person("b@example.org")])
        a, b = (state.subscribers.by_address(x) for x in ("a@example.org", "b@example.org"))
        assert a and b
        with state.transaction():
            run = state.runs.insert(
                "daily",
                T,
                T,
                [(1, "p1")],
                [("S", "text", "<p>html</p>")],
                [(a.id, 0, '{"n": "A"}', 5), (b.id, 0, "{}", 5)],
            )
        items = state.claims.claim(["daily"], "sender-1", T, T + timedelta(minutes=10), 10)
        assert [(i.run, i.subscriber, i.fields, i.subscriber_status) for i in items] == [
            (run, a.id, {"n": "A"}, "active"),
            (run, b.id, {}, "active"),
        ]
        assert state.runs.body(items[0].body) == ("S", "text", "<p>html</p>")
        assert state.runs.waiting()["daily"].count == 2 and state.runs.waiting()["daily"].first is None
        with state.transaction():
            state.runs.mark_sent(items[0], T)
            state.runs.mark_retry(items[1], T + timedelta(minutes=5), "451 later")
        assert state.subscribers.watermark(a.id, "daily") == 5
        assert state.runs.waiting()["daily"].first == T + timedelta(minutes=5)
        with state.transaction():
            state.runs.mark_done(items[1], "unknown", "no reply")
            assert state.runs.requeue("weekly") == 0 and state.runs.requeue(None) == 1
        assert state.runs.summaries()[0].counts == {"sent": 1, "pending": 1}
        with state.transaction():
            state.runs.record_skipped("daily", T + timedelta(days=1), T, "nothing new")
            state.runs.record_skipped("daily", T + timedelta(days=1), T, "again")  # once per slot
        assert state.runs.last_slots() == {"daily": T + timedelta(days=1)}
        assert state.runs.skipped_slots("daily") == [(T + timedelta(days=1), "nothing new")]


def test_sign_ups_confirmations_mail_and_locks_on_both_engines(backend: str, tmp_path: Path) -> None:
    with open_state(StateConfig(tmp_path / "state.db")) as state:
        with state.transaction():
            state.subscribers.insert([_person("c@example.org", "pending")])
            c = state.subscribers.by_address("c@example.org")
            assert c is not None
            state.signups.record("C@example.org", "10.0.0.1", T, T - timedelta(days=1))
            state.confirmations.queue(c.id, "from@example.org", "c@example.org", b"\x00bytes\r\n", T, T)
            state.mail.record("k1", "soft bounce", c.id, "first", T)
            state.mail.record("k2", "soft bounce", c.id, "second", T)  # same time: the later one is latest
        assert state.signups.times("c@EXAMPLE.org") == [T] and state.signups.client_count("10.0.0.1", T) == 1
        [queued] = state.confirmations.open()
        assert queued.message == b"\x00bytes\r\n" and queued.subscriber_status == "pending"
        assert state.mail.seen("k1") and not state.mail.seen("k3")
        assert state.mail.events(["soft bounce"])[c.id].detail == "second"
        assert state.mail.outcomes() == {"soft bounce": 2}
        with holding(state, "run", "busy"):
            holder = state.locks.holder("run")
            assert holder is not None and holder.pid == os.getpid()
        assert state.locks.holder("run") is None


# PostgreSQL only


def _open_when_all_ready(url: str, barrier: Barrier, results: multiprocessing.Queue) -> None:
    os.environ["PUBLISHER_DATABASE_URL"] = url
    barrier.wait(timeout=30)
    try:
        with open_state(StateConfig(Path("/nonexistent/state.db"))) as state:
            results.put(state.db.value("SELECT max(version) FROM schema_version"))
    except StateError as exc:
        results.put(str(exc))


def test_four_processes_migrating_one_postgres_schema_at_once_all_succeed() -> None:
    """One takes the migration lock and builds the schema; the others wait, then find it done."""
    context = multiprocessing.get_context("fork")
    for _round in range(5):
        with postgres_schema() as url:
            barrier, results = context.Barrier(4), context.Queue()
            workers = [context.Process(target=_open_when_all_ready, args=(url, barrier, results)) for _ in range(4)]
            for worker in workers:
                worker.start()
            outcomes = [results.get(timeout=60) for _ in workers]
            for worker in workers:
                worker.join(timeout=60)
            assert outcomes == [VERSION] * 4


HOLDER = """
import sys
from pathlib import Path
from publisher.config import StateConfig
from publisher.locks import holding
from publisher.state import FeedRecord, open_state
with open_state(StateConfig(Path(sys.argv[1]))) as state, holding(state, "run", "busy"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_runner_lock_on_postgres_is_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    with postgres_schema() as url:
        env = {**os.environ, "PUBLISHER_DATABASE_URL": url}
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(tmp_path / "state.db")],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            os.environ["PUBLISHER_DATABASE_URL"] = url
            with open_state(StateConfig(tmp_path / "state.db")) as state:
                with (
                    pytest.raises(Busy, match=rf"^the scheduler runs: pid {holder.pid} on "),
                    holding(state, "run", "the scheduler runs"),
                ):
                    pass
                holder.send_signal(signal.SIGKILL)
                holder.wait()
                deadline = time.monotonic() + 30  # the server ends the killed holder's session when its socket closes
                while not state.locks.try_server_lock("run"):
                    assert time.monotonic() < deadline, "the killed holder's session never ended"
                    time.sleep(0.05)
                state.locks.release_server_lock("run")
                with holding(state, "run", "the scheduler runs"):  # taken over: its holder is gone
                    held = state.locks.holder("run")
                    assert held is not None and held.pid == os.getpid()
        finally:
            del os.environ["PUBLISHER_DATABASE_URL"]
            holder.kill()
            holder.wait()


def _cli(site: Site, *args: str) -> int:
    return run(["--site", str(site.root), *args])


def test_db_copy_moves_every_table_into_postgres_and_refuses_a_second_time(
    tmp_path: Path, secret: bytes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from publisher.digest import send_digest

    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, ("ann@example.org", "Ann", []), ("bo@example.org", "", ["ATT"]))
        clock = FakeClock(NOW)
        assert send_digest(site.config, "daily", NOW, clock=clock.now, sleep=clock.sleep).sent == 2
    with open_state(site.config.state) as state:
        bo = state.subscribers.by_address("bo@example.org")
        assert bo is not None
        state.unsubscribes.record(bo.id, bo.address, NOW)  # waiting in the journal file, not yet applied
    for command in (("subscribers", "list"), ("outbox",)):
        assert _cli(site, *command) == 0
    before = capsys.readouterr().out
    with postgres_schema() as url:
        assert _cli(site, "db", "copy", "--to", url) == 0
        out = capsys.readouterr().out
        assert "2 subscribers" in out and "2 outbox" in out and "1 unsubscribes" in out
        monkeypatch.setenv("PUBLISHER_DATABASE_URL", url)
        for command in (("subscribers", "list"), ("outbox",)):
            assert _cli(site, *command) == 0
        assert capsys.readouterr().out == before
        with open_state(site.config.state) as state:
            assert state.db.dialect.name == "postgresql"
            assert state.published.seqs() and state.content.cached_files() and state.feeds.records()
            with state.transaction():  # new rows continue after the copied ids
                state.subscribers.insert([_person("new@example.org")])
            assert [s.id for s in state.subscribers.all()] == [1, 2, 3]
            assert [u.address for u in state.unsubscribes.waiting()] == ["bo@example.org"]
        assert _cli(site, "db", "copy", "--to", url) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "already holds state" in err and "nothing copied" in err


def test_db_commands_on_postgres_check_or_say_they_are_for_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path / "site")
    with postgres_schema() as url:
        monkeypatch.setenv("PUBLISHER_DATABASE_URL", url)
        assert _cli(site, "db", "check") == 0
        assert capsys.readouterr().out.strip().endswith(": ok")
        assert _cli(site, "db", "backup", str(tmp_path / "copy.db")) == 1
        assert "pg_dump" in capsys.readouterr().err
        assert _cli(site, "db", "reset") == 1
        assert "SQLite" in capsys.readouterr().err
    assert not (site.root / ".publisher").exists()  # nothing was written beside config.toml


def test_a_bad_or_unreachable_database_url_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path / "site")
    good = (site.root / "config.toml").read_text()
    (site.root / "config.toml").write_text(good + '\n[state]\nurl = "mysql://u:secret@db/x"\n')
    assert _cli(site, "subscribers", "list") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "state.url" in err and "postgresql://" in err and "secret" not in err
    (site.root / "config.toml").write_text(good + '\n[state]\nurl = "postgresql://u@127.0.0.1:9/x"\n')
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:9/none")  # wins
    assert _cli(site, "subscribers", "list") != 0
    err = capsys.readouterr().err
    assert err.startswith("publisher: cannot reach state database postgresql://nobody@127.0.0.1:9/none: ")
    assert err.count("\n") == 1 and "secret" not in err


def test_a_publish_on_sqlite_never_loads_the_postgres_driver(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    site.post("a.md", "title: A\ndate: 2012-01-01")
    code = (
        "import sys; from publisher.cli import run; code = run(sys.argv[1:]);"
        " assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg loaded'; sys.exit(code)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c", code, "--site", str(site.root), "publish", "-q"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
