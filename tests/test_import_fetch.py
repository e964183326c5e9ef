"""Import sources a stranger controls: a feed's text, a web server's answers, a local path.

Every server here is a real HTTP server on 127.0.0.1 that misbehaves on purpose.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from publisher.errors import ImportFailed
from publisher.importers import import_source
from publisher.importers.fetch import FetchLimits

from .conftest import Site

SECRET = """\
<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Private</title><link>https://me.example.org/</link><description>d</description>
<item><title>My bank PIN is 1234</title><guid>secret-1</guid><pubDate>Mon, 05 Feb 2024 08:00:00 GMT</pubDate>
<description>Private notes.</description></item>
</channel></rss>
"""

FEED = """\
<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Public</title><link>https://pub.example.org/</link><description>d</description>
<item><title>Hello from the server</title><guid>pub-1</guid><pubDate>Mon, 05 Feb 2024 08:00:00 GMT</pubDate>
<description>Public text.</description></item>
</channel></rss>
"""

QUICK = FetchLimits(max_bytes=1 << 20, seconds=1.0, read_timeout=5.0)
TRICKLE_STEP = 0.05  # seconds between the bytes a trickling server sends


class _Hostile(BaseHTTPRequestHandler):
    """One route per way a server can misbehave; ``server.secret`` is a local file's path."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _forever(self, chunk: bytes, pause: float) -> None:
        """Write ``chunk`` until the client goes away or the test ends."""
        try:
            while not self.server.stopping.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                if pause:
                    self.server.stopping.wait(pause)
        except OSError:
            pass

    def do_GET(self) -> None:
        path = self.path
        rss = {"Content-Type": "application/rss+xml"}
        if path == "/feed.xml":
            self._send(200, {**rss, "Content-Length": str(len(FEED))}, FEED.encode())
        elif path == "/names-a-file":
            body = str(self.server.secret).encode()
            self._send(200, {**rss, "Content-Length": str(len(body))}, body)
        elif path == "/endless":
            self._send(200, {**rss, "Connection": "close"})
            self._forever(b"<item>" * 10_000, 0)
        elif path == "/too-big":
            self._send(200, {**rss, "Content-Length": str(10 << 30)})
            self._forever(b"x" * 65536, 0)
        elif path == "/trickle":
            self._send(200, {**rss, "Connection": "close"})
            self._forever(b" ", TRICKLE_STEP)
        elif path == "/trickle-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self._forever(b"X", TRICKLE_STEP)
        elif path == "/to-file":
            self._send(302, {"Location": self.server.secret.as_uri(), "Content-Length": "0"})
        elif path == "/to-ftp":
            self._send(301, {"Location": "ftp://127.0.0.1/feed.xml", "Content-Length": "0"})
        elif path == "/to-feed-with-endless-body":
            self._send(302, {"Location": "/feed.xml", "Connection": "close"})
            self._forever(b"x" * 65536, 0)
        else:
            self._send(404, {"Content-Length": "0"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    secret: Path
    stopping: threading.Event


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The base URL of a misbehaving server, and a private local feed it points at."""
    secret = tmp_path / "private" / "secret.xml"
    secret.parent.mkdir()
    secret.write_text(SECRET, encoding="utf-8")
    server = _Server(("127.0.0.1", 0), _Hostile)
    server.secret = secret
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", secret
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _content(site: Site) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in (site.root / "content").rglob("*"))


def test_a_feed_file_whose_text_names_a_local_file_does_not_import_that_file(
    site: Site, tmp_path: Path, hostile: tuple[str, Path]
) -> None:
    _, secret = hostile
    named = tmp_path / "feed.xml"
    named.write_text(str(secret), encoding="utf-8")
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(str(named))}: .*expected an RSS"):
        import_source(site.config, "feed", str(named))
    assert "PIN" not in _content(site)


def test_a_server_answer_that_names_a_local_file_does_not_import_that_file(
    site: Site, hostile: tuple[str, Path]
) -> None:
    base, _ = hostile
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(base)}/names-a-file: .*expected an RSS"):
        import_source(site.config, "feed", base + "/names-a-file")
    assert "PIN" not in _content(site)


def _limit_memory() -> None:
    limit = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_feed_whose_text_is_dev_zero_fails_at_once(site: Site, tmp_path: Path) -> None:
    """Run in a process with a memory cap, so that if it ever reads /dev/zero it fails instead of filling memory."""
    named = tmp_path / "feed.xml"
    named.write_text("/dev/zero", encoding="utf-8")
    done = subprocess.run(
        [Path(sys.executable).parent / "publisher", "--site", str(site.root), "import", "feed", str(named)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert re.fullmatch(rf"publisher: import: {re.escape(str(named))}: .*expected an RSS.*\n", done.stderr)


def test_a_redirect_to_another_http_url_is_followed_without_reading_the_redirect_body(
    site: Site, hostile: tuple[str, Path]
) -> None:
    base, _ = hostile
    report = import_source(site.config, "feed", base + "/to-feed-with-endless-body", limits=QUICK)
    assert len(report.created) == 1
    assert "Hello from the server" in _content(site)


@pytest.mark.parametrize(
    ("route", "target"),
    [("/to-file", r"file:///\S+/private/secret\.xml"), ("/to-ftp", r"ftp://127\.0\.0\.1/feed\.xml")],
    ids=["file", "ftp"],
)
def test_a_redirect_to_another_scheme_is_refused(
    site: Site, hostile: tuple[str, Path], route: str, target: str
) -> None:
    base, _ = hostile
    with pytest.raises(
        ImportFailed,
        match=rf"^import: {re.escape(base + route)}: the server redirected to {target}; "
        r"only http:// and https:// are followed; nothing was imported$",
    ):
        import_source(site.config, "feed", base + route, limits=QUICK)
    assert list((site.root / "content").iterdir()) == []


@pytest.mark.parametrize(
    ("route", "message"),
    [("/endless", "it is over the 1 MB limit"), ("/too-big", "it is 10240 MB, over the 1 MB limit")],
    ids=["endless", "declared"],
)
def test_a_body_over_the_size_cap_is_refused(site: Site, hostile: tuple[str, Path], route: str, message: str) -> None:
    base, _ = hostile
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(base + route)}: {message}; nothing was imported$"):
        import_source(site.config, "feed", base + route, limits=FetchLimits(max_bytes=1 << 20, seconds=30))
    assert list((site.root / "content").iterdir()) == []


@pytest.mark.parametrize("route", ["/trickle", "/trickle-headers"])
def test_a_server_that_trickles_bytes_is_cut_off_at_the_deadline(
    site: Site, hostile: tuple[str, Path], route: str
) -> None:
    """Each byte comes well within the read timeout; only the deadline for the whole fetch stops it."""
    base, _ = hostile
    limits = FetchLimits(seconds=0.5, read_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(
        ImportFailed,
        match=rf"^import: {re.escape(base + route)}: the server took longer than 0\.5 s to send it; nothing was imported$",
    ):
        import_source(site.config, "feed", base + route, limits=limits)
    assert 0.5 <= time.monotonic() - started < 0.5 + 10 * TRICKLE_STEP
    assert list((site.root / "content").iterdir()) == []


def test_a_local_source_must_be_a_regular_file_within_the_cap(site: Site, tmp_path: Path) -> None:
    fifo = tmp_path / "feed.fifo"
    os.mkfifo(fifo)
    with pytest.raises(
        ImportFailed, match=rf"^import: {re.escape(str(fifo))}: not a regular file; expected a file to import$"
    ):
        import_source(site.config, "feed", str(fifo))
    big = tmp_path / "big.xml"
    big.write_text(FEED + " " * (1 << 20), encoding="utf-8")
    with pytest.raises(ImportFailed, match=rf"^import: {re.escape(str(big))}: it is 1\S* MB, over the 1 MB limit$"):
        import_source(site.config, "feed", str(big), limits=QUICK)
    assert list((site.root / "content").iterdir()) == []
