"""Senders benchmark: delivery by 1, 2 and 4 worker processes, and freezing a run on PostgreSQL vs SQLite.

    .venv/bin/python benchmarks/senders_bench.py [--messages 4000] [--subscribers 100000] [--runs 3]

Delivery: a frozen run of ``--messages`` digests is sent by `digest send
--workers N`'s code path (workers.deliver_in_processes; N = 1 sends in this
process) to Postfix's smtp-sink (a C SMTP sink: the server costs next to
nothing) and, for comparison, to aiosmtpd (a Python server, its Sink handler),
each in a process of its own on 127.0.0.1. The state is PostgreSQL when one
answers (PUBLISHER_TEST_POSTGRES or 127.0.0.1:5432), else SQLite. Wall time
includes starting the worker processes; that start-up alone is measured too.

Queueing: freezing one run for ``--subscribers`` readers (digest.freeze_run:
selection, renders, outbox rows) on a SQLite file and on PostgreSQL.

Last, one single-worker delivery to smtp-sink runs under cProfile and the top
costs are printed: where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from digest_bench import NOW, SECRET, make_site, subscribers, wait_for_port

from publisher.clock import WallClock
from publisher.config import Config, load_config
from publisher.delivery import DeliveryReport, deliver
from publisher.digest import freeze_run
from publisher.model import Post, Subscriber
from publisher.publish import live_posts, publish
from publisher.state import URL_ENV, open_state
from publisher.workers import deliver_in_processes

WORKERS = (1, 2, 4)
POSTGRES = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://127.0.0.1:5432/test")


def postgres_base() -> str | None:
    """A PostgreSQL database we may create schemas in, or None."""
    try:
        import psycopg
    except ImportError:
        return None
    for url in [os.environ["PUBLISHER_TEST_POSTGRES"]] if os.environ.get("PUBLISHER_TEST_POSTGRES") else POSTGRES:
        try:
            psycopg.connect(url, connect_timeout=3).close()
        except psycopg.Error:
            continue
        return url
    return None


@contextmanager
def state_on(base: str | None) -> Iterator[None]:
    """The state in a fresh PostgreSQL schema of ``base`` for the block (None: the SQLite file)."""
    if base is None:
        os.environ.pop(URL_ENV, None)
        yield
        return
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}")
    os.environ[URL_ENV] = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"
    try:
        yield
    finally:
        os.environ.pop(URL_ENV, None)
        with psycopg.connect(base, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {name} CASCADE")


def fresh(config_path: Path, people: list[Subscriber], port: int, name: str) -> tuple[Config, list[Post]]:
    """A config for the server on ``port`` whose (new) state holds the published posts and ``people``."""
    text = config_path.read_text(encoding="utf-8").split("\n[state]")[0]
    text = text.replace(text.split("port = ")[1].split("\n")[0], str(port), 1)
    config_path.write_text(text + f'\n[state]\npath = "{name}.db"\n', encoding="utf-8")
    config = load_config(config_path)
    publish(config, NOW)
    with open_state(config.state) as store, store.transaction():
        store.subscribers.insert(people)
    return config, live_posts(config, NOW)


def frozen(config_path: Path, people: list[Subscriber], port: int, name: str) -> tuple[Config, int]:
    """A config whose state holds one frozen run for ``people``; how many messages it has."""
    config, posts = fresh(config_path, people, port, name)
    with open_state(config.state) as store:
        plan = freeze_run(config, store, config.digest("daily"), NOW - timedelta(hours=4), posts, NOW, SECRET)
    return config, len(plan.messages) if plan else 0


def send(config: Config, workers: int) -> DeliveryReport:
    """One `digest send --workers N` pass over the frozen outbox."""
    report = DeliveryReport()
    clock = WallClock()
    if workers == 1:
        with open_state(config.state) as store:
            deliver(config, store, [config.digest("daily")], report, clock=clock, sleep=time.sleep)
    else:
        deliver_in_processes(config, ["daily"], report, clock=clock, workers=workers)
    return report


@contextmanager
def server(command: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield
    finally:
        process.terminate()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sinks() -> dict[str, Callable[[int], list[str]]]:
    """The servers to send to, by name: how to start each on a port."""
    found: dict[str, Callable[[int], list[str]]] = {}
    sink = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None)
    if sink:
        root = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to keep root's privileges
        found["smtp-sink"] = lambda port: [sink, *root, "127.0.0.1:" + str(port), "1000"]
    else:
        print("note: smtp-sink not found (Debian: apt-get install postfix); its part is skipped")
    found["aiosmtpd"] = lambda port: [
        sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink",
    ]  # fmt: skip
    return found


def bench_delivery(config_path: Path, people: list[Subscriber], runs: int, base: str | None) -> dict[str, object]:
    results: dict[str, object] = {}
    for sink, command in sinks().items():
        port = free_port()
        rates: dict[int, list[float]] = {n: [] for n in WORKERS}
        with server(command(port), port):
            for run in range(runs):
                for workers in WORKERS:
                    with state_on(base):
                        config, messages = frozen(config_path, people, port, f"{sink}-{run}-{workers}")
                        started = time.perf_counter()
                        report = send(config, workers)
                        seconds = time.perf_counter() - started
                    assert report.sent == messages and not report.failed, report
                    rates[workers].append(report.sent / seconds)
                    print(f"  {sink}, {workers} worker(s), run {run + 1}: {report.sent / seconds:,.0f} messages/s")
            with state_on(base):
                config, _ = frozen(config_path, people[:0], port, f"{sink}-empty")
                started = time.perf_counter()
                send(config, max(WORKERS))
                startup = time.perf_counter() - started
        medians = {n: statistics.median(r) for n, r in rates.items()}
        scaling = medians[4] / medians[1]
        print(
            f"{sink}: median messages/s "
            + ", ".join(f"{n} worker{'s' if n > 1 else ''} {m:,.0f}" for n, m in medians.items())
            + f"; 1 -> 4 workers x{scaling:.2f}; starting {max(WORKERS)} workers with nothing to send {startup:.2f} s"
        )
        results[sink] = {"per_s": medians, "scaling_1_to_4": scaling, "startup_s": startup}
    return results


def bench_queue(config_path: Path, people: list[Subscriber], runs: int, base: str | None) -> dict[str, float]:
    medians: dict[str, float] = {}
    for engine, where in (("sqlite", None), ("postgresql", base)):
        if engine == "postgresql" and base is None:
            print("note: no PostgreSQL server answers; its queueing figure is skipped")
            continue
        times = []
        for run in range(runs):
            with state_on(where):
                config, posts = fresh(config_path, people, 25, f"q{run}")
                with open_state(config.state) as store:
                    started = time.perf_counter()
                    freeze_run(config, store, config.digest("daily"), NOW - timedelta(hours=4), posts, NOW, SECRET)
                    times.append(time.perf_counter() - started)
            print(f"  {engine}, run {run + 1}: froze {len(people):,} digests in {times[-1]:.2f} s")
        medians[engine] = statistics.median(times)
        print(
            f"queueing on {engine}: median {medians[engine]:.2f} s ({len(people) / medians[engine]:,.0f} subscribers/s)"
        )
    if len(medians) == 2:
        print(f"queueing: PostgreSQL takes x{medians['postgresql'] / medians['sqlite']:.2f} SQLite's time")
    return medians


def profile(config_path: Path, people: list[Subscriber], base: str | None, top: int) -> None:
    """One single-worker delivery under cProfile: the functions that cost most time of their own."""
    for sink, command in list(sinks().items())[:1]:
        port = free_port()
        with server(command(port), port), state_on(base):
            config, _ = frozen(config_path, people, port, "profile")
            profiler = cProfile.Profile()
            profiler.enable()
            send(config, 1)
            profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        print(f"where the time goes: one worker, {len(people):,} messages to {sink}, by own time")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip()[:1].isdigit() or "ncalls" in line))


def main(argv: list[str] | None = None) -> dict[str, object]:
    os.environ.setdefault("PUBLISHER_SECRET", SECRET.decode())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4_000)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=15, help="functions shown from the profile (0: no profile)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    base = postgres_base()
    print(
        f"state for delivery: {'PostgreSQL' if base else 'SQLite (no PostgreSQL server answers)'}; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        config_path = make_site(Path(tmp) / "site", args.posts, 25, rng)
        people = subscribers(max(args.subscribers, args.messages), rng)
        delivery = bench_delivery(config_path, people[: args.messages], args.runs, base)
        queue = bench_queue(config_path, people[: args.subscribers], args.runs, base)
        if args.top:
            profile(config_path, people[: args.messages], base, args.top)
    return {"delivery": delivery, "queue": queue}


if __name__ == "__main__":
    main()
