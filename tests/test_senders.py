"""Many senders on one outbox: claims with a lease, a dead sender's messages taken over, the rate limit
shared through the database, `publisher worker`, and `digest send --workers` killed and resumed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.config import SmtpConfig, StateConfig
from publisher.delivery import Pace, release_dead_claims
from publisher.digest import freeze_run
from publisher.model import Subscriber
from publisher.publish import live_posts
from publisher.state import State, open_state

from .conftest import NOW, Site
from .digest_helpers import SECRET, FakeClock, published_site, secret
from .mailserver import Recorder, mail_server

__all__ = ["secret"]
pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and on PostgreSQL

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def _outbox(state: State, count: int) -> list[int]:
    """A frozen run of ``count`` messages to new active subscribers; the outbox ids, oldest first."""
    with state.transaction():
        state.subscribers.insert(Subscriber(0, f"r{n:05d}@example.org", "", None, "active", T, T) for n in range(count))
        ids = [row["id"] for row in state.db.rows("SELECT id FROM subscribers ORDER BY id")]
        state.runs.insert("daily", T, T, [(1, "p1")], [("S", "t", "<p>h</p>")], ((i, 0, "{}", 1) for i in ids))
    return [row["id"] for row in state.db.rows("SELECT id FROM outbox ORDER BY id")]


def test_a_claim_holds_rows_until_its_lease_runs_out_then_another_sender_takes_them(tmp_path: Path) -> None:
    with open_state(StateConfig(tmp_path / "state.db")) as state:
        ids = _outbox(state, 3)
        claims = state.claims
        first = claims.claim(["daily"], "A", T, T + LEASE, 2)
        assert [i.id for i in first] == ids[:2]
        assert [i.id for i in claims.claim(["daily"], "B", T, T + LEASE, 5)] == ids[2:]
        assert claims.claim(["daily"], "C", T + LEASE / 2, T + LEASE * 2, 5) == []  # every lease still runs
        assert claims.claim(["weekly"], "C", T, T + LEASE, 5) == []
        with state.transaction():
            state.runs.mark_sent(first[0], T)  # A sent one message, then died with the other in hand

        late = T + LEASE
        taken = claims.claim(["daily"], "C", late, late + LEASE, 5)
        assert [i.id for i in taken] == [ids[1], ids[2]]  # A's unsent one and B's, whose leases ran out
        assert claims.renew("A", late + LEASE) == set()  # A, had it lived on, must not send them now
        assert claims.renew("C", late + LEASE) == {ids[1], ids[2]}
        assert claims.holders(late) == ["C"]

        with state.transaction():
            state.runs.mark_retry(taken[0], late, "451 later")  # due again at once
        assert claims.release("C") == 1  # the one C neither sent nor set to wait
        again = claims.claim(["daily"], "C", late, late + LEASE, 5)
        assert [i.id for i in again] == [ids[2]]  # the given-back one; never one C handled in this pass
        assert [i.id for i in claims.claim(["daily"], "D", late, late + LEASE, 5)] == [ids[1]]


def test_claims_of_a_sender_on_this_host_that_died_are_given_back_at_once(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with open_state(StateConfig(tmp_path / "state.db")) as state:
        ids = _outbox(state, 4)
        host = os.uname().nodename
        state.claims.claim(["daily"], f"{host}:{int(dead.stdout)}:0001", T, T + LEASE, 2)
        state.claims.claim(["daily"], f"elsewhere.example:{os.getpid()}:0002", T, T + LEASE, 1)
        assert release_dead_claims(state, T) == 2  # the other host's claim cannot be checked: it waits
        assert [i.id for i in state.claims.claim(["daily"], "E", T, T + LEASE, 5)] == [ids[0], ids[1], ids[3]]


def test_two_claimers_never_get_the_same_row(backend: str, tmp_path: Path) -> None:
    where = StateConfig(tmp_path / "state.db")
    with open_state(where) as state:
        ids = _outbox(state, 400)
    got: dict[str, list[int]] = {"A": [], "B": []}

    def claimer(name: str) -> None:
        with open_state(where) as mine:
            while batch := mine.claims.claim(["daily"], name, T, T + LEASE, 3):
                got[name] += [item.id for item in batch]

    threads = [threading.Thread(target=claimer, args=(name,)) for name in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(got["A"]) & set(got["B"])
    assert sorted(got["A"] + got["B"]) == ids


def test_rows_another_claim_has_locked_are_passed_over_without_waiting(backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is no row lock to pass over")
    where = StateConfig(tmp_path / "state.db")
    with open_state(where) as busy, open_state(where) as other:
        ids = _outbox(busy, 6)
        other.db.execute("SET statement_timeout = '5s'")  # waiting would be an error, not a hang
        with busy.db.transaction(row_locks=True):  # a claim in progress on another connection
            busy.db.rows("SELECT id FROM outbox WHERE id IN (?, ?) FOR UPDATE", (ids[0], ids[1]))
            taken = other.claims.claim(["daily"], "B", T, T + LEASE, 3)
        assert [i.id for i in taken] == ids[2:5]


def test_the_rate_limit_is_kept_by_all_senders_together(tmp_path: Path) -> None:
    smtp = SmtpConfig(rate_limit=10)
    where = StateConfig(tmp_path / "state.db")
    clock = FakeClock(T)  # moves only when told: each sender waits for the slot it reserved
    waits: list[tuple[str, float]] = []
    with open_state(where) as one, open_state(where) as two:
        paces = {
            name: Pace(smtp, store, clock.now, lambda s, name=name: waits.append((name, round(s, 6))))
            for name, store in (("one", one), ("two", two))
        }
        for name in ("one", "two", "one", "two"):
            paces[name].wait()
        assert waits == [("two", 0.1), ("one", 0.2), ("two", 0.3)]
        clock.at = T + timedelta(seconds=1)  # the reservations are in the past: no wait
        paces["one"].wait()
        clock.at = T - timedelta(days=3)  # a clock set days back does not wait for the later one's slots
        paces["two"].wait()
    assert waits == [("two", 0.1), ("one", 0.2), ("two", 0.3)]
    assert Pace(SmtpConfig(), one, clock.now, lambda s: waits.append(("none", s))).interval == 0.0  # 0: no limit


def _readers(site: Site, count: int) -> list[str]:
    addresses = [f"reader{n:04d}@example.org" for n in range(count)]
    with open_state(site.config.state) as store, store.transaction():
        store.subscribers.insert(Subscriber(0, a, "", None, "active", NOW, NOW) for a in addresses)
    return addresses


def _publisher(site: Site, *args: str) -> subprocess.Popen[str]:
    """`publisher --site SITE ARGS... --now NOW` in its own process, as an operator runs it."""
    code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    command = [sys.executable, "-c", code, "--site", str(site.root), *args, "--now", NOW.isoformat()]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_workers_on_two_hosts_share_a_frozen_outbox_and_send_each_message_once(tmp_path: Path) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        readers = _readers(site, 120)
    frozen = _publisher(site, "digest", "send", "daily")  # the server is gone: the run is frozen, nothing sent
    _out, err = frozen.communicate(timeout=60)
    assert frozen.returncode == 1 and "cannot connect" in err and "120 left in the outbox" in err
    with mail_server(recorder, port):
        workers = [_publisher(site, "worker", "--once") for _ in range(2)]
        outs = [worker.communicate(timeout=60) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outs
    lines = [re.fullmatch(r"worker: (\d+) sent, \d+ waiting, 0 bounced, 0 failed\n", out) for out, _ in outs]
    assert all(lines) and sum(int(line[1]) for line in lines if line) == 120  # the other may still be sending
    assert recorder.per_recipient() == dict.fromkeys(readers, 1)
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"sent": 120}


def test_a_long_running_worker_sends_what_is_frozen_and_stops_on_sigterm(tmp_path: Path) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        readers = _readers(site, 30)
        with open_state(site.config.state) as store:  # a run frozen by another host's `publisher run`
            freeze_run(site.config, store, site.config.digest("daily"), NOW, live_posts(site.config, NOW), NOW, b"k")
        worker = _publisher(site, "worker")
        assert recorder.wait_for(30), "the worker never sent the run"
        worker.send_signal(signal.SIGTERM)
        _out, log = worker.communicate(timeout=60)
    assert worker.returncode == 0, log
    assert "worker: 30 sent, 0 waiting, 0 bounced, 0 failed" in log and "Traceback" not in log
    assert recorder.per_recipient() == dict.fromkeys(readers, 1)


CRASH_READERS = 2000
KILL_AT = (300, 1000, 1700)  # messages received when the worker sending the next one is killed


class Killer(Recorder):
    """Takes each message, and at KILL_AT kills the worker that sent it before answering 250: that
    message is delivered but not recorded as sent, the one duplicate a kill may cost."""

    def __init__(self, state: StateConfig) -> None:
        super().__init__()
        self.state = state
        self.in_flight: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.received) in KILL_AT:
            address = envelope.rcpt_tos[0]
            with open_state(self.state) as store:
                holder = store.db.value(
                    "SELECT o.claimed_by FROM outbox o JOIN subscribers s ON s.id = o.subscriber WHERE s.address = ?",
                    (address,),
                )
            os.kill(int(holder.split(":")[1]), signal.SIGKILL)
            self.in_flight.append(address)
        return reply


def test_workers_killed_at_three_points_resume_with_each_reader_served_once(tmp_path: Path) -> None:
    site_root = tmp_path / "site"
    killer = Killer(StateConfig(site_root / ".publisher" / "state.db"))
    with mail_server(killer) as port:
        site = published_site(site_root, port)
        readers = _readers(site, CRASH_READERS)
        first = _publisher(site, "digest", "send", "daily", "--workers", "4")
        _out, err = first.communicate(timeout=120)
        assert first.returncode == 1 and "(3 of 4 workers stopped early)" in err, err
        assert len(killer.in_flight) == len(KILL_AT)
        with open_state(site.config.state) as store:
            left = store.runs.waiting()["daily"].count
        assert 0 < left <= 3 * 20  # what the killed workers held: given back when the next send starts
        resume = _publisher(site, "digest", "send", "daily", "--workers", "4")
        out, err = resume.communicate(timeout=120)
        assert resume.returncode == 0, err
        assert out.endswith(f"already frozen; {left} sent, 0 waiting, 0 bounced, 0 failed\n")
    per_reader = killer.per_recipient()
    assert set(per_reader) == set(readers)  # none skipped
    duplicates = {address: n for address, n in per_reader.items() if n > 1}
    print(f"\nworkers crash test: {len(KILL_AT)} kills, {len(killer.received)} messages, {duplicates} duplicated")
    assert duplicates == dict.fromkeys(killer.in_flight, 2)  # at most the message in flight, once per kill
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"sent": CRASH_READERS}
