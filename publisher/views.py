"""The pages of the subscription web app, as a Flask blueprint of small handlers.

Pages render through the same Jinja loader as the digests, so a site's own
templates/ overrides them by name. Every form carries a CSRF token bound to a
cookie; the one POST without it is RFC 8058's one-click unsubscribe, whose
authority is the signed token in its URL. Nothing redirects anywhere.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from flask import Blueprint, Response, abort, current_app, g, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException

from .clock import Clock
from .config import Config
from .errors import PublisherError, RateLimited, SubscriberError
from .feedspec import tag_spec
from .formats import FORMATS, FeedFormat
from .model import Subscriber, SubscriberStatus, Tag
from .publish import indexed_posts
from .signup import (
    check_confirmation,
    client_key,
    confirm_signup,
    digest_choice,
    manage_token,
    request_signup,
    update_preferences,
)
from .state import State, open_state
from .subscribers import MANAGE, UNSUBSCRIBE, missing_tags, subscriber_for_token, tag_slugs, unsubscribe
from .tokens import CSRF, sign, signed

BLUEPRINT = "pages"
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
_ARCHIVE_PAGE = re.compile(r"[1-9][0-9]*(\.[a-z.]+)")
EXPIRED_FORM = "This form has expired or was sent from another site. Go back, reload the page and try again."


@dataclass(frozen=True)
class Site:
    """What every handler works with, kept in ``app.extensions["publisher"]`` by the app factory."""

    config: Config
    secret: bytes
    now: Clock
    env: jinja2.Environment
    poke: Callable[[], None]  # something was queued (a confirmation) or recorded (an unsubscribe): the mailer's turn


@dataclass(frozen=True)
class TagRow:
    """One line of the front page: a tag, its live posts and its feed links."""

    tag: Tag
    posts: int
    feeds: tuple[tuple[str, str], ...]  # (format, path under the feeds folder)


def _site() -> Site:
    site: Site = current_app.extensions["publisher"]
    return site


def _sentence(text: str) -> str:
    """An error message as a page shows it: capitalised, with a full stop."""
    return f"{text[:1].upper()}{text[1:]}."


def _url(endpoint: str, **values: Any) -> str:
    """``url_for`` for the templates, which name pages without the blueprint ("index", "manage")."""
    return url_for(f"{BLUEPRINT}.{endpoint}", **values)


def _tag_rows(config: Config, now: datetime) -> list[TagRow]:
    posts = indexed_posts(config, now)
    counts = Counter(t.slug for p in posts for t in p.tags)
    tags = {t.slug: t for p in posts for t in p.tags}
    formats = config.feeds.formats if config.feeds.tags else ()
    return [
        TagRow(tags[slug], counts[slug], tuple((fmt, tag_spec(config, tags[slug]).path(fmt)) for fmt in formats))
        for slug in sorted(tags, key=lambda s: tags[s].name.casefold())
    ]


def _tag_notes(slugs: tuple[str, ...], tags: list[Tag]) -> list[str]:
    """The slugs that no published post has, as a reader reads them: "'libia' (did you mean Libya?)"."""
    return [
        f"{slug!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
        for slug, close in missing_tags(slugs, tags).items()
    ]


def _page(template: str, status: int = 200, **context: Any) -> Response:
    site = _site()
    body = site.env.get_template(template).render(
        site=site.config.site, url=_url, csrf=sign(site.secret, CSRF, g.get("csrf_cookie", "")), **context
    )
    return Response(body, status, mimetype="text/html")


def _message(title: str, text: str, status: int = 200, links: Mapping[str, str] | None = None) -> Response:
    """A page that says one thing, with links onward (label -> URL)."""
    return _page("web-message.html.j2", status, title=title, text=text, links=dict(links or {}))


def _require_csrf() -> None:
    sent = request.form.get(CSRF_FIELD, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not signed(_site().secret, CSRF, cookie, sent):
        abort(400, EXPIRED_FORM)


def _form_tags() -> tuple[str, ...] | None:
    return tag_slugs(request.form.getlist("tag"))


def _token() -> str:
    return request.args.get("token", "")


def _store() -> State:
    return open_state(_site().config.state)


def _manage_link(subscriber: Subscriber) -> dict[str, str]:
    return {"Manage your subscription": _url("manage", token=manage_token(_site().secret, subscriber))}


def csrf_cookie() -> None:
    """Every visitor gets a random cookie that the forms' CSRF tokens are bound to."""
    g.csrf_cookie = request.cookies.get(CSRF_COOKIE) or ""
    if not g.csrf_cookie:
        g.csrf_cookie = g.new_cookie = secrets.token_urlsafe(16)


def security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    if g.get("new_cookie") and response.mimetype == "text/html":
        response.set_cookie(
            CSRF_COOKIE, g.new_cookie, httponly=True, samesite="Lax", secure=request.is_secure, path="/"
        )
    return response


def publisher_error(exc: PublisherError) -> Response:
    """A reader's mistake as a page that says what was wrong; a set-up mistake is logged, never shown."""
    status = next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), 500)
    if status == 500:
        current_app.logger.error("publisher: %s", exc)
        return _message("Something went wrong", "The server is not set up correctly; try again later.", 500)
    return _message("That did not work", _sentence(str(exc)), status, links={"Front page": _url("index")})


def http_error(exc: HTTPException) -> Response:
    return _message(exc.name, exc.description or "", exc.code or 500, links={"Front page": _url("index")})


def crash(exc: Exception) -> Response:
    current_app.logger.exception("unexpected error")
    return _message("Something went wrong", "An unexpected error happened on our side; try again later.", 500)


