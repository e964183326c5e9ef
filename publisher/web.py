"""The subscription web app (Flask, WSGI): sign-up with double opt-in, unsubscribe, manage, and the feeds.

Flask because everything it calls is synchronous (SQLite, smtplib): a WSGI app
under gunicorn needs no thread pools, and Werkzeug already does conditional
file responses (ETag, Last-Modified, 304) and safe path joining.

Pages render through the same Jinja loader as the digests, so a site's own
templates/ overrides them by name. Every form carries a CSRF token bound to a
cookie; the one POST without it is RFC 8058's one-click unsubscribe, whose
authority is the signed token in its URL. Nothing redirects anywhere.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import CONFIG_NAME, LOOPBACK_HOSTS, Config, load_config
from .delivery import Clock, smtp_password
from .digest import template_environment
from .errors import Busy, ConfigError, PublisherError, RateLimited, SubscriberError
from .feedspec import tag_spec
from .formats import FORMATS, FeedFormat
from .model import Subscriber, Tag
from .publish import indexed_posts
from .signup import (
    check_confirmation,
    client_key,
    confirm_signup,
    digest_choice,
    manage_token,
    request_signup,
    send_confirmations,
    update_preferences,
)
from .state import State, open_state
from .subscribers import MANAGE, UNSUBSCRIBE, missing_tags, subscriber_for_token, tag_slugs, unsubscribe
from .tokens import secret_from_env
from .unsubscribes import apply_unsubscribes

CONFIG_ENV = "PUBLISHER_CONFIG"
PROXIES_ENV = "PUBLISHER_PROXIES"
CSRF_COOKIE = "publisher_csrf"
CSRF_FIELD = "csrf"
ONE_CLICK = "One-Click"  # RFC 8058: the body is List-Unsubscribe=One-Click
FEED_MAX_AGE = 300
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # page URLs carry tokens
    "X-Content-Type-Options": "nosniff",
}
STATUS = {SubscriberError: 400, RateLimited: 429}


@dataclass(frozen=True)
class TagRow:
    """One line of the front page: a tag, its live posts and its feed links."""

    tag: Tag
    posts: int
    feeds: tuple[tuple[str, str], ...]  # (format, path under the feeds folder)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _mac(secret: bytes, text: str) -> str:
    digest = hmac.new(secret, f"csrf\0{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sentence(text: str) -> str:
    """An error message as a page shows it: capitalised, with a full stop."""
    return f"{text[:1].upper()}{text[1:]}."


def _tag_rows(config: Config, now: datetime) -> list[TagRow]:
    posts = indexed_posts(config, now)
    counts = Counter(t.slug for p in posts for t in p.tags)
    tags = {t.slug: t for p in posts for t in p.tags}
    formats = config.feeds.formats if config.feeds.tags else ()
    return [
        TagRow(tags[slug], counts[slug], tuple((fmt, tag_spec(config, tags[slug]).path(fmt)) for fmt in formats))
        for slug in sorted(tags, key=lambda s: tags[s].name.casefold())
    ]


def _feed_format(config: Config, name: str) -> FeedFormat | None:
    """The configured format of a feed file's path: a subscription document or an archive page."""
    folder, _, file = name.rpartition("/")
    page = _ARCHIVE_PAGE.fullmatch(file) if folder == "archive" or folder.endswith("/archive") else None
    for fmt in config.feeds.formats:
        kind = FORMATS[fmt]
        if kind.file_name == file or (page and kind.archive_suffix and page.group(1) == kind.archive_suffix):
            return kind
    return None


_ARCHIVE_PAGE = re.compile(r"[1-9][0-9]*(\.[a-z.]+)")


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


def _tag_notes(slugs: tuple[str, ...], tags: list[Tag]) -> list[str]:
    """The slugs that no published post has, as a reader reads them: "'libia' (did you mean Libya?)"."""
    return [
        f"{slug!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
        for slug, close in missing_tags(slugs, tags).items()
    ]


