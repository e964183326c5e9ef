"""The benchmark corpus: same seed, same bytes (across processes); a tiny corpus publishes cleanly;
its Hugo copy holds the same posts, and the check that two builds wrote the same feeds sees differences.

No timing here: the figures come from benchmarks/run.py, not from tests (Hugo is not needed).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from lxml import etree

from publisher.config import load_config
from publisher.publish import live_posts, publish

from .conftest import NOW, REPO

GENERATOR = REPO / "benchmarks" / "corpus.py"
RUNNER = REPO / "benchmarks" / "run.py"


def _generate(out: Path, seed: int, hash_seed: str, posts: int = 30, *extra: str) -> None:
    """Run the generator as users do; a different PYTHONHASHSEED catches any set-order dependence."""
    sizes = ["--posts", str(posts), "--tags", "5", "--subscribers", "10", "--seed", str(seed)]
    subprocess.run(
        [sys.executable, str(GENERATOR), *sizes, *extra, str(out)],
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


def _front_matter(path: Path) -> tuple[dict, str]:
    """Read a Hugo post as Hugo does: YAML between --- lines, then the body (not with the publisher's reader)."""
    _, meta, body = path.read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(meta), body


def test_hugo_site_has_the_same_posts_tags_dates_and_links(tmp_path: Path) -> None:
    _generate(tmp_path, 3, "0", 30, "--hugo")
    config = load_config(tmp_path / "config.toml")
    posts = {post.source: post for post in live_posts(config, NOW)}
    hugo = tomllib.loads((tmp_path / "hugo" / "config.toml").read_text(encoding="utf-8"))
    assert (tmp_path / "hugo" / "layouts" / "_default" / "list.atom.xml").is_file()
    assert hugo["baseURL"] == config.site.base_url
    assert hugo["services"]["rss"]["limit"] == config.feeds.max_items
    folder = tmp_path / "hugo" / "content" / "posts"
    files = {path.relative_to(folder).as_posix(): path for path in folder.rglob("*.md")}
    assert sorted(files) == sorted(posts) and len(files) == 30

    revised = 0
    for source, post in posts.items():
        meta, body = _front_matter(files[source])
        assert meta["title"] == post.title
        assert meta["author"] == post.authors[0].name
        assert meta["tags"] == [tag.name for tag in post.tags]
        assert meta["slug"] == post.slug
        assert meta["date"] == post.published
        # Hugo's permalinks and the entry ids take the date's own offset: it must be the site's.
        assert meta["date"].utcoffset() == post.published.astimezone(config.site.tz).utcoffset()
        assert meta.get("updated", meta["date"]) == post.updated
        revised += "updated" in meta
        when = meta["date"]
        link = hugo["permalinks"]["posts"]
        for token, value in ((":year", f"{when:%Y}"), (":month", f"{when:%m}"), (":day", f"{when:%d}")):
            link = link.replace(token, value)
        assert hugo["baseURL"].rstrip("/") + link.replace(":slug", meta["slug"]) == post.url
        assert body == _front_matter(tmp_path / "content" / source)[1]
    assert 0 < revised < 30
    assert hugo["frontmatter"]["lastmod"][0] == "updated"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/run.py as a module (it imports its neighbours corpus.py and digest_bench.py)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import run

    return run


def test_feed_comparison_sees_missing_feeds_entries_and_other_titles(tmp_path: Path, runner: ModuleType) -> None:
    _generate(tmp_path / "site", 3, "0")
    config = load_config(tmp_path / "site" / "config.toml")
    publish(config, NOW)
    ours = runner.feed_entries(config.feeds.folder)
    assert len(ours) == 12 and all(len(entries) > 0 for entries in ours.values())
    site_rss = ours["rss.xml"]
    assert len(site_rss) == 20 and site_rss[0][1].startswith("https://bench.example.org/2026/")
    assert ours["atom.xml"] == site_rss  # Atom and RSS list the same entries the same way
    same = runner.compare_feeds(ours, runner.feed_entries(config.feeds.folder))
    assert same["same"] and not same["count_mismatch"]
    assert runner.verdict(same).startswith("same feeds and entries: 12 feeds, ")

    other = tmp_path / "other"
    shutil.copytree(config.feeds.folder, other)
    tree = etree.parse(str(other / "atom.xml"))
    title = tree.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title")
    title.text += " (edited)"
    tree.write(str(other / "atom.xml"))
    retitled = runner.compare_feeds(ours, runner.feed_entries(other))
    assert not retitled["same"] and not retitled["count_mismatch"] and retitled["entries_differ"] == ["atom.xml"]
    assert runner.verdict(retitled).startswith("DIFFERENT: ")

    rss = other / "rss.xml"
    tree = etree.parse(str(rss))
    channel = tree.find("channel")
    channel.remove(channel.findall("item")[-1])
    tree.write(str(rss))
    shorter = runner.compare_feeds(ours, runner.feed_entries(other))
    assert shorter["count_mismatch"] and shorter["entry_count_differs"] == ["rss.xml"]
    assert shorter["only_publisher"] == [] and shorter["entries"]["hugo"] == shorter["entries"]["publisher"] - 1

    dropped = sorted(other.rglob("rss.xml"))[-1]
    dropped.unlink()
    fewer = runner.compare_feeds(ours, runner.feed_entries(other))
    assert fewer["count_mismatch"] and fewer["only_publisher"] == [dropped.relative_to(other).as_posix()]
    assert fewer["feeds"] == {"publisher": 12, "hugo": 11}


def test_vs_hugo_without_hugo_skips_with_a_note(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--vs", "hugo", "--size", "1k", "--no-write"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},  # an empty folder: no hugo on it
    )
    assert done.returncode == 0, done.stderr
    assert "hugo is not on PATH" in done.stderr
    assert "generating" not in done.stderr


def test_senders_benchmark_runs_with_tiny_sizes() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "senders_bench.py"), "--messages", "12", "--subscribers", "20",
         "--posts", "6", "--runs", "1", "--top", "3"],
        capture_output=True, text=True, cwd=REPO / "benchmarks", timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "aiosmtpd: median messages/s 1 worker " in done.stdout and "; 1 -> 4 workers x" in done.stdout
    assert "queueing on sqlite: median " in done.stdout
    assert "where the time goes: one worker, " in done.stdout
