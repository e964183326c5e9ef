"""Benchmark runner: medians (and min–max) of wall time and peak memory, one fresh process per measurement.

    .venv/bin/python benchmarks/run.py [--runs 5] [--large] [--size 1k --size 10k] [--suite publish]
    .venv/bin/python benchmarks/run.py --vs hugo [--runs 3]   # cold builds, publisher and Hugo in turn

Each measured command runs in its own child process, reaped with ``os.wait4`` for
its CPU time. Peak memory is not taken from ``ru_maxrss``: ``getrusage(RUSAGE_CHILDREN)``
is the maximum over every child so far, and even a single child's ``ru_maxrss`` starts
at the RSS of the process that forked it (exec records the parent's high-water mark),
so a 10 MiB ``python -c pass`` reads as big as this runner. Instead the child writes
its own ``VmHWM`` (high-water RSS of its own address space) when it exits, and a
thread samples the summed PSS of the child and any worker processes it starts; the
memory figure is the larger of the two. Results go to the screen as a table and to
benchmarks/results/<suite>-<N>-<T>.json with the core count and the versions used.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import importlib.util
import itertools
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import corpus  # benchmarks/corpus.py: this script's folder is first on sys.path
import digest_bench
from lxml import etree
from rich.console import Console
from rich.table import Table

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
CORPUS_ROOT = BENCHMARKS / "corpus"  # gitignored
RESULTS = BENCHMARKS / "results"  # committed
NOW = "2026-11-27T12:00:00+00:00"  # every generated post is older: results never depend on the clock
SEED = 1
VERSIONED = (
    "publisher",
    "feedgen",
    "markdown-it-py",
    "markdown-it-pyrs",
    "cmarkgfm",
    "lxml",
    "nh3",
    "PyYAML",
    "python-dateutil",
    "click",
)
# The console script, spelled so that it runs under the interpreter running this file.
# Its own VmHWM goes to $BENCH_HWM_FILE at exit (pool workers leave by os._exit, so only the main process writes).
ENTRY = """\
import atexit, os, sys
def _hwm():
    with open("/proc/self/status") as status, open(os.environ["BENCH_HWM_FILE"], "w") as out:
        out.write(next((line.split()[1] for line in status if line.startswith("VmHWM:")), "0"))
if os.environ.get("BENCH_HWM_FILE") and os.path.exists("/proc/self/status"):
    atexit.register(_hwm)
from publisher.cli import run
sys.exit(run(sys.argv[1:]))
"""
SUMMARY = re.compile(r"; (\d+) feeds: (\d+) written, (\d+) unchanged, (\d+) removed \(([\d.]+) s\)")

console = Console(stderr=True)
# Piped or redirected output gets a width that fits the table, not rich's default of 80.
screen = Console() if sys.stdout.isatty() else Console(width=170)


@dataclass(frozen=True)
class Size:
    """One corpus shape; M (subscribers) is for the digest and delivery suites."""

    posts: int
    tags: int
    subscribers: int

    @property
    def label(self) -> str:
        return f"N={self.posts:,} T={self.tags:,}"

    def folder(self) -> Path:
        return CORPUS_ROOT / f"{self.posts}-{self.tags}-{SEED}"


SIZES = {
    "1k": Size(1_000, 100, 1_000),
    "10k": Size(10_000, 1_000, 10_000),
    "100k": Size(100_000, 10_000, 100_000),  # --large
}


@dataclass(frozen=True)
class Target:
    """A limit from the benchmarks issue (for a 2-core machine); None where it sets none."""

    wall_s: float | None = None
    memory_mib: float | None = None


# Targets from the issue: 10,000 posts / 1,000 tags; 100,000 / 10,000 only has a memory limit
# (and "time growing about linearly", which the scaling table shows).
TARGETS: dict[tuple[int, str], Target] = {
    (10_000, "cold"): Target(4.0, 150),
    (10_000, "no-op"): Target(0.5, 150),
    (10_000, "edit one post"): Target(1.0, 150),
    (10_000, "add one post"): Target(None, 150),
    **{(100_000, name): Target(None, 600) for name in ("cold", "no-op", "edit one post", "add one post")},
    (10_000, "publisher cold"): Target(None, 150),
    (100_000, "publisher cold"): Target(None, 600),
}
# Cold publish against Hugo building the same feeds: the most publisher's median wall time may be
# as a multiple of Hugo's, by corpus size.
HUGO_RATIO_TARGETS = {1_000: 1.0, 10_000: 0.67}


@dataclass(frozen=True)
class Sample:
    """One measured child process."""

    wall_s: float
    cpu_s: float
    peak_rss_kib: int  # VmHWM of the child itself (reported at exit, else sampled); ru_maxrss without /proc
    ru_maxrss_kib: int  # from wait4: at least the runner's RSS at fork, and the max over the tree, not the sum
    peak_tree_pss_kib: int  # sampled sum over the child and its workers; 0 if /proc is missing
    processes: int  # most processes seen at once in the tree
    in_process_s: float | None  # publish() itself, as the CLI's summary line reports it
    feeds_written: int | None
    feeds_unchanged: int | None


@dataclass(frozen=True)
class Scenario:
    """One measured step; ``prepare`` runs (unmeasured) just before it, in sequence with the others."""

    name: str
    argv: list[str]
    prepare: Callable[[], None] | None = None
    check: Callable[[Sample], str | None] | None = None  # a message when the step did the wrong thing


@dataclass
class Suite:
    """A sequence of scenarios run in order, ``runs`` times, with ``restore`` between runs."""

    name: str  # the JSON file is <name>-<N>-<T>.json
    scenarios: list[Scenario]
    restore: Callable[[], None]
    samples: dict[str, list[Sample]] = field(default_factory=dict)


def _descendants(pid: int) -> list[int]:
    """pid and every process below it, from /proc/<pid>/task/<tid>/children (Linux)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    queue.extend(int(child) for child in handle.read().split())
        except OSError:  # gone already, or no /proc
            continue
    return found


