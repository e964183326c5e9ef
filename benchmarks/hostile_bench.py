"""Seconds per MB of source for the Markdown that used to stall a publish.

Each post is parsed as publish parses it (front matter, cmark, caps, sanitiser), in
this process, several times; the median is printed with the post's size and its cost
per MB. The target is about 1 s per MB whatever the input.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from publisher.config import load_config
from publisher.content import parse_post

CASES: dict[str, Callable[[], str]] = {
    "100,000 '>' on one line": lambda: ">" * 100_000 + " deep\n",
    "200 KB of '>' lines": lambda: (">" * 200 + " x\n") * 1_000,
    "100,000 <div>": lambda: "<div>" * 100_000 + "x\n",
    "1 MB of ordinary prose": lambda: "A paragraph of *ordinary* text with a [link](/x/).\n\n" * 20_000,
    "3,000 nested list levels": lambda: "".join("  " * i + "- item\n" for i in range(3_000)),
}
CONFIG = '[site]\ntitle = "B"\nbase_url = "https://example.org/"\n[site.author]\nname = "A"\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.toml").write_text(CONFIG, encoding="utf-8")
        config = load_config(Path(folder) / "config.toml")
        print(f"{'post':28} {'size':>9} {'median':>9} {'per MB':>9}")
        for name, make in CASES.items():
            text = "---\ntitle: T\ndate: 2012-01-01\n---\n" + make()
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                parse_post(text, "x.md", config, [])
                seconds.append(time.perf_counter() - started)
            median, size = statistics.median(seconds), len(text.encode()) / 1_000_000
            print(f"{name:28} {size:7.2f} MB {median:8.3f} s {median / size:7.2f} s")


if __name__ == "__main__":
    main()