def index() -> Response:
    config = _site().config
    rows = _tag_rows(config, _site().now())
    return _page("web-index.html.j2", tags=rows, feeds=config.feeds, digests=config.digests, formats=FORMATS)


def subscribe() -> Response:
    _require_csrf()
    site = _site()
    if not site.config.digests:
        abort(404)
    form = request.form
    with _store() as db:
        address = request_signup(
            site.config,
            db,
            site.secret,
            form.get("email", ""),
            _form_tags(),
            digest_choice(site.config, form.get("digest", "")),
            client_key(request.remote_addr or ""),
            site.now(),
        )
    site.poke()
    return _message(
        "Check your inbox",
        f"A message is on its way to {address}. Open its link to confirm; until then you get nothing from us.",
    )


def confirm() -> Response:
    site = _site()
    with _store() as db:
        if request.method == "GET":
            subscriber = check_confirmation(db, site.secret, _token(), site.now())
            if subscriber.status == SubscriberStatus.PENDING:
                return _page("web-action.html.j2", action="confirm", token=_token(), subscriber=subscriber)
            fresh = False
        else:
            _require_csrf()
            subscriber, fresh = confirm_signup(db, site.secret, _token(), site.now())
    text = "Your subscription is active." if fresh else "This address is subscribed already."
    return _message(
        "You are subscribed", f"{text} The next digest goes to {subscriber.address}.", links=_manage_link(subscriber)
    )


def unsubscribe_route() -> Response:
    site = _site()
    with _store() as db:
        if request.method == "POST":
            one_click = request.form.get("List-Unsubscribe") == ONE_CLICK
            if not one_click:
                _require_csrf()
            subscriber = unsubscribe(db, site.secret, _token(), site.now())
            site.poke()
            if one_click:
                return Response(f"unsubscribed {subscriber.address}\n", mimetype="text/plain")
        else:
            subscriber = subscriber_for_token(db, site.secret, UNSUBSCRIBE, _token())
            if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
                return _page("web-action.html.j2", action="unsubscribe", token=_token(), subscriber=subscriber)
    return _message(
        "You are unsubscribed",
        f"{subscriber.address} gets no more digests from {site.config.site.title}.",
        links={"Subscribe again": _url("index")},
    )


def _change_preferences(db: State, tags: list[Tag]) -> tuple[Subscriber, list[str]]:
    """A POST to the manage page: unsubscribe, or new tags and digest (none changed if a tag is unknown)."""
    site = _site()
    _require_csrf()
    if request.form.get("action") == "unsubscribe":
        subscriber = unsubscribe(db, site.secret, _token(), site.now(), MANAGE)
        site.poke()
        return subscriber, []
    digest = digest_choice(site.config, request.form.get("digest", ""))
    refused = _tag_notes(_form_tags() or (), tags)
    if refused:  # a tag gone since the page was shown, or a made-up one: change nothing
        return subscriber_for_token(db, site.secret, MANAGE, _token()), refused
    return update_preferences(db, site.secret, _token(), _form_tags(), digest), []


def manage() -> Response:
    site = _site()
    tags = [row.tag for row in _tag_rows(site.config, site.now())]  # only tags that a published post has
    refused: list[str] = []
    with _store() as db:
        if request.method == "GET":
            subscriber = subscriber_for_token(db, site.secret, MANAGE, _token())
        else:
            subscriber, refused = _change_preferences(db, tags)
        chosen = db.subscribers.digest_of(subscriber.id)
    return _page(
        "web-manage.html.j2",
        400 if refused else 200,
        subscriber=subscriber,
        token=_token(),
        tags=tags,
        unknown=[] if refused else _tag_notes(subscriber.tags or (), tags),
        refused=refused,
        digests=site.config.digests,
        chosen=chosen,
        saved=request.method == "POST" and not refused,
    )


def _feed_format(config: Config, name: str) -> FeedFormat | None:
    """The configured format of a feed file's path: a subscription document or an archive page."""
    folder, _, file = name.rpartition("/")
    page = _ARCHIVE_PAGE.fullmatch(file) if folder == "archive" or folder.endswith("/archive") else None
    for fmt in config.feeds.formats:
        kind = FORMATS[fmt]
        if kind.file_name == file or (page and kind.archive_suffix and page.group(1) == kind.archive_suffix):
            return kind
    return None


def feed(name: str) -> Response:
    config = _site().config
    kind = _feed_format(config, name)
    if kind is None:
        abort(404)
    response = send_from_directory(
        config.feeds.folder, name, mimetype=kind.media_type, conditional=True, etag=True, max_age=FEED_MAX_AGE
    )
    response.headers["Content-Type"] = f"{kind.media_type}; charset=utf-8"
    return response


def blueprint(feeds_path: str) -> Blueprint:
    """The pages, with the feeds served under ``feeds_path`` ([feeds] url_path)."""
    pages = Blueprint(BLUEPRINT, __name__)
    pages.before_app_request(csrf_cookie)
    pages.after_app_request(security_headers)
    pages.app_errorhandler(PublisherError)(publisher_error)
    pages.app_errorhandler(HTTPException)(http_error)
    pages.app_errorhandler(Exception)(crash)
    pages.add_url_rule("/", view_func=index, methods=["GET"])
    pages.add_url_rule("/subscribe", view_func=subscribe, methods=["POST"])
    pages.add_url_rule("/confirm", view_func=confirm, methods=["GET", "POST"])
    pages.add_url_rule("/unsubscribe", view_func=unsubscribe_route, methods=["GET", "POST"])
    pages.add_url_rule("/manage", view_func=manage, methods=["GET", "POST"])
    pages.add_url_rule(f"{feeds_path}<path:name>", view_func=feed, methods=["GET"])
    return pages