def _pss_kib(pid: int) -> int:
    """Proportional set size: pages shared with forked workers are counted once across the tree."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _status_kib(pid: int, key: str) -> int:
    """A memory line of /proc/<pid>/status, e.g. VmHWM; 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next((int(line.split()[1]) for line in handle if line.startswith(key)), 0)
    except (OSError, ValueError):
        return 0


class TreeMemory(threading.Thread):
    """Samples the summed PSS of a process and its descendants, e.g. a publish's worker pool.

    The child's own VmHWM misses its workers and ``ru_maxrss`` is the largest process of the
    tree, not the sum, so a publish that parses on every core would look smaller than it is.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kib = 0
        self.hwm_kib = 0  # the root's own VmHWM, for children that do not report it at exit (Hugo)
        self.processes = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            pids = _descendants(self.pid)
            self.processes = max(self.processes, len(pids))
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(pid) for pid in pids))
            self.hwm_kib = max(self.hwm_kib, _status_kib(self.pid, "VmHWM:"))
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def measure(argv: list[str], cwd: Path) -> Sample:
    """Run argv in a fresh process: wall time around it, CPU time from wait4, peak memory as above."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        hwm_file = Path(tmp) / "vmhwm"
        env = {**os.environ, "BENCH_HWM_FILE": str(hwm_file)}
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        sampler = TreeMemory(child.pid)
        sampler.start()
        # wait4 on a child that has reaped its own children (a process pool) reports the sum of
        # their CPU times and the largest maxrss among them (Linux getrusage RUSAGE_BOTH).
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        own_hwm = int(hwm_file.read_text() or 0) if hwm_file.exists() else 0
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {child.returncode}:\n{stderr[-2000:]}")
    found = SUMMARY.search(stdout)
    return Sample(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_kib=own_hwm or sampler.hwm_kib or usage.ru_maxrss,
        ru_maxrss_kib=usage.ru_maxrss,  # KiB on Linux
        peak_tree_pss_kib=sampler.peak_kib,
        processes=sampler.processes,
        in_process_s=float(found.group(5)) if found else None,
        feeds_written=int(found.group(2)) if found else None,
        feeds_unchanged=int(found.group(3)) if found else None,
    )


def write_result(name: str, report: dict[str, Any]) -> None:
    """One run's figures as benchmarks/results/NAME (JSON, committed with the change they measure)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.log(f"wrote {path.relative_to(REPO)}")


def publish_argv(site: Path) -> list[str]:
    """`publisher --site DIR publish --now NOW`, without -q so the summary line gives publish()'s own time."""
    return [sys.executable, "-c", ENTRY, "--site", str(site), "publish", "--now", NOW]


