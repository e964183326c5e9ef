"""The benchmark corpus: same seed, same bytes (across processes); a tiny corpus publishes cleanly.

No timing here: the figures come from benchmarks/run.py, not from tests.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from lxml import etree

from publisher.config import load_config
from publisher.publish import live_posts, publish

from .conftest import NOW, REPO

GENERATOR = REPO / "benchmarks" / "corpus.py"


def _generate(out: Path, seed: int, hash_seed: str, posts: int = 30) -> None:
    """Run the generator as users do; a different PYTHONHASHSEED catches any set-order dependence."""
    sizes = ["--posts", str(posts), "--tags", "5", "--subscribers", "10", "--seed", str(seed)]
    subprocess.run(
        [sys.executable, str(GENERATOR), *sizes, str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    _generate(tmp_path / "a", seed=3, hash_seed="1")
    _generate(tmp_path / "b", seed=3, hash_seed="2")
    _generate(tmp_path / "c", seed=4, hash_seed="1")
    first = _files(tmp_path / "a")
    assert first == _files(tmp_path / "b")
    assert first != _files(tmp_path / "c")
    posts = [name for name in first if name.startswith("content/")]
    assert len(posts) == 30 and all(name.endswith(".md") for name in posts)
    assert {"config.toml", "subscribers.csv"} <= set(first)
    bodies = b"".join(first[name] for name in posts).decode()
    for needle in ("\n## ", "\n- ", "](https://", "](/", "&", "<", ">"):
        assert needle in bodies


def test_regenerating_replaces_the_content_folder(tmp_path: Path) -> None:
    _generate(tmp_path, seed=3, hash_seed="0", posts=30)
    _generate(tmp_path, seed=3, hash_seed="0", posts=10)
    assert len(list((tmp_path / "content").rglob("*.md"))) == 10


def test_tiny_corpus_publishes_site_and_tag_feeds(tmp_path: Path) -> None:
    _generate(tmp_path, seed=3, hash_seed="0")
    config = load_config(tmp_path / "config.toml")
    report = publish(config, NOW)
    assert report.problems == [] and report.warnings == []
    assert report.posts == 30
    slugs = {tag.slug for post in live_posts(config, NOW) for tag in post.tags}
    expected = {"atom.xml", "rss.xml"} | {f"tags/{slug}/{fmt}.xml" for slug in slugs for fmt in ("atom", "rss")}
    feeds = {p.relative_to(config.feeds.folder).as_posix() for p in config.feeds.folder.rglob("*.xml")}
    assert feeds == expected  # site-wide and per-tag only: no author feeds
    for rel in feeds:
        etree.parse(str(config.feeds.folder / rel))  # well-formed despite the &, < and > in the text
    assert publish(config, NOW).written == []

    with (tmp_path / "subscribers.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and all(row["email"] and row["name"] and row["tags"] for row in rows)
