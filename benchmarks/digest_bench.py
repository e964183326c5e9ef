"""Digest benchmark: selection + render + queue for 100,000 subscribers, and SMTP delivery rate.

    .venv/bin/python benchmarks/digest_bench.py [--subscribers 100000] [--posts 60] [--messages 2000] [--runs 5]
        [--database-url postgresql://127.0.0.1:5432/test]

Subscribers are synthetic (seeded): each follows one to four of 100 tags drawn
Zipf-like (tag k with weight 1/k), one in ten follows every tag. The posts are
Markdown files published through the real publish step. Freezing a run is
timed end to end: selecting each subscriber's posts from the ledger, rendering
the shared HTML/text parts (Jinja, nh3, css-inline), and inserting the outbox
rows in one transaction: on SQLite, or with --database-url in a new schema of that PostgreSQL
database for each run (dropped afterwards). A large run renders on worker processes. Delivery sends a frozen run to aiosmtpd
(a separate process, the Sink handler) over one persistent connection.
Targets: >= 20,000 subscriber digests/s queued; >= 300 messages/s delivered.

Each figure is given in wall time and per CPU second of this process and the render workers it
waited for (resource.getrusage): on a shared, busy machine the CPU figure is the steadier one. For delivery the CPU figure
counts only the publisher's side; the wall figure also waits for aiosmtpd (another Python
process, on the same machine), which handles every line of every message.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.config import Config, load_config
from publisher.delivery import DeliveryReport, deliver
from publisher.digest import freeze_run
from publisher.model import Subscriber
from publisher.publish import live_posts, publish
from publisher.state import State, open_state

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TAGS = [f"Topic {k:03d}" for k in range(1, 101)]
WEIGHTS = [1 / k for k in range(1, 101)]
SECRET = b"benchmark-secret-0123456789"

CONFIG = """\
[site]
title = "Benchmark Site"
base_url = "https://bench.example.org/"
timezone = "UTC"

[site.author]
name = "Bench"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"

[[digests]]
name = "daily"
schedule = "daily"
time = "08:00"
max_items = 10
from_address = "Bench <digest@bench.example.org>"
"""


def make_site(root: Path, posts: int, port: int, rng: random.Random) -> Path:
    root.mkdir(parents=True)
    (root / "config.toml").write_text(CONFIG.format(port=port), encoding="utf-8")
    content = root / "content"
    content.mkdir()
    for n in range(posts):
        tags = sorted(set(rng.choices(TAGS, WEIGHTS, k=rng.randint(1, 3))))
        when = NOW - timedelta(days=6, hours=n * 2)
        body = "\n\n".join(f"Paragraph {p} of post {n}: " + "words " * 40 for p in range(4))
        (content / f"post-{n:04d}.md").write_text(
            f"---\ntitle: Post number {n} on {tags[0]}\ndate: {when:%Y-%m-%d %H:%M}\ntags: [{', '.join(tags)}]\n---\n\n"
            f"{body}\n",
            encoding="utf-8",
        )
    return root / "config.toml"


def subscribers(count: int, rng: random.Random) -> list[Subscriber]:
    out = []
    for n in range(count):
        tags = (
            None
            if rng.random() < 0.1
            else tuple(sorted({t.lower().replace(" ", "-") for t in rng.choices(TAGS, WEIGHTS, k=rng.randint(1, 4))}))
        )
        out.append(
            Subscriber(0, f"reader{n:06d}@example.org", f"Reader {n}" if n % 3 else "", tags, "active", NOW, NOW)
        )
    return out


def fresh_state(config_path: Path, people: list[Subscriber], name: str, database_url: str | None = None) -> tuple:
    """A config whose state (a new file, or a new schema of ``database_url``) holds the published
    posts and ``people``, nothing else."""
    text = config_path.read_text(encoding="utf-8")
    if database_url:
        schema = f"bench_{name}_{os.getpid()}"
        with psycopg_connect(database_url) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            db.execute(f"CREATE SCHEMA {schema}")
        url = f"{database_url}{'&' if '?' in database_url else '?'}options=-csearch_path%3D{schema}"
        state = f'url = "{url}"'
    else:
        state = f'path = "{name}.db"'
    config_path.write_text(text.split("\n[state]")[0] + f"\n[state]\n{state}\n", encoding="utf-8")
    config = load_config(config_path)
    publish(config, NOW)
    with open_state(config.state) as store, store.transaction():
        store.subscribers.insert(people)
    return config, live_posts(config, NOW)


def cpu_seconds() -> float:
    """User + system CPU time of this process and of the children it waited for (render workers):
    steadier than wall time on a shared, busy machine."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def psycopg_connect(url: str) -> Any:
    """A connection for creating and dropping schemas (psycopg is needed only with --database-url)."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


def drop_schemas(database_url: str | None) -> None:
    """The schemas fresh_state made in ``database_url``."""
    if database_url:
        with psycopg_connect(database_url) as db:
            for (schema,) in db.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"bench\\_%\\_{os.getpid()}",)
            ).fetchall():
                db.execute(f"DROP SCHEMA {schema} CASCADE")


def bench_queue(
    config_path: Path, people: list[Subscriber], runs: int, database_url: str | None = None
) -> dict[str, object]:
    rates, cpu_rates, sizes = [], [], []
    for run in range(runs):
        config, posts = fresh_state(config_path, people, f"queue{run}", database_url)
        digest = config.digest("daily")
        with open_state(config.state) as store:
            before = _state_size(store, config)
            started, cpu = time.perf_counter(), cpu_seconds()
            plan = freeze_run(config, store, digest, NOW - timedelta(hours=4), posts, NOW, SECRET)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            sizes.append(_state_size(store, config) - before)
        rates.append(len(people) / seconds)
        cpu_rates.append(len(people) / cpu)
        print(
            f"  run {run + 1}: {len(plan.messages):,} digests queued, {len(plan.renders):,} renders, "
            f"{seconds:.2f} s ({cpu:.2f} s CPU) -> {len(people) / seconds:,.0f} subscribers/s"
        )
    print(
        f"selection + render + queue on {'PostgreSQL' if database_url else 'SQLite'}: median "
        f"{statistics.median(rates):,.0f} subscribers/s wall, {statistics.median(cpu_rates):,.0f} per CPU second, "
        f"for {len(people):,} subscribers (target >= 20,000); outbox adds {statistics.median(sizes) / 2**20:.1f} MiB"
    )
    return {"subscribers": len(people), "per_s": _spread(rates), "per_cpu_s": _spread(cpu_rates), "target": 20_000}


def _state_size(store: State, config: Config) -> int:
    """Bytes the state takes: the SQLite file once its log is written back, or the PostgreSQL schema's tables."""
    if store.db.dialect.name == "sqlite":
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return config.state.path.stat().st_size
    return int(
        store.db.value(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
    )


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"aiosmtpd did not start on port {port}")


