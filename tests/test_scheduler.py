"""`publisher run`: due slots across DST, catch-up after downtime, one instance, clean stop on SIGTERM.

The clock is injected everywhere in-process; the subprocess test gives the
runner its start time with --now and waits on the mail server, never on a timer.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.cli import run
from publisher.config import load_config
from publisher.errors import Busy, ConfigError
from publisher.locks import holding
from publisher.scheduler import Runner, due_slots, loop
from publisher.state import LockHolder, open_state

from .conftest import BASE_CONFIG, NOW, Site
from .digest_helpers import SECRET, FakeClock, published_site, secret, subscribe
from .mailserver import Recorder, mail_server

__all__ = ["secret"]  # the fixture, imported so pytest finds it here

TICK = timedelta(minutes=15)
SMTP = '\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
MONTH_DIGESTS = """
[run]
publish_interval_minutes = 360
grace_hours = 1

[[digests]]
name = "daily"
schedule = "daily"
time = "02:30"                  # Paris falls back on 25 October: 02:30 happens twice
timezone = "Europe/Paris"
from_address = "digest@news.example.org"

[[digests]]
name = "weekly"
schedule = "weekly"
day = "sunday"
time = "02:30"                  # Sydney springs forward on 4 October: 02:30 does not exist
timezone = "Australia/Sydney"
from_address = "digest@news.example.org"