def _expect(what: str, ok: Callable[[int, int], bool]) -> Callable[[Sample], str | None]:
    """A check on (feeds written, feeds unchanged), so a benchmark of the wrong work fails loudly."""

    def check(sample: Sample) -> str | None:
        written, unchanged = sample.feeds_written, sample.feeds_unchanged
        if written is None or unchanged is None or ok(written, unchanged):
            return None
        return f"expected {what}, got {written} written and {unchanged} unchanged"

    return check


def publish_suite(site: Path, paths: list[str], size: Size) -> Suite:
    """Startup, cold, no-op, one-post edit and one-post add, in that order, on one corpus.

    The edited post is the newest, so it is in the site feed and in each of its
    tags' feeds; the added post is newer still and has the most popular tag and
    the last one of the long tail.
    """
    content = site / "content"
    edited = content / paths[-1]
    original = edited.read_bytes()
    added, added_text = _added_post(site, size)
    publish = publish_argv(site)

    def cold() -> None:
        _cold(site)

    def edit() -> None:
        edited.write_bytes(original + b"\nA closing paragraph added by the benchmark: R&D, a < b, c > d.\n")

    def add() -> None:
        added.write_bytes(added_text.encode("utf-8"))

    def restore() -> None:
        edited.write_bytes(original)
        added.unlink(missing_ok=True)

    return Suite(
        "publish",
        [
            Scenario("startup", [sys.executable, "-c", ENTRY, "--version"]),
            Scenario("cold", publish, cold, _expect("every feed written", lambda w, u: w > 0 and u == 0)),
            Scenario("no-op", publish, None, _expect("no feed written", lambda w, u: w == 0)),
            Scenario("edit one post", publish, edit, _expect("a few feeds written", lambda w, u: 0 < w < u)),
            Scenario("add one post", publish, add, _expect("a few feeds written", lambda w, u: 0 < w < u)),
        ],
        restore,
    )


def _added_post(site: Path, size: Size) -> tuple[Path, str]:
    """The post the benchmarks add: newer than every other, with the most popular tag and the last one."""
    names = corpus.tag_names(size.tags, SEED)
    text = corpus.post_text(
        "A post added by the benchmark & its < and > characters",
        datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        corpus.AUTHORS[0],
        [names[0], names[-1]],
        corpus.post_body(random.Random(f"{SEED}-added")),
    )
    return site / "content" / "2026" / "2026-11-20-benchmark-added-post.md", text


def _cold(site: Path) -> None:
    shutil.rmtree(site / ".publisher", ignore_errors=True)
    shutil.rmtree(site / "feeds", ignore_errors=True)


# Digest and delivery suites go here, built like publish_suite: a list of Scenarios
# (e.g. "digest render", "delivery to a local SMTP server") on the same corpus, using
# OUT_DIR/subscribers.csv. Register them in SUITES; results land in <name>-<N>-<T>.json.
SuiteFactory = Callable[[Path, list[str], Size], Suite]
SUITES: dict[str, SuiteFactory] = {"publish": publish_suite}


def hugo_argv(hugo: str, site: Path) -> list[str]:
    """Hugo on the site corpus.write_corpus(hugo=True) made; its caches stay inside the site, cleared when cold."""
    return [hugo, "--source", str(site / "hugo"), "--cacheDir", str(site / "hugo" / ".cache"), "--quiet"]


def vs_hugo_suite(site: Path, hugo: str) -> Suite:
    """Cold builds of the same feeds, publisher then Hugo, alternately in every run."""
    hugo_site = site / "hugo"

    def publisher_cold() -> None:
        _cold(site)

    def hugo_cold() -> None:
        for name in ("public", "resources", ".cache"):
            shutil.rmtree(hugo_site / name, ignore_errors=True)

    return Suite(
        "vs-hugo",
        [
            Scenario(
                "publisher cold",
                publish_argv(site),
                publisher_cold,
                _expect("every feed written", lambda w, u: w > 0 and u == 0),
            ),
            Scenario("hugo cold", hugo_argv(hugo, site), hugo_cold),
        ],
        lambda: None,  # each run starts cold; the last outputs stay for comparing
    )


def every_format_site(site: Path) -> Path:
    """A second site publishing the same content/ with every format, RFC 5005 archives and OPML."""
    every = site.parent / f"{site.name}-every-format"
    every.mkdir(exist_ok=True)
    text = (site / "config.toml").read_text(encoding="utf-8")
    text = text.replace('formats = ["atom", "rss"]', 'formats = ["atom", "rss", "json"]\narchives = true\nopml = true')
    text = text.replace('folder = "content"', f"folder = {json.dumps(str(site / 'content'))}")
    (every / "config.toml").write_text(text, encoding="utf-8")
    return every