def bench_delivery(
    config_path: Path, people: list[Subscriber], runs: int, database_url: str | None = None
) -> dict[str, object]:
    rates, cpu_rates = [], []
    for run in range(runs):
        config, posts = fresh_state(config_path, people, f"deliver{run}", database_url)
        digest = config.digest("daily")
        with open_state(config.state) as store:
            plan = freeze_run(config, store, digest, NOW - timedelta(hours=4), posts, NOW, SECRET)
            report = DeliveryReport()
            started, cpu = time.perf_counter(), cpu_seconds()
            deliver(config, store, [digest], report, clock=lambda: datetime.now(UTC), sleep=time.sleep)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        assert report.sent == len(plan.messages), report
        rates.append(report.sent / seconds)
        cpu_rates.append(report.sent / cpu)
        print(
            f"  run {run + 1}: {report.sent:,} messages in {seconds:.2f} s ({cpu:.2f} s CPU in publisher) "
            f"-> {report.sent / seconds:,.0f} messages/s"
        )
    print(
        f"delivery to a local aiosmtpd over one connection: median {statistics.median(rates):,.0f} messages/s wall, "
        f"{statistics.median(cpu_rates):,.0f} per publisher CPU second (target >= 300)"
    )
    return {"messages": len(people), "per_s": _spread(rates), "per_cpu_s": _spread(cpu_rates), "target": 300}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run both benchmarks; the figures are printed and returned (benchmarks/run.py stores them)."""
    os.environ.setdefault("PUBLISHER_SECRET", SECRET.decode())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL database to put the state in (a new schema per run)")
    parser.add_argument("--no-delivery", action="store_true", help="only the queue figure")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_path = make_site(Path(tmp) / "site", args.posts, port, rng)
            people = subscribers(args.subscribers, rng)
            print(f"{args.posts} posts on {len(TAGS)} tags, {len(people):,} subscribers, seed {args.seed}")
            queue = bench_queue(config_path, people, args.runs, args.database_url)
            delivery = None
            if not args.no_delivery:
                wait_for_port(port)
                delivery = bench_delivery(config_path, people[: args.messages], args.runs, args.database_url)
    finally:
        server.terminate()
        server.wait()
        drop_schemas(args.database_url)
    return {
        "posts": args.posts,
        "seed": args.seed,
        "runs": args.runs,
        "state": "postgresql" if args.database_url else "sqlite",
        "queue": queue,
        "delivery": delivery,
    }


if __name__ == "__main__":
    main()
