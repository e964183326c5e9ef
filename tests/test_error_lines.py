"""Odd files in the site folder give one line naming the file, a non-zero exit and no loss."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from publisher.cli import run

from .conftest import Site

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link><description>d</description>
<item><title>Hello</title><link>https://example.org/hello</link><guid>https://example.org/hello</guid>
<pubDate>Mon, 02 Jan 2012 00:00:00 +0000</pubDate><description>hi</description></item>
</channel></rss>
"""


def test_a_file_name_that_is_not_utf8_is_named_and_the_rest_publishes_with_keep_going(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01\ntags: [X]")
    assert run(["--site", str(site.root), "publish", "-q"]) == 0
    feeds = site.feed_files()
    odd = os.path.join(os.fsencode(site.root / "content"), b"caf\xe9.md")
    with open(odd, "wb") as handle:
        handle.write(b"---\ntitle: Cafe\ndate: 2012-01-02\n---\n\nBody.\n")
    capsys.readouterr()
    assert run(["--site", str(site.root), "publish"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: content/caf\\xe9.md: the file name is not valid UTF-8; rename the file",
        "publisher: 1 broken file(s); nothing was written",
    ]
    assert site.feed_files() == feeds
    assert run(["--site", str(site.root), "publish", "--keep-going"]) == 1
    assert "error: content/caf\\xe9.md:" in capsys.readouterr().err
    assert site.feed_files() == feeds
    os.rename(odd, site.root / "content" / "cafe.md")
    assert run(["--site", str(site.root), "publish", "-q"]) == 0
    assert b"Cafe" in site.feed_files()["atom.xml"]


def test_a_dangling_link_in_content_stops_an_import_with_one_line(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    (site.root / "content" / "gone.md").symlink_to(site.root / "nowhere.md")
    (site.root / "feed.xml").write_bytes(RSS)
    before = sorted(p.name for p in (site.root / "content").iterdir())
    assert run(["--site", str(site.root), "import", "feed", str(site.root / "feed.xml")]) == 1
    assert capsys.readouterr().err == (
        "publisher: import: content/gone.md: cannot read: No such file or directory; "
        "fix or remove it, then import again\n"
    )
    assert sorted(p.name for p in (site.root / "content").iterdir()) == before
    (site.root / "content" / "gone.md").unlink()
    assert run(["--site", str(site.root), "import", "feed", str(site.root / "feed.xml")]) == 0


def test_a_fifo_in_content_stops_an_import_with_one_line_not_a_hang(site: Site, tmp_path: Path) -> None:
    """An import reads the site's posts first (to match ids); a FIFO named like one must not block it."""
    site.post("a.md", "title: A\ndate: 2012-01-01")
    os.mkfifo(site.root / "content" / "pipe.md")
    (site.root / "feed.xml").write_bytes(RSS)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("publisher")),
            "--site",
            str(site.root),
            "import",
            "feed",
            str(site.root / "feed.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "publisher: import: content/pipe.md: not a regular file (a FIFO, socket or device); expected a Markdown "
        "file; fix or remove it, then import again\n"
    )