def vs_formats_suite(site: Path, every: Path) -> Suite:
    """Cold and no-op publishes of the same posts, Atom and RSS only then every format with
    archives and OPML, alternately in every run."""
    all_written = _expect("every feed written", lambda w, u: w > 0 and u == 0)
    none_written = _expect("no feed written", lambda w, u: w == 0)
    return Suite(
        "vs-formats",
        [
            Scenario("atom+rss cold", publish_argv(site), lambda: _cold(site), all_written),
            Scenario("atom+rss no-op", publish_argv(site), None, none_written),
            Scenario("every format cold", publish_argv(every), lambda: _cold(every), all_written),
            Scenario("every format no-op", publish_argv(every), None, none_written),
        ],
        lambda: None,
    )


def _files_below(folder: Path) -> dict[str, tuple[int, int]]:
    files = (p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.stat().st_size) for p in files}


def rewritten_by_a_new_post(every: Path, size: Size) -> list[str]:
    """The files (under feeds/) that publishing one new post changes on the every-format site."""
    added, text = _added_post(every.parent / every.name.removesuffix("-every-format"), size)
    measure(publish_argv(every), every)  # the site as generated, published
    before = _files_below(every / "feeds")
    added.write_bytes(text.encode("utf-8"))
    try:
        measure(publish_argv(every), every)
    finally:
        added.unlink()
    after = _files_below(every / "feeds")
    measure(publish_argv(every), every)  # and back
    return sorted(rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel))


def run_vs_formats(sizes: list[str], runs: int, write: bool) -> None:
    """Every format, archives and OPML against Atom and RSS only: ratios of medians in one run,
    and how many files one new post rewrites against the bound the archive design promises."""
    env = environment()
    reports = []
    for key in sizes:
        size = SIZES[key]
        site = size.folder()
        console.log(f"generating {size.label} in {site}")
        corpus.write_corpus(site, size.posts, size.tags, size.subscribers, SEED)
        every = every_format_site(site)
        suite = vs_formats_suite(site, every)
        load_before, source_before = _load(), _source_digest()
        run_suite(suite, site, runs, f"{key} vs-formats")
        results = {s.name: scenario_result(size, s, suite.samples[s.name], site) for s in suite.scenarios}
        ratios = {
            step: {
                fig: results[f"every format {step}"][fig]["median"] / results[f"atom+rss {step}"][fig]["median"]
                for fig in ("wall_s", "cpu_s", "peak_memory_mib")
            }
            for step in ("cold", "no-op")
        }
        rewritten = rewritten_by_a_new_post(every, size)
        feeds, formats, archive_formats = 3, 3, 2  # the site feed and the new post's two tags
        bound = feeds * formats + feeds * archive_formats
        report = {
            "suite": "vs-formats",
            "corpus": {"label": size.label, "posts": size.posts, "tags": size.tags, "seed": SEED},
            "runs": runs,
            "every_format_config": (every / "config.toml").read_text(encoding="utf-8"),
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": env,
            "load_average": {"before": load_before, "after": _load()},
            "publisher_source_sha256": {"before": source_before, "after": _source_digest()},
            "scenarios": list(results.values()),
            "ratio_every_format_to_atom_rss": ratios,  # of the medians
            "new_post_rewrites": {"files": rewritten, "count": len(rewritten), "bound": bound},
        }
        reports.append(report)
        if write:
            write_result(f"vs-formats-{size.posts}-{size.tags}.json", report)
    print_table(f"every format, archives and OPML vs Atom+RSS: median (min–max); {env['nproc']} cores", reports)
    for report in reports:
        ratios, new = report["ratio_every_format_to_atom_rss"], report["new_post_rewrites"]
        for step, figures in ratios.items():
            screen.print(
                f"{report['corpus']['label']} {step}: every format / atom+rss, medians: wall {figures['wall_s']:.2f}×, "
                f"CPU {figures['cpu_s']:.2f}×, peak memory {figures['peak_memory_mib']:.2f}×"
            )
        screen.print(
            f"{report['corpus']['label']}: a new post rewrote {new['count']} files (bound {new['bound']}: "
            f"3 feeds × 3 formats + one archive page per feed and XML format): {', '.join(new['files'])}"
        )