def create_app(
    config: Config, *, secret: bytes | None = None, now: Clock = _utc_now, proxies: int = 0, mailer: bool = True
) -> Flask:
    """The WSGI app; ``secret`` defaults to PUBLISHER_SECRET, ``proxies`` is how many proxies set X-Forwarded-*.

    ``mailer``: send queued confirmation e-mails from a thread of this process (``publisher run`` sends
    them too); without it they wait for ``publisher run``.
    """
    secret = secret or secret_from_env()
    if config.digests:
        smtp_password(config.smtp)  # a missing SMTP password stops the start, not the first sign-up
    env = template_environment(config)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.url_map.merge_slashes = False  # no redirects of any kind
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=proxies)
    sender = Mailer(config, now, app.logger) if mailer and config.digests else None
    if sender:
        sender.start()
        app.extensions["publisher.mailer"] = sender

    def store() -> State:
        return open_state(config.state)

    def poke() -> None:
        """Something was queued (a confirmation e-mail) or recorded (an unsubscribe): the mailer's turn."""
        if sender:
            sender.poke()

    def page(template: str, status: int = 200, **context: Any) -> Response:
        body = env.get_template(template).render(
            site=config.site, url=url_for, csrf=_mac(secret, g.get("csrf_cookie", "")), **context
        )
        return Response(body, status, mimetype="text/html")

    def message(title: str, text: str, status: int = 200, **links: str) -> Response:
        return page("web-message.html.j2", status, title=title, text=text, links=links)

    def require_csrf() -> None:
        sent = request.form.get(CSRF_FIELD, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(sent.encode(), _mac(secret, cookie).encode()):
            abort(400, "This form has expired or was sent from another site. Go back, reload the page and try again.")

    def form_tags() -> tuple[str, ...] | None:
        return tag_slugs(request.form.getlist("tag"))

    def token() -> str:
        return request.args.get("token", "")

    def manage_link(subscriber: Subscriber) -> dict[str, str]:
        return {"Manage your subscription": url_for("manage", token=manage_token(secret, subscriber))}

    @app.before_request
    def csrf_cookie() -> None:
        g.csrf_cookie = request.cookies.get(CSRF_COOKIE) or ""
        if not g.csrf_cookie:
            g.csrf_cookie = g.new_cookie = secrets.token_urlsafe(16)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        if g.get("new_cookie") and response.mimetype == "text/html":
            response.set_cookie(
                CSRF_COOKIE, g.new_cookie, httponly=True, samesite="Lax", secure=request.is_secure, path="/"
            )
        return response

    @app.errorhandler(PublisherError)
    def publisher_error(exc: PublisherError) -> Response:
        status = next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), 500)
        if status == 500:
            app.logger.error("publisher: %s", exc)
            return message("Something went wrong", "The server is not set up correctly; try again later.", 500)
        return message("That did not work", _sentence(str(exc)), status, **{"Front page": url_for("index")})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return message(exc.name, exc.description or "", exc.code or 500, **{"Front page": url_for("index")})

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> Response:
        app.logger.exception("unexpected error")
        return message("Something went wrong", "An unexpected error happened on our side; try again later.", 500)

    @app.get("/")
    def index() -> Response:
        return page(
            "web-index.html.j2",
            tags=_tag_rows(config, now()),
            feeds=config.feeds,
            digests=config.digests,
            formats=FORMATS,
        )

    @app.post("/subscribe")
    def subscribe() -> Response:
        require_csrf()
        if not config.digests:
            abort(404)
        with store() as db:
            address = request_signup(
                config,
                db,
                secret,
                request.form.get("email", ""),
                form_tags(),
                digest_choice(config, request.form.get("digest", "")),
                client_key(request.remote_addr or ""),
                now(),
            )
        poke()
        return message(
            "Check your inbox",
            f"A message is on its way to {address}. Open its link to confirm; until then you get nothing from us.",
        )

    @app.route("/confirm", methods=["GET", "POST"])
    def confirm() -> Response:
        with store() as db:
            if request.method == "GET":
                subscriber = check_confirmation(db, secret, token(), now())
                if subscriber.status == "pending":
                    return page("web-action.html.j2", action="confirm", token=token(), subscriber=subscriber)
                fresh = False
            else:
                require_csrf()
                subscriber, fresh = confirm_signup(db, secret, token(), now())
        text = "Your subscription is active." if fresh else "This address is subscribed already."
        return message(
            "You are subscribed", f"{text} The next digest goes to {subscriber.address}.", **manage_link(subscriber)
        )

    @app.route("/unsubscribe", methods=["GET", "POST"])
    def unsubscribe_route() -> Response:
        with store() as db:
            if request.method == "POST":
                one_click = request.form.get("List-Unsubscribe") == ONE_CLICK
                if not one_click:
                    require_csrf()
                subscriber = unsubscribe(db, secret, token(), now())
                poke()
                if one_click:
                    return Response(f"unsubscribed {subscriber.address}\n", mimetype="text/plain")
            else:
                subscriber = subscriber_for_token(db, secret, UNSUBSCRIBE, token())
                if subscriber.status != "unsubscribed":
                    return page("web-action.html.j2", action="unsubscribe", token=token(), subscriber=subscriber)
        return message(
            "You are unsubscribed",
            f"{subscriber.address} gets no more digests from {config.site.title}.",
            **{"Subscribe again": url_for("index")},
        )

    @app.route("/manage", methods=["GET", "POST"])
    def manage() -> Response:
        tags = [row.tag for row in _tag_rows(config, now())]  # only tags that a published post has
        refused: list[str] = []
        with store() as db:
            if request.method == "GET":
                subscriber = subscriber_for_token(db, secret, MANAGE, token())
            else:
                require_csrf()
                if request.form.get("action") == "unsubscribe":
                    subscriber = unsubscribe(db, secret, token(), now(), MANAGE)
                    poke()
                else:
                    digest = digest_choice(config, request.form.get("digest", ""))
                    refused = _tag_notes(form_tags() or (), tags)
                    if refused:  # a tag gone since the page was shown, or a made-up one: change nothing
                        subscriber = subscriber_for_token(db, secret, MANAGE, token())
                    else:
                        subscriber = update_preferences(db, secret, token(), form_tags(), digest)
            chosen = db.subscribers.digest_of(subscriber.id)
        return page(
            "web-manage.html.j2",
            400 if refused else 200,
            subscriber=subscriber,
            token=token(),
            tags=tags,
            unknown=[] if refused else _tag_notes(subscriber.tags or (), tags),
            refused=refused,
            digests=config.digests,
            chosen=chosen,
            saved=request.method == "POST" and not refused,
        )

    @app.get(f"{config.feeds.url_path}<path:name>")
    def feed(name: str) -> Response:
        kind = _feed_format(config, name)
        if kind is None:
            abort(404)
        response = send_from_directory(
            config.feeds.folder, name, mimetype=kind.media_type, conditional=True, etag=True, max_age=FEED_MAX_AGE
        )
        response.headers["Content-Type"] = f"{kind.media_type}; charset=utf-8"
        return response

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
