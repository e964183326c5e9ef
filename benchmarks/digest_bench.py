"""Digest benchmark: selection + render + queue for 100,000 subscribers, and SMTP delivery rate.

    .venv/bin/python benchmarks/digest_bench.py [--subscribers 100000] [--posts 60] [--messages 2000] [--runs 5]

Subscribers are synthetic (seeded): each follows one to four of 100 tags drawn
Zipf-like (tag k with weight 1/k), one in ten follows every tag. The posts are
Markdown files published through the real publish step. Freezing a run is
timed end to end: selecting each subscriber's posts from the ledger, rendering
the shared HTML/text parts (Jinja, nh3, css-inline), and inserting the outbox
rows in one SQLite transaction. Delivery sends a frozen run to aiosmtpd
(a separate process, the Sink handler) over one persistent connection.
Targets: >= 20,000 subscriber digests/s queued; >= 300 messages/s delivered.

Each figure is given in wall time and per CPU second of this process (resource.getrusage):
on a shared, busy machine the CPU figure is the steadier one. For delivery the CPU figure
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

from publisher.config import load_config
from publisher.delivery import DeliveryReport, deliver
from publisher.digest import freeze_run
from publisher.model import Subscriber
from publisher.publish import live_posts, publish
from publisher.state import open_state

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


def fresh_state(config_path: Path, people: list[Subscriber], name: str) -> tuple:
    """A config whose state file holds the published posts and ``people``, nothing else."""
    text = config_path.read_text(encoding="utf-8")
    state = config_path.parent / f"{name}.db"
    config_path.write_text(text.split("\n[state]")[0] + f'\n[state]\npath = "{state.name}"\n', encoding="utf-8")
    config = load_config(config_path)
    publish(config, NOW)
    with open_state(config.state) as store, store.transaction():
        store.subscribers.insert(people)
    return config, live_posts(config, NOW)


def cpu_seconds() -> float:
    """User + system CPU time of this process: steadier than wall time on a shared, busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_queue(config_path: Path, people: list[Subscriber], runs: int) -> dict[str, object]:
    rates, cpu_rates, sizes = [], [], []
    for run in range(runs):
        config, posts = fresh_state(config_path, people, f"queue{run}")
        digest = config.digest("daily")
        with open_state(config.state) as store:
            before = config.state.path.stat().st_size
            started, cpu = time.perf_counter(), cpu_seconds()
            plan = freeze_run(config, store, digest, NOW - timedelta(hours=4), posts, NOW, SECRET)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes.append(config.state.path.stat().st_size - before)
        rates.append(len(people) / seconds)
        cpu_rates.append(len(people) / cpu)
        print(
            f"  run {run + 1}: {len(plan.messages):,} digests queued, {len(plan.renders):,} renders, "
            f"{seconds:.2f} s ({cpu:.2f} s CPU) -> {len(people) / seconds:,.0f} subscribers/s"
        )
    print(
        f"selection + render + queue: median {statistics.median(rates):,.0f} subscribers/s wall, "
        f"{statistics.median(cpu_rates):,.0f} per CPU second, for {len(people):,} subscribers (target >= 20,000); "
        f"outbox adds {statistics.median(sizes) / 2**20:.1f} MiB"
    )
    return {"subscribers": len(people), "per_s": _spread(rates), "per_cpu_s": _spread(cpu_rates), "target": 20_000}


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"aiosmtpd did not start on port {port}")


def bench_delivery(config_path: Path, people: list[Subscriber], runs: int) -> dict[str, object]:
    rates, cpu_rates = [], []
    for run in range(runs):
        config, posts = fresh_state(config_path, people, f"deliver{run}")
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
            queue = bench_queue(config_path, people, args.runs)
            wait_for_port(port)
            delivery = bench_delivery(config_path, people[: args.messages], args.runs)
    finally:
        server.terminate()
        server.wait()
    return {"posts": args.posts, "seed": args.seed, "runs": args.runs, "queue": queue, "delivery": delivery}


if __name__ == "__main__":
    main()
