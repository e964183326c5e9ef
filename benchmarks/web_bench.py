"""The web app's anonymous pages at size: per-request median of ``GET /`` and of a tag page.

    python benchmarks/web_bench.py                      # 10,000 posts / 1,000 tags
    python benchmarks/web_bench.py --posts 1000 --tags 100 --requests 200

Generates the corpus (corpus.py) under benchmarks/corpus/, publishes it once, then drives the
WSGI app through Werkzeug's test client (no sockets: the app's own cost). The target is
<= 10 ms per request whatever the number of posts: the pages read the tag table a publish
fills, never the posts. Prints one line per page: median, 95th percentile and page size.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from publisher.store import Store

from publisher.config import load_config
from publisher.publish import publish
from publisher.web import create_app

HERE = Path(__file__).resolve().parent
NOW = datetime.fromisoformat("2026-11-27T12:00:00+00:00")  # the corpus's fixed "now": every post live


def site(posts: int, tags: int, seed: int) -> Path:
    """The corpus folder, generated and published once (kept for later runs)."""
    root = HERE / "corpus" / f"{posts}-{tags}-{seed}"
    if not (root / "config.toml").is_file():
        sizes = ["--posts", str(posts), "--tags", str(tags), "--seed", str(seed)]
        subprocess.run([sys.executable, str(HERE / "corpus.py"), *sizes, str(root)], check=True)
    config = load_config(root / "config.toml")
    started = time.perf_counter()
    report = publish(config, NOW, keep_going=True)
    print(f"publish: {report.posts:,} posts in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return root


def measure(client, path: str, requests: int) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    size = 0
    for _ in range(10):  # warm: templates compiled, catalogs read
        size = len(client.get(path, headers={"Accept-Language": "fr"}).data)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers={"Accept-Language": "fr"})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    root = site(args.posts, args.tags, args.seed)
    config = load_config(root / "config.toml")
    app = create_app(config, secret=b"benchmark-secret-0123456789abcdef", now=lambda: NOW, mailer=False)
    with Store(config.state.path) as store:
        total, tags = store.tag_summaries()
        busiest = max(tags, key=lambda t: t.posts)
    client = app.test_client()
    print(f"{args.posts:,} posts, {total:,} tags; {args.requests} requests each (Accept-Language: fr)")
    for label, path in (("GET /", "/"), ("GET /?q=a", "/?q=a"), ("tag page", f"/tags/{busiest.slug}")):
        times, size = measure(client, path, args.requests)
        ms = sorted(t * 1000 for t in times)
        p95 = ms[int(len(ms) * 0.95) - 1]
        print(
            f"{label:<10} {path:<32} median {statistics.median(ms):6.2f} ms  p95 {p95:6.2f} ms  {size / 1024:6.1f} KiB"
        )


if __name__ == "__main__":
    main()
