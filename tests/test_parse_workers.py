"""The processes a large publish parses with never outlive it, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher.reading import PARALLEL_THRESHOLD

from .conftest import Site

FILES = PARALLEL_THRESHOLD * 12  # enough parsing to be caught in the middle of it


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def _until(condition, seconds: float = 30.0) -> bool:
    """Poll with short waits, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _publish_with_workers(site: Site) -> tuple[subprocess.Popen, set[int]]:
    for number in range(FILES):
        site.post(
            f"p{number:05d}.md", f"title: Post {number}\ndate: 2012-01-01\ntags: [T{number % 7}]", "Words. " * 200
        )
    code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
    publish = subprocess.Popen(
        [sys.executable, "-c", code, "--site", str(site.root), "publish"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    workers: set[int] = set()
    assert _until(lambda: len(workers.update(_children(publish.pid)) or workers) >= 2), "no parse workers seen"
    return publish, workers


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or (os.cpu_count() or 1) < 2, reason="Linux, 2 cores"
)


def test_a_killed_publish_leaves_no_parse_worker_behind(site: Site) -> None:
    publish, workers = _publish_with_workers(site)
    publish.kill()
    publish.communicate(timeout=30)
    assert _until(lambda: not any(_alive(w) for w in workers)), f"orphaned workers: {workers}"
    assert not site.feeds.exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_a_publish_and_its_workers_cleanly(site: Site, stop: signal.Signals) -> None:
    publish, workers = _publish_with_workers(site)
    os.killpg(publish.pid, stop) if stop == signal.SIGINT else publish.send_signal(stop)  # Ctrl-C: the whole group
    _, err = publish.communicate(timeout=60)
    assert (publish.returncode, err) == (130, "\npublisher: aborted\n")
    assert _until(lambda: not any(_alive(w) for w in workers)), f"workers left: {workers}"
    assert not site.feeds.exists()
