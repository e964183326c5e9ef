"""WebSub publishing (W3C Recommendation, section 7): after a publish, each hub is told which
feeds changed, so that subscribers get new posts at once. A hub that is down never fails a
publish: what it has not taken stays in the state database and is sent at the next publish."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from . import __version__
from .config import Config
from .state import open_state

TIMEOUT = 10.0  # seconds for one hub to answer


def ping_hubs(config: Config, timeout: float = TIMEOUT) -> list[str]:
    """Send every pending ping (hub.mode=publish) to its hub; one warning per hub that did
    not take them. Pings for hubs no longer configured are dropped."""
    with open_state(config.state) as store:
        pending = store.websub.pending()
        failed: dict[str, str] = {}
        kept: Counter[str] = Counter()
        for hub, topic in pending:
            if hub in failed:  # down: its other pings wait too
                kept[hub] += 1
                continue
            if hub in config.websub.hubs:
                try:
                    _ping(hub, topic, timeout)
                except (OSError, ValueError) as exc:  # urllib's URLError and HTTPError are OSErrors
                    failed[hub] = _reason(exc)
                    kept[hub] += 1
                    continue
            store.websub.forget(hub, topic)
    return [
        f"WebSub hub {hub}: {reason}; {kept[hub]} feed update(s) kept to send at the next publish"
        for hub, reason in failed.items()
    ]


def _ping(hub: str, topic: str, timeout: float) -> None:
    from urllib.request import Request, urlopen  # http.client and ssl: only when there is a hub to tell

    body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": f"publisher/{__version__}"}
    with urlopen(Request(hub, data=body, headers=headers, method="POST"), timeout=timeout) as response:
        response.read()


def _reason(exc: Exception) -> str:
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return f"answered {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        return f"cannot connect ({exc.reason})"
    return f"cannot connect ({exc})"