[[digests]]
name = "monthly"
schedule = "monthly"
day_of_month = "last"
time = "23:30"
timezone = "America/New_York"
from_address = "digest@news.example.org"
"""


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@contextmanager
def _runner(site: Site, clock: FakeClock) -> Iterator[Runner]:
    with open_state(site.config.state) as store:
        yield Runner(site.config, store, clock=clock.now, sleep=clock.sleep, stop=threading.Event())


def _tick_until(runner: Runner, clock: FakeClock, end: datetime) -> None:
    while clock.at <= end:
        assert runner.tick() == 0
        clock.at += TICK


def test_a_month_of_three_digests_sends_each_slot_once_at_its_local_time(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = Site(tmp_path / "site", BASE_CONFIG + SMTP.format(port=port) + MONTH_DIGESTS)
        start = _utc("2026-10-01T00:00")
        for day in range(33):  # one post a day at noon, Paris time: published by the runner as each comes due
            date = start.date() + timedelta(days=day - 1)
            site.post(f"{date}.md", f"title: News of {date}\ndate: {date} 12:00\ntags: [News]")
        subscribe(site, ("reader@example.org", "", []))
        clock = FakeClock(start)
        with _runner(site, clock) as runner:
            _tick_until(runner, clock, _utc("2026-11-02T00:00"))

    with open_state(site.config.state) as store:
        runs = {digest: [(r.slot, r.frozen, r.counts) for r in reversed(store.runs.summaries()) if r.digest == digest]
                for digest in ("daily", "weekly", "monthly")}  # fmt: skip
        skipped = {digest: [slot for slot, _ in store.runs.skipped_slots(digest)] for digest in runs}
    daily = [_utc(f"2026-10-{d:02}T00:30") for d in range(1, 26)]  # 02:30 CEST; on the 25th the first 02:30
    daily += [_utc(f"2026-10-{d:02}T01:30") for d in range(26, 32)] + [_utc("2026-11-01T01:30")]  # 02:30 CET
    expected = {
        "daily": daily,
        # 4 October: 02:30 is skipped by the change and the slot falls at 03:30 AEDT; then 02:30 AEDT
        "weekly": [_utc("2026-10-03T16:30"), *(_utc(f"2026-10-{d}T15:30") for d in (10, 17, 24, 31))],
        "monthly": [_utc("2026-10-01T03:30"), _utc("2026-11-01T03:30")],  # 30 Sep and 31 Oct, 23:30 EDT
    }
    for digest, slots in expected.items():
        assert [slot for slot, _, _ in runs[digest]] == slots, digest
        for slot, frozen, counts in runs[digest]:
            assert timedelta(0) <= frozen - slot < TICK  # sent at the first tick at or after the slot
            assert counts == {"sent": 1}
    # the start-up found the slot before it of each digest more than the grace of an hour past: recorded, not sent
    assert skipped == {
        "daily": [_utc("2026-09-30T00:30")],
        "weekly": [_utc("2026-09-26T16:30")],
        "monthly": [_utc("2026-09-01T03:30")],
    }
    lists = Counter(m["List-Id"].split()[-3] for m in recorder.messages())
    assert lists == {"daily": 32, "weekly": 5, "monthly": 2}
    assert len({m["Message-ID"] for m in recorder.messages()}) == 39


def _downtime_site(tmp_path: Path, port: int) -> Site:
    site = published_site(tmp_path / "site", port, "\n[run]\ngrace_hours = 6\n")  # daily at 08:00 Paris = 07:00Z
    subscribe(site, ("alice@example.org", "", []), ("bob@example.org", "", []))
    clock = FakeClock(_utc("2026-11-28T07:05"))
    with _runner(site, clock) as runner:
        assert runner.tick() == 0
    site.post("five.md", "title: Written during the downtime\ndate: 2026-11-28 12:00\ntags: [ATT]")
    return site


def test_downtime_across_a_slot_sends_it_once_on_start(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = _downtime_site(tmp_path, port)
        clock = FakeClock(_utc("2026-11-29T09:00"))  # down since yesterday; today's 07:00Z slot missed by 2 h
        with _runner(site, clock) as runner:
            _tick_until(runner, clock, _utc("2026-11-30T06:55"))
    assert len(recorder.received) == 4  # two readers, yesterday's digest and one catch-up
    with open_state(site.config.state) as store:
        (catch_up, _first) = store.runs.summaries()
        assert store.runs.skipped_slots("daily") == []
    assert (catch_up.slot, catch_up.frozen) == (_utc("2026-11-29T07:00"), _utc("2026-11-29T09:00"))


def test_downtime_longer_than_the_grace_records_skips_and_loses_no_post(
    tmp_path: Path, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = _downtime_site(tmp_path, port)
        clock = FakeClock(_utc("2026-12-01T06:00"))  # the 30 Nov slot was missed by 23 h, more than 6 h
        with _runner(site, clock) as runner, caplog.at_level(logging.INFO, "publisher"):
            assert runner.tick() == 0
            assert len(recorder.received) == 2  # only the first day's
            assert runner.store.runs.skipped_slots("daily") == [
                (_utc("2026-11-29T07:00"), "missed by 47.0 h, more than the grace of 6.0 h"),
                (_utc("2026-11-30T07:00"), "missed by 23.0 h, more than the grace of 6.0 h"),
            ]
            assert "digest daily slot 2026-11-30 08:00 CET: skipped, missed by 23.0 h" in caplog.text
            _tick_until(runner, clock, _utc("2026-12-01T07:00"))  # the next slot goes out as usual
    fresh = recorder.messages()[2:]
    assert [m["To"] for m in fresh] == ["alice@example.org", "bob@example.org"]
    assert all("Written during the downtime" in m.get_body(("plain",)).get_content() for m in fresh)


def test_due_slots_without_a_ledger_sends_the_current_slot_only_within_the_grace(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", BASE_CONFIG + SMTP.format(port=25) + MONTH_DIGESTS)
    digests = site.config.digests
    (daily,) = due_slots(_utc("2026-10-01T01:00"), digests[:1], {}, set(), timedelta(hours=1))
    assert (daily.send, daily.skip, daily.resume) == (_utc("2026-10-01T00:30"), (), False)
    (late,) = due_slots(_utc("2026-10-01T02:00"), digests[:1], {}, {"daily"}, timedelta(hours=1))
    assert late.send is None and [s for s, _ in late.skip] == [_utc("2026-10-01T00:30")] and late.resume
    # a wide grace still sends only the newest missed slot; the older one is superseded
    (wide,) = due_slots(_utc("2026-10-03T01:00"), digests[:1], {"daily": daily.send}, set(), timedelta(days=3))
    assert wide.send == _utc("2026-10-03T00:30")
    assert wide.skip == ((_utc("2026-10-02T00:30"), "superseded by the slot of 2026-10-03 00:30 UTC"),)
    assert due_slots(_utc("2026-10-03T01:00"), digests[:1], {"daily": wide.send}, set(), timedelta(days=3)) == []


def test_a_failing_job_is_logged_retried_at_the_next_tick_and_never_stops_the_loop(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site.post("bad.md", "title: [unclosed")
    waits: list[float] = []
    with _runner(site, FakeClock()) as runner, caplog.at_level(logging.INFO, "publisher"):

        def wait(seconds: float) -> None:  # stands in for the minute between two ticks, and for a SIGTERM
            waits.append(seconds)
            runner.tick()
            runner.stop.set()

        loop(runner, 60, wait)
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 2 and failures[0].startswith("publish failed: content/bad.md:")
    assert "Traceback" not in caplog.text
    assert waits and 0 < waits[0] <= 60


def test_run_once_exits_1_when_a_job_failed(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.post("bad.md", "title: [unclosed")
    assert run(["--site", str(site.root), "run", "--once", "--now", NOW.isoformat()]) == 1
    assert "publish failed: content/bad.md" in caplog.text
    site.post("bad.md", "title: Fixed\ndate: 2026-11-01")
    assert run(["--site", str(site.root), "run", "--once", "--now", NOW.isoformat()]) == 0
    assert (site.feeds / "atom.xml").is_file()


def test_a_lock_left_by_a_dead_process_is_taken_over_and_another_host_blocks(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    with open_state(site.config.state) as store:
        with store.transaction():
            store.locks.take("run", LockHolder(int(dead.stdout), host, NOW))
        with holding(store, "run", "busy"):
            assert store.locks.holder("run").pid == os.getpid()
        assert f"took over lock 'run' from pid {dead.stdout.strip()} on {host}" in caplog.text
        assert store.locks.holder("run") is None  # released
        with store.transaction():
            store.locks.take("run", LockHolder(os.getpid(), "elsewhere", NOW))
        busy = f"busy: pid {os.getpid()} on elsewhere, since 2026-11-27 12:00:00 UTC"  # pid alive or not
        with pytest.raises(Busy, match=f"^{re.escape(busy)}$"), holding(store, "run", "busy"):
            pass  # pragma: no cover


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tick_seconds = 0", "run.tick_seconds = 0: expected 1-3600 seconds"),
        ("grace_hours = -1", "run.grace_hours = -1: expected a number of at least 0"),
        ("grace_hours = 0", "run.grace_hours = 0: expected at least one tick (60 s)"),
        ("publish_interval_minutes = -5", "run.publish_interval_minutes = -5: expected an integer of at least 0"),
        ("tick = 5", "unknown key run.tick; [run] accepts grace_hours, publish_interval_minutes, tick_seconds"),
    ],
)
def test_run_settings_are_checked(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(BASE_CONFIG + f"\n[run]\n{body}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="^config: " + re.escape(message)):
        load_config(tmp_path / "config.toml")


RECIPIENTS = 120


def _publisher(site: Site, *args: str) -> subprocess.Popen:
    code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-c", code, "--site", str(site.root), *args, "--now", NOW.isoformat()],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_one_runner_per_database_no_racing_send_and_sigterm_finishes_the_message_in_flight(
    tmp_path: Path, secret: bytes
) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        config = site.root / "config.toml"  # 50 messages a second: slow enough to be caught mid-send
        config.write_text(config.read_text().replace('security = "none"', 'security = "none"\nrate_limit = 50'))
        subscribe(site, *((f"reader{n:03d}@example.org", "", []) for n in range(RECIPIENTS)))
        runner = _publisher(site, "run")  # today's 07:00Z slot was missed by 5 h: a catch-up on start
        assert recorder.wait_for(10), "the runner never started sending"
        racing = _publisher(site, "digest", "send", "daily")
        second = _publisher(site, "run", "--once")
        for other in (racing, second):
            other.wait(timeout=30)
            assert other.returncode == 1
        holder = f"pid {runner.pid} on {socket.gethostname()}, since "
        racing_error, second_error = racing.stderr.read(), second.stderr.read()
        assert racing_error.startswith(f"publisher: digest 'daily' is being sent by another process: {holder}")
        assert second_error.startswith(f"publisher: another publisher run is using this state database: {holder}")
        assert len(racing_error.splitlines()) == len(second_error.splitlines()) == 1

        runner.send_signal(signal.SIGTERM)
        _out, log = runner.communicate(timeout=30)
        assert runner.returncode == 0, log
        assert "stopped, the rest goes at the next start" in log and log.rstrip().endswith("run: stopped")
        assert "Traceback" not in log
        taken = len(recorder.received)
        assert taken < RECIPIENTS, "the runner finished before the signal; raise RECIPIENTS"
        with open_state(site.config.state) as store:
            assert store.runs.summaries()[0].counts == {"sent": taken, "pending": RECIPIENTS - taken}

        resume = _publisher(site, "run", "--once")
        _out, log = resume.communicate(timeout=30)
        assert resume.returncode == 0, log
        assert f"digest daily earlier runs: {RECIPIENTS - taken} sent, 0 waiting, 0 bounced, 0 failed\n" in log
    assert recorder.per_recipient() == {f"reader{n:03d}@example.org": 1 for n in range(RECIPIENTS)}
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"sent": RECIPIENTS}
        assert store.locks.holder("run") is None and store.locks.holder("digest daily") is None


def test_the_runner_sends_a_waiting_message_at_a_later_tick_and_never_sleeps_for_it(
    tmp_path: Path, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(temporary={"b@example.org": 1})
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)  # retry_base_seconds = 10
        subscribe(site, ("a@example.org", "", []), ("b@example.org", "", []))
        clock = FakeClock()
        with _runner(site, clock) as runner, caplog.at_level(logging.INFO, "publisher"):
            assert runner.tick() == 0
            clock.at += timedelta(seconds=5)
            assert runner.tick() == 0  # not yet due: not even tried
            assert recorder.refusals == {"b@example.org": 1}
            clock.at += timedelta(seconds=5)
            assert runner.tick() == 0
    digests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("digest ")]
    assert digests == [
        "digest daily slot 2026-11-27 08:00 CET: froze 2 messages (1 renders, 4 posts); "
        "1 sent, 1 waiting for retry at 13:00 CET, 0 bounced, 0 failed",
        "digest daily earlier runs: 1 sent, 0 waiting, 0 bounced, 0 failed",
    ]
    assert clock.slept == []
    assert recorder.per_recipient() == {"a@example.org": 1, "b@example.org": 1}