FeedEntries = dict[str, list[tuple[str, str, str]]]
ATOM = "{http://www.w3.org/2005/Atom}"


def feed_entries(folder: Path) -> FeedEntries:
    """Every feed below folder (path relative to it) -> its entries' (id, link, title), in feed order."""
    feeds: FeedEntries = {}
    for path in sorted(folder.rglob("*.xml")):
        root = etree.parse(str(path)).getroot()
        if root.tag == "rss":
            entries = [
                (item.findtext("guid"), item.findtext("link"), item.findtext("title")) for item in root.iter("item")
            ]
        else:
            entries = [
                (
                    entry.findtext(f"{ATOM}id"),
                    next(
                        (
                            link.get("href")
                            for link in entry.iter(f"{ATOM}link")
                            if link.get("rel", "alternate") == "alternate"
                        ),
                        None,
                    ),
                    entry.findtext(f"{ATOM}title"),
                )
                for entry in root.iter(f"{ATOM}entry")
            ]
        feeds[path.relative_to(folder).as_posix()] = [tuple(str(v).strip() for v in entry) for entry in entries]
    return feeds


def _bytes_below(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def compare_feeds(ours: FeedEntries, theirs: FeedEntries) -> dict[str, Any]:
    """Which feeds and entries (ids, links, titles, in order) the two outputs do not share.

    ``count_mismatch`` says the two wrote a different number of feeds, or of entries in
    some feed: then they did different work and no ratio between them means anything.
    """
    only_ours, only_theirs = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    common = sorted(set(ours) & set(theirs))
    counts = [rel for rel in common if len(ours[rel]) != len(theirs[rel])]
    differing = [rel for rel in common if ours[rel] != theirs[rel]]
    first = None
    if differing:
        rel = differing[0]
        index, (a, b) = next(
            ((i, pair) for i, pair in enumerate(itertools.zip_longest(ours[rel], theirs[rel])) if pair[0] != pair[1])
        )
        first = f"{rel} entry {index + 1}: publisher {a}, hugo {b}"
    return {
        "feeds": {"publisher": len(ours), "hugo": len(theirs)},
        "entries": {"publisher": sum(map(len, ours.values())), "hugo": sum(map(len, theirs.values()))},
        "only_publisher": only_ours,
        "only_hugo": only_theirs,
        "entry_count_differs": counts,
        "entries_differ": differing,
        "first_difference": first,
        "count_mismatch": bool(only_ours or only_theirs or counts),
        "same": not (only_ours or only_theirs or differing),
    }


def verdict(comparison: dict[str, Any]) -> str:
    """One line: the same feeds and entries, or what differs."""
    feeds, entries = comparison["feeds"], comparison["entries"]
    if comparison["same"]:
        return (
            f"same feeds and entries: {feeds['hugo']:,} feeds, {entries['hugo']:,} entries, "
            "equal ids, links and titles in the same order"
        )
    return (
        f"DIFFERENT: {feeds['publisher']:,} feeds / {entries['publisher']:,} entries from publisher, "
        f"{feeds['hugo']:,} / {entries['hugo']:,} from Hugo; {len(comparison['only_publisher'])} only from publisher, "
        f"{len(comparison['only_hugo'])} only from Hugo, {len(comparison['entries_differ'])} with other entries; "
        f"first: {comparison['first_difference'] or (comparison['only_publisher'] + comparison['only_hugo'])[0]}"
    )


def _hugo_version(hugo: str) -> str:
    return subprocess.run([hugo, "version"], capture_output=True, text=True, check=True).stdout.strip()


def run_vs_hugo(hugo: str, sizes: list[str], runs_of: Callable[[str], int], write: bool) -> None:
    """Publisher and Hugo cold, alternately, on each corpus; ratios of medians; the same feeds checked."""
    env = {**environment(), "hugo": _hugo_version(hugo)}
    console.log(env["hugo"])
    reports = []
    for key in sizes:
        size = SIZES[key]
        site = size.folder()
        console.log(f"generating {size.label} and its Hugo site in {site}")
        corpus.write_corpus(site, size.posts, size.tags, size.subscribers, SEED, hugo=True)
        suite = vs_hugo_suite(site, hugo)
        load_before, source_before = _load(), _source_digest()
        run_suite(suite, site, runs_of(key), f"{key} vs-hugo")
        load_after, source_after = _load(), _source_digest()
        comparison = compare_feeds(feed_entries(site / "feeds"), feed_entries(site / "hugo" / "public"))
        line = verdict(comparison)
        screen.print(f"{size.label}: {line}" if comparison["same"] else f"[red]{size.label}: {line}[/]")
        if comparison["count_mismatch"]:
            raise SystemExit(
                f"{size.label}: publisher and Hugo wrote different feeds; the timings compare different work"
            )
        if source_after != source_before:
            console.log(f"[red]warning:[/] publisher/ changed while {key} vs-hugo ran; its figures mix versions")
        results = [scenario_result(size, s, suite.samples[s.name], site) for s in suite.scenarios]
        ours, theirs = results
        ratios = {fig: ours[fig]["median"] / theirs[fig]["median"] for fig in ("wall_s", "cpu_s", "peak_memory_mib")}
        target = HUGO_RATIO_TARGETS.get(size.posts)
        report = {
            "suite": "vs-hugo",
            "corpus": {"label": size.label, "posts": size.posts, "tags": size.tags, "seed": SEED},
            "runs": runs_of(key),
            "entry": ENTRY,
            "now": NOW,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": env,
            "load_average": {"before": load_before, "after": load_after},
            "publisher_source_sha256": {"before": source_before, "after": source_after},
            "scenarios": results,
            "ratio_publisher_to_hugo": ratios,  # of the medians
            "ratio_target": target,
            "meets_ratio_target": None if target is None else ratios["wall_s"] <= target,
            "bytes_written": {
                "publisher": _bytes_below(site / "feeds"),
                "hugo": _bytes_below(site / "hugo" / "public"),
            },
            "same_feeds": comparison,
            "verdict": line,
        }
        reports.append(report)
        if write:
            write_result(f"vs-hugo-{size.posts}-{size.tags}.json", report)
    print_table(
        f"publisher vs Hugo {env['hugo'].split()[1]}: cold builds, median (min–max); {env['nproc']} cores", reports
    )
    for report in reports:
        ratios, target = report["ratio_publisher_to_hugo"], report["ratio_target"]
        mark = (
            ""
            if target is None
            else f" (target ≤ {target:g}×: {'[green]ok[/]' if report['meets_ratio_target'] else '[red]MISS[/]'})"
        )
        screen.print(
            f"{report['corpus']['label']}: publisher / hugo, medians: wall {ratios['wall_s']:.2f}×{mark}, "
            f"CPU {ratios['cpu_s']:.2f}×, peak memory {ratios['peak_memory_mib']:.2f}×; "
            f"load average {report['load_average']['before']} → {report['load_average']['after']}"
        )


def run_suite(suite: Suite, site: Path, runs: int, label: str) -> None:
    for number in range(1, runs + 1):
        suite.restore()
        try:
            for scenario in suite.scenarios:
                if scenario.prepare:
                    scenario.prepare()
                os.sync()  # the last run's deletes and writes are flushed before this one, not during it
                sample = measure(scenario.argv, site)
                problem = scenario.check(sample) if scenario.check else None
                if problem:
                    raise RuntimeError(f"{label}, {scenario.name}: {problem}")
                suite.samples.setdefault(scenario.name, []).append(sample)
                console.log(
                    f"{label} run {number}/{runs} {scenario.name}: {sample.wall_s:.2f} s, "
                    f"RSS {sample.peak_rss_kib / 1024:.0f} MiB, tree PSS {sample.peak_tree_pss_kib / 1024:.0f} MiB, "
                    f"{sample.processes} process(es)"
                )
        finally:
            suite.restore()


def spread(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "samples": values}


def _placeholder(arg: str, site: Path) -> str:
    return {str(site): "SITE", ENTRY: "ENTRY", sys.executable: "python"}.get(arg, arg)


def scenario_result(size: Size, scenario: Scenario, samples: list[Sample], site: Path) -> dict[str, Any]:
    name = scenario.name
    rss = spread([s.peak_rss_kib / 1024 for s in samples])
    tree = spread([s.peak_tree_pss_kib / 1024 for s in samples])
    memory = spread([max(s.peak_rss_kib, s.peak_tree_pss_kib) / 1024 for s in samples])
    wall = spread([s.wall_s for s in samples])
    inner = [s.in_process_s for s in samples if s.in_process_s is not None]
    target = TARGETS.get((size.posts, name))
    meets = None
    if target:
        meets = (target.wall_s is None or wall["median"] <= target.wall_s) and (
            target.memory_mib is None or memory["median"] <= target.memory_mib
        )
    return {
        "name": name,
        "command": " ".join(_placeholder(arg, site) for arg in scenario.argv),
        "wall_s": wall,
        "in_process_s": spread(inner) if inner else None,
        "cpu_s": spread([s.cpu_s for s in samples]),
        "peak_memory_mib": memory,  # max(peak_rss_mib, peak_tree_pss_mib): what the target is checked on
        "peak_rss_mib": rss,  # VmHWM of the measured process itself (not its workers)
        "peak_tree_pss_mib": tree,  # summed PSS of the process tree, sampled every 50 ms
        "ru_maxrss_mib": spread([s.ru_maxrss_kib / 1024 for s in samples]),  # see the module docstring
        "processes": max(s.processes for s in samples),
        "feeds_written": samples[0].feeds_written,
        "feeds_unchanged": samples[0].feeds_unchanged,
        "target": {"wall_s": target.wall_s, "peak_memory_mib": target.memory_mib} if target else None,
        "meets_target": meets,
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _memory_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip()


def _package_folder() -> Path | None:
    """The publisher package the children import (the children run in the corpus folder, not here)."""
    spec = importlib.util.find_spec("publisher")
    return Path(spec.origin).parent if spec and spec.origin else None


def compile_package() -> None:
    """Byte-compile the measured package, as installing it from a wheel does: in an editable
    install with PYTHONDONTWRITEBYTECODE set, every measured run would compile every module
    again (35 ms of a 1,000-post publish)."""
    folder = _package_folder()
    if folder is not None:
        compileall.compile_dir(folder, quiet=1)


def _source_digest() -> str | None:
    """Which publisher code was measured, even in a working tree with uncommitted edits."""
    folder = _package_folder()
    if folder is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _load() -> list[float] | None:
    """Other work on the machine skews wall times; the load average says how much there was."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def environment() -> dict[str, Any]:
    folder = _package_folder()
    in_repo = folder is not None and folder.resolve().is_relative_to(REPO.resolve())
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_mib": _memory_mib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in VERSIONED},
        # Only meaningful when the publisher measured is this checkout's (not one on PYTHONPATH);
        # uncommitted edits show in publisher_source_sha256, not here.
        "git_commit": _git_commit() if in_repo else None,
        "publisher_path": str(folder),
    }


def _cell(stats: dict[str, Any] | None, digits: int) -> str:
    if not stats:
        return "—"
    return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}–{stats['max']:.{digits}f})"


def _target_cell(result: dict[str, Any]) -> str:
    target = result["target"]
    if not target:
        return ""
    parts = [f"≤{target['wall_s']:g} s"] if target["wall_s"] else []
    parts.append(f"≤{target['peak_memory_mib']:g} MiB")
    mark = "[green]ok[/]" if result["meets_target"] else "[red]MISS[/]"
    return f"{', '.join(parts)} {mark}"


def print_table(title: str, reports: list[dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    headings = (
        "corpus",
        "scenario",
        "wall s",
        "in-process s",
        "CPU s",
        "peak MiB",
        "own RSS / tree PSS",
        "procs",
        "written",
    )
    for heading in (*headings, "target"):
        table.add_column(heading, justify="left" if heading in ("corpus", "scenario", "target") else "right")
    for report in reports:
        for result in report["scenarios"]:
            table.add_row(
                report["corpus"]["label"],
                result["name"],
                _cell(result["wall_s"], 2),
                _cell(result["in_process_s"], 2),
                _cell(result["cpu_s"], 2),
                _cell(result["peak_memory_mib"], 0),
                f"{result['peak_rss_mib']['median']:.0f} / {result['peak_tree_pss_mib']['median']:.0f}",
                str(result["processes"]),
                "—" if result["feeds_written"] is None else f"{result['feeds_written']:,}",
                _target_cell(result),
            )
        table.add_section()
    screen.print(table)


def print_scaling(reports: list[dict[str, Any]]) -> None:
    """Median wall-time ratios between consecutive sizes: about 10 for linear growth."""
    table = Table(title="scaling: ratio of medians (10× posts → about 10× if linear)", title_justify="left")
    for heading in ("from → to", "scenario", "wall", "CPU", "memory"):
        table.add_column(heading, justify="left" if heading in ("from → to", "scenario") else "right")
    for small, large in itertools.pairwise(reports):
        for a, b in zip(small["scenarios"], large["scenarios"], strict=True):
            ratios = [b[key]["median"] / a[key]["median"] for key in ("wall_s", "cpu_s", "peak_memory_mib")]
            sizes = f"{small['corpus']['posts']:,} → {large['corpus']['posts']:,}"
            table.add_row(sizes, a["name"], *(f"{ratio:.1f}×" for ratio in ratios))
    screen.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs of each scenario sequence (default 5; 3 with --vs)")
    parser.add_argument("--large", action="store_true", help="also 100,000 posts / 10,000 tags (slow)")
    parser.add_argument("--large-runs", type=int, default=3, help="runs for the large corpus (default 3)")
    parser.add_argument("--size", action="append", choices=sorted(SIZES), help="only these sizes (repeatable)")
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="only these suites (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print the table but write no JSON")
    parser.add_argument("--no-digests", action="store_true", help="skip the digest queue and delivery figures")
    parser.add_argument(
        "--vs",
        choices=["hugo", "formats"],
        help="instead of the suites: cold builds of publisher and Hugo (on PATH), in turn; or (formats) cold and "
        "no-op publishes with every format, archives and OPML against Atom and RSS only, and a new post's rewrites",
    )
    args = parser.parse_args(argv)
    compile_package()
    sizes = args.size or ["1k", "10k", *(["100k"] if args.large else [])]
    sizes = sorted(sizes, key=lambda key: SIZES[key].posts)
    if args.vs == "formats":
        run_vs_formats(sizes, args.runs or 3, not args.no_write)
        return
    if args.vs == "hugo":
        hugo = shutil.which("hugo")
        if hugo is None:
            print("hugo is not on PATH: no comparison with Hugo (Debian: apt-get install hugo)", file=sys.stderr)
            return
        run_vs_hugo(hugo, sizes, lambda key: args.large_runs if key == "100k" else args.runs or 3, not args.no_write)
        return
    args.runs = args.runs or 5
    env = environment()
    console.log(f"{env['nproc']} cores, Python {env['python']}, publisher {env['versions']['publisher']}")
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for key in sizes:
        size = SIZES[key]
        site = size.folder()
        console.log(f"generating {size.label}, {size.subscribers:,} subscribers in {site}")
        paths = corpus.write_corpus(site, size.posts, size.tags, size.subscribers, SEED)
        runs = args.large_runs if key == "100k" else args.runs
        for name in args.suite or sorted(SUITES):
            suite = SUITES[name](site, paths, size)
            load_before, source_before = _load(), _source_digest()
            run_suite(suite, site, runs, f"{key} {name}")
            source_after = _source_digest()
            if source_after != source_before:
                console.log(f"[red]warning:[/] publisher/ changed while {key} {name} ran; its figures mix versions")
            report = {
                "suite": name,
                "corpus": {
                    "label": size.label,
                    "posts": size.posts,
                    "tags": size.tags,
                    "subscribers": size.subscribers,
                    "seed": SEED,
                    "generator": f"benchmarks/corpus.py --posts {size.posts} --tags {size.tags} "
                    f"--subscribers {size.subscribers} --seed {SEED} {site.relative_to(REPO)}",
                },
                "runs": runs,
                "entry": ENTRY,  # ENTRY in each scenario's command: the console script plus the VmHWM report
                "now": NOW,
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": env,
                "load_average": {"before": load_before, "after": _load()},
                "publisher_source_sha256": {"before": source_before, "after": source_after},
                "scenarios": [scenario_result(size, s, suite.samples[s.name], site) for s in suite.scenarios],
            }
            by_suite.setdefault(name, []).append(report)
            if not args.no_write:
                write_result(f"{name}-{size.posts}-{size.tags}.json", report)
    for name, reports in by_suite.items():
        print_table(f"{name}: median (min–max) of the runs; {env['nproc']} cores, Python {env['python']}", reports)
        if len(reports) > 1:
            print_scaling(reports)
    if not args.no_digests:
        console.log("digests: selection + render + queue for 100,000 subscribers, then delivery to aiosmtpd")
        figures = digest_bench.main(["--runs", str(min(args.runs, 3))])
        if not args.no_write:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            write_result("digest-100000.json", {"suite": "digest", **figures, "timestamp": stamp, "machine": env})


if __name__ == "__main__":
    main()
