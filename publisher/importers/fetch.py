"""An import source's bytes, from an http(s) URL or a local file, within limits.

A feed server is a stranger: it may redirect to ``file:`` or ``ftp:``, send a body that
never ends, or trickle one byte at a time so that no single read ever times out. So only
http and https are followed, the body is cut off at a size cap, and the whole fetch
(connection, redirects, headers and body) has one deadline. A local file must be a
regular file (a FIFO or a device would hang the import or fill memory) within the same cap.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from .. import __version__
from ..sources import NotRegular, TooLarge, read_regular_file
from .common import Source, fail

SCHEMES = ("http", "https")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """How much an import may read, and for how long a URL may take."""

    max_bytes: int = 100 * 2**20  # a large blog's WordPress export fits; an endless body does not
    seconds: float = 120.0  # the whole fetch, redirects included
    read_timeout: float = 30.0  # one read: a server that says nothing fails sooner than the deadline


DEFAULT_LIMITS = FetchLimits()


class _Refused(Exception):
    """Why a fetch stopped; fetch_url names the URL in front of it."""


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"


class _Watchdog:
    """Shuts down every socket of one fetch at its deadline, which wakes a read blocked on it."""

    def __init__(self, seconds: float) -> None:
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired.is_set():
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired.set()
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        # The plain socket's shutdown: an SSL socket's own would tear down its state under the reader.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched(base: type[http.client.HTTPConnection], watchdog: _Watchdog) -> type[http.client.HTTPConnection]:
    class Watched(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    return Watched


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._connection = _watched(http.client.HTTPConnection, watchdog)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)
        self._connection = _watched(http.client.HTTPSConnection, watchdog)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._tls)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only, without reading the redirect's own body."""

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any) -> Any:
        fp.close()  # urllib would read the body to its end first, however long it is
        target = urljoin(req.full_url, headers.get("location") or headers.get("uri") or "")
        if urlsplit(target).scheme not in SCHEMES:
            raise _Refused(f"the server redirected to {target}; only http:// and https:// are followed")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _body(response: http.client.HTTPResponse, limits: FetchLimits) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise _Refused(f"it is {_megabytes(int(declared))}, over the {_megabytes(limits.max_bytes)} limit")
    chunks = []
    size = 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > limits.max_bytes:
            raise _Refused(f"it is over the {_megabytes(limits.max_bytes)} limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _fetch_url(url: str, limits: FetchLimits) -> Source:
    """The body of an http(s) URL; raises ImportFailed naming the URL when it cannot be had."""
    request = urllib.request.Request(url, headers={"User-Agent": f"publisher/{__version__}"})
    with _Watchdog(limits.seconds) as watchdog:
        opener = urllib.request.build_opener(_HTTP(watchdog), _HTTPS(watchdog), _Redirects())
        try:
            try:
                with opener.open(request, timeout=min(limits.read_timeout, limits.seconds)) as response:
                    data = _body(response, limits)
                    headers = {"content-location": response.url}
                    if response.headers.get("Content-Type"):
                        headers["content-type"] = response.headers["Content-Type"]
            finally:
                if watchdog.expired.is_set():  # whatever the cut-off read made of it, this is why it stopped
                    raise _Refused(f"the server took longer than {limits.seconds:g} s to send it") from None
        except _Refused as exc:
            raise fail(url, f"{exc}; nothing was imported") from None
        except urllib.error.HTTPError as exc:
            raise fail(url, f"the server answered HTTP {exc.code} {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, not HTTP at all
            raise fail(url, f"cannot fetch it: {getattr(exc, 'reason', None) or exc}") from None
    return Source(url, data, headers)


def _read_file(path: str, limits: FetchLimits) -> Source:
    """A local file's bytes: only a regular file, within the size cap."""
    try:
        return Source(path, read_regular_file(path, limits.max_bytes))
    except FileNotFoundError:
        raise fail(path, "no such file") from None
    except OSError as exc:
        raise fail(path, f"cannot read it: {exc.strerror}") from None
    except NotRegular:
        raise fail(path, "not a regular file; expected a file to import") from None
    except TooLarge as exc:
        size = f"it is {_megabytes(exc.size)}, over" if exc.size else "it is over"
        raise fail(path, f"{size} the {_megabytes(limits.max_bytes)} limit") from None


def load_source(location: str, limits: FetchLimits = DEFAULT_LIMITS) -> Source:
    """The bytes of a local file or of an http(s) URL, never empty."""
    fetch = _fetch_url if urlsplit(location).scheme in SCHEMES else _read_file
    source = fetch(location, limits)
    if not source.data.strip():
        raise fail(location, "it is empty")
    return source
