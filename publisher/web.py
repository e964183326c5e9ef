"""The subscription web app (Flask, WSGI): sign-up with double opt-in, unsubscribe, manage, and the feeds.

Flask because everything it calls is synchronous (SQLite, smtplib): a WSGI app
under gunicorn needs no thread pools, and Werkzeug already does conditional
file responses (ETag, Last-Modified, 304) and safe path joining.

This module builds the app (create_app) and runs its mailer thread; the pages
are views.py.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .browse import stylesheet
from .clock import Clock
from .config import CONFIG_NAME, LOOPBACK_HOSTS, Config, load_config
from .errors import Busy, ConfigError, PublisherError
from .signup import send_confirmations
from .smtp import smtp_password
from .state import open_state
from .templating import template_environment
from .tokens import secret_from_env
from .unsubscribes import apply_unsubscribes
from .views import Site, blueprint

CONFIG_ENV = "PUBLISHER_CONFIG"
PROXIES_ENV = "PUBLISHER_PROXIES"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _nothing() -> None:
    """What a poke does without a mailer thread: the queue waits for ``publisher run``."""


class Mailer:
    """Sends the queued confirmation e-mails from a daemon thread: at once after a sign-up, and every
    [run] tick_seconds for those the server deferred. A request never waits for SMTP, and what goes
    wrong there is logged for the operator, never shown to a reader.
    """

    def __init__(self, config: Config, clock: Clock, log: logging.Logger) -> None:
        self.config, self.clock, self.log = config, clock, log
        self.wake, self.stopped = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, name="publisher-mailer", daemon=True)

    def start(self) -> None:
        """Start the thread, whose first pass sends what an earlier process left queued."""
        self.wake.set()
        self.thread.start()

    def poke(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()
        self.thread.join()

    def _loop(self) -> None:
        while True:
            self.wake.wait(self.config.run.tick_seconds)
            if self.stopped.is_set():
                return
            self.wake.clear()
            self.send()

    def send(self) -> None:
        """One pass, then the unsubscribes recorded while the state database was busy; another process
        sending the e-mails (Busy) is fine, anything else is logged."""
        try:
            with open_state(self.config.state) as store:
                send_confirmations(self.config, store, clock=self.clock, sleep=time.sleep)
        except Busy:
            pass
        except PublisherError as exc:
            self.log.warning("confirmation e-mails: %s; trying again in %d s", exc, self.config.run.tick_seconds)
        except Exception:
            self.log.exception("confirmation e-mails failed unexpectedly")
        try:
            with open_state(self.config.state) as store:
                apply_unsubscribes(store)
        except Exception:  # kept in the journal: the next pass, or the next digest send, applies them
            self.log.exception("recorded unsubscribes could not be applied yet")


def create_app(
    config: Config,
    *,
    secret: bytes | None = None,
    now: Clock = _utc_now,
    proxies: int = 0,
    mailer: bool = True,
    min_fill: timedelta | None = None,
) -> Flask:
    """The WSGI app; ``secret`` defaults to PUBLISHER_SECRET, ``proxies`` is how many proxies set X-Forwarded-*,
    ``min_fill`` the least time between serving the sign-up form and taking it (less: a program sent it;
    default [web] min_fill_seconds).

    ``mailer``: send queued confirmation e-mails from a thread of this process (``publisher run`` sends
    them too); without it they wait for ``publisher run``.
    """
    secret = secret or secret_from_env()
    if config.digests:
        smtp_password(config.smtp)  # a missing SMTP password stops the start, not the first sign-up
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.url_map.merge_slashes = False  # no redirects of any kind
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=proxies)  # type: ignore[method-assign]
    sender = Mailer(config, now, app.logger) if mailer and config.digests else None
    if sender:
        sender.start()
        app.extensions["publisher.mailer"] = sender
    poke = sender.poke if sender else _nothing
    env = template_environment(config)
    fill = timedelta(seconds=config.web.min_fill_seconds) if min_fill is None else min_fill
    app.extensions["publisher"] = Site(config, secret, now, env, poke, fill)
    app.extensions["publisher.style"] = stylesheet(env)
    app.register_blueprint(blueprint(config.feeds.url_path))
    return app


def local_url(host: str, port: int) -> str:
    """The URL to open in a browser for a server listening on (host, port); every address is this machine's."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def links_open_here(config: Config, port: int) -> bool:
    """Whether the links in e-mails ([web] base_url) open a server on this machine's ``port``."""
    parts = urlsplit(config.web.base_url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname in LOOPBACK_HOSTS and (parts.port or default) == port


def app_from_environment() -> Flask:
    """The app for a production server: config from PUBLISHER_CONFIG (default ./config.toml)."""
    proxies = os.environ.get(PROXIES_ENV, "0")
    if not proxies.isdigit():
        raise ConfigError(
            f"environment: {PROXIES_ENV} = {proxies!r}: expected the number of proxies in front (0, 1...)"
        )
    return create_app(load_config(Path(os.environ.get(CONFIG_ENV, CONFIG_NAME))), proxies=int(proxies))


@functools.cache
def _default_app() -> Flask:
    return app_from_environment()


def __getattr__(name: str) -> Flask:
    """``publisher.web:app`` for gunicorn, built on first use rather than at import."""
    if name == "app":
        return _default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
