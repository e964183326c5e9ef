"""The pages of the subscription web app, as a Flask blueprint of small handlers.

Pages render through the same Jinja loader as the digests, so a site's own
templates/ overrides them by name (the stylesheet too: web.css). Every form carries
a CSRF token bound to a cookie; the one POST without it is RFC 8058's one-click
unsubscribe, whose authority is the signed token in its URL. Nothing redirects anywhere.

No page walks the posts: tag names, counts and newest posts come from the table a
publish fills (tagindex.py), so a request costs what the page shows. Pages speak the
reader's language (i18n.py): the first of their Accept-Language with a catalog, else
the site's.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import babel.dates
import babel.lists
import jinja2
from flask import Blueprint, Response, abort, current_app, g, request, url_for
from werkzeug.exceptions import HTTPException

from . import i18n
from .clock import Clock
from .config import LAST_DAY, Config, DigestConfig
from .errors import PublisherError
from .formguard import HONEYPOT, ISSUED, automated, issue_stamp
from .i18n import _
from .model import Subscriber, SubscriberStatus, Tag
from .signup import (
    check_confirmation,
    client_key,
    confirm_signup,
    digest_choice,
    manage_token,
    request_signup,
    update_preferences,
)
from .slots import slots_between
from .state import State, open_state
from .subscribers import MANAGE, UNSUBSCRIBE, missing_tags, subscriber_for_token, tag_slugs, unsubscribe
from .tokens import CSRF, sign, signed

log = logging.getLogger("publisher")

BLUEPRINT = "pages"
CSRF_COOKIE = "publisher_csrf"
CSRF_FIELD = "csrf"
ONE_CLICK = "One-Click"  # RFC 8058: the body is List-Unsubscribe=One-Click
STYLE = "web.css"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # page URLs carry tokens
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Site:
    """What every handler works with, kept in ``app.extensions["publisher"]`` by the app factory."""

    config: Config
    secret: bytes
    now: Clock
    env: jinja2.Environment
    poke: Callable[[], None]  # something was queued (a confirmation) or recorded (an unsubscribe): the mailer's turn
    min_fill: timedelta  # the least time a person takes to fill in the sign-up form


def _site() -> Site:
    site: Site = current_app.extensions["publisher"]
    return site


def _sentence(text: str) -> str:
    """An error message as a page shows it: capitalised, with a full stop."""
    return f"{text[:1].upper()}{text[1:]}."


def _url(endpoint: str, **values: Any) -> str:
    """``url_for`` for the templates, which name pages without the blueprint ("index", "manage")."""
    return url_for(f"{BLUEPRINT}.{endpoint}", **values)


def _known_tags(db: State) -> list[Tag]:
    """Every tag a published post has, in human order."""
    return [Tag(t.name, t.slug) for t in db.web_tags.page()[1]]


def _tag_notes(slugs: tuple[str, ...], tags: list[Tag]) -> list[str]:
    """The slugs that no published post has, as a reader reads them: "'libia' (did you mean Libya?)"."""
    return [
        f"{slug!r}" + (" " + _("(did you mean %(names)s?)") % {"names": ", ".join(close)} if close else "")
        for slug, close in missing_tags(slugs, tags).items()
    ]


def _time_words(digest: DigestConfig) -> str:
    return babel.dates.format_time(digest.time_of_day, "short", locale=i18n.babel_locale())


def schedule_words(digest: DigestConfig) -> str:
    """When a digest goes out, as a reader says it: "every Monday at 08:00"."""
    at = _time_words(digest)
    if digest.schedule == "weekly" and digest.weekday is not None:
        return _("every %(day)s at %(time)s") % {"day": i18n.day_name(digest.weekday), "time": at}
    if digest.schedule == "monthly":
        if digest.day_of_month == LAST_DAY:
            return _("on the last day of each month at %(time)s") % {"time": at}
        return _("on day %(day)s of each month at %(time)s") % {"day": digest.day_of_month or 1, "time": at}
    return _("every day at %(time)s") % {"time": at}


def _next_slot(digest: DigestConfig, now: datetime) -> datetime:
    return slots_between(digest, now, now + timedelta(days=63))[0]


def _page(template: str, status: int = 200, **context: Any) -> Response:
    site = _site()
    body = site.env.get_template(template).render(
        site=site.config.site,
        url=_url,
        lang=i18n.language(),
        csrf=sign(site.secret, CSRF, g.get("csrf_cookie", "")),
        style=current_app.extensions["publisher.style"][1],
        **context,
    )
    return Response(body, status, mimetype="text/html")


def _message(
    title: str, text: str, status: int = 200, details: tuple[str, ...] = (), links: Mapping[str, str] | None = None
) -> Response:
    """A page that says one thing, with links onward (label -> URL)."""
    return _page("web-message.html.j2", status, title=title, text=text, details=details, links=dict(links or {}))


def _form_context() -> dict[str, Any]:
    """What a sign-up form needs: the digests and the signed time the page was served."""
    site = _site()
    return {
        "digests": site.config.digests,
        "schedules": {d.name: schedule_words(d) for d in site.config.digests},
        "issued": issue_stamp(site.secret, site.now()),
        "honeypot": HONEYPOT,
    }


def _require_csrf() -> None:
    sent = request.form.get(CSRF_FIELD, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not signed(_site().secret, CSRF, cookie, sent):
        abort(400, _("This form has expired or was sent from another site. Go back, reload the page and try again."))


def _form_tags() -> tuple[str, ...] | None:
    return tag_slugs(request.form.getlist("tag"))


def _token() -> str:
    return request.args.get("token", "")


def _store() -> State:
    return open_state(_site().config.state)


def _manage_link(subscriber: Subscriber) -> dict[str, str]:
    return {_("Manage your subscription"): _url("manage", token=manage_token(_site().secret, subscriber))}


def _subscription_details(db: State, subscriber: Subscriber) -> tuple[str, ...]:
    """Which digests, which tags and when the next one is due, in the reader's language and the digest's time."""
    config, now = _site().config, _site().now()
    chosen = db.subscribers.digest_of(subscriber.id)
    names = [t.name if t else slug for slug in subscriber.tags or () for t in (db.web_tags.one(slug),)]
    tags = babel.lists.format_list(names, locale=i18n.babel_locale()) if names else _("every tag")
    return tuple(
        _("The %(digest)s digest, %(schedule)s, with %(tags)s. The next one is due %(when)s.")
        % {
            "digest": digest.name,
            "schedule": schedule_words(digest),
            "tags": tags,
            "when": i18n.format_when(_next_slot(digest, now), digest.tz),
        }
        for digest in config.digests
        if chosen in (None, digest.name)
    )


def choose_language() -> None:
    """The reader's language for this request, and a CSRF cookie that the forms' tokens are bound to."""
    accepted = [tag for tag, _quality in request.accept_languages]
    g.language = i18n.negotiate(accepted, _site().config.site.language)
    g.language_token = i18n.use(g.language)
    g.csrf_cookie = request.cookies.get(CSRF_COOKIE) or ""
    if not g.csrf_cookie:
        g.csrf_cookie = g.new_cookie = secrets.token_urlsafe(16)


def forget_language(_exc: BaseException | None) -> None:
    if token := g.pop("language_token", None):
        i18n.restore(token)


def security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    if request.endpoint != f"{BLUEPRINT}.style":
        response.headers["Content-Language"] = i18n.language()
        response.vary.add("Accept-Language")
    if g.get("new_cookie") and response.mimetype == "text/html":
        response.set_cookie(
            CSRF_COOKIE, g.new_cookie, httponly=True, samesite="Lax", secure=request.is_secure, path="/"
        )
    return response


def subscribe() -> Response:
    _require_csrf()
    site = _site()
    if not site.config.digests:
        abort(404)
    form = request.form
    now = site.now()
    why = automated(site.secret, form.get(HONEYPOT, ""), form.get(ISSUED, ""), now, site.min_fill)
    if why:  # the usual answer, so a program learns nothing from it
        log.info("sign-up ignored: %s", why)
        address = form.get("email", "").strip()[:254]
    else:
        with _store() as db:
            address = request_signup(
                site.config,
                db,
                site.secret,
                form.get("email", ""),
                _form_tags(),
                digest_choice(site.config, form.get("digest", "")),
                client_key(request.remote_addr or ""),
                now,
                language=i18n.language(),
            )
        site.poke()
    return _message(
        _("Check your inbox"),
        _("A message is on its way to %(address)s. Open its link to confirm; until then you get nothing from us.")
        % {"address": address},
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
        details = _subscription_details(db, subscriber)
    text = _("Your subscription is active.") if fresh else _("This address is subscribed already.")
    return _message(
        _("You are subscribed"),
        text + " " + _("Digests go to %(address)s:") % {"address": subscriber.address},
        details=details,
        links=_manage_link(subscriber),
    )


def _unsubscribed(subscriber: Subscriber) -> Response:
    return _message(
        _("You are unsubscribed"),
        _("%(address)s gets no more digests from %(site)s.")
        % {"address": subscriber.address, "site": _site().config.site.title},
        links={_("Subscribe again"): _url("index")},
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
            if subscriber.status != "unsubscribed":
                return _page(
                    "web-action.html.j2",
                    action="unsubscribe",
                    token=_token(),
                    subscriber=subscriber,
                    keep=_url("manage", token=manage_token(site.secret, subscriber)),
                )
    return _unsubscribed(subscriber)


def _change_preferences(db: State, tags: list[Tag]) -> tuple[Subscriber, list[str]]:
    """A POST to the manage page's Save: new tags and digest (none changed if a tag is unknown)."""
    site = _site()
    digest = digest_choice(site.config, request.form.get("digest", ""))
    refused = _tag_notes(_form_tags() or (), tags)
    if refused:  # a tag gone since the page was shown, or a made-up one: change nothing
        return subscriber_for_token(db, site.secret, MANAGE, _token()), refused
    order = {tag.slug: n for n, tag in enumerate(tags)}
    chosen = _form_tags()  # followed tags come first on the page: keep them in the tags' order
    chosen = tuple(sorted(chosen, key=order.__getitem__)) if chosen else chosen
    return update_preferences(db, site.secret, _token(), chosen, digest), []


def manage() -> Response:
    site = _site()
    refused: list[str] = []
    with _store() as db:
        tags = _known_tags(db)  # only tags that a published post has
        if request.method == "GET":
            subscriber = subscriber_for_token(db, site.secret, MANAGE, _token())
        else:
            _require_csrf()
            if request.form.get("action") == "unsubscribe":
                subscriber = subscriber_for_token(db, site.secret, MANAGE, _token())
                if request.form.get("confirmed") != "yes":  # ask once more
                    return _page(
                        "web-action.html.j2",
                        action="leave",
                        token=_token(),
                        subscriber=subscriber,
                        keep=_url("manage", token=_token()),
                    )
                subscriber = unsubscribe(db, site.secret, _token(), site.now(), MANAGE)
                site.poke()
                return _unsubscribed(subscriber)
            subscriber, refused = _change_preferences(db, tags)
        chosen = db.subscribers.digest_of(subscriber.id)
        details = _subscription_details(db, subscriber) if subscriber.status == "active" else ()
    followed = set(subscriber.tags or ())
    return _page(
        "web-manage.html.j2",
        400 if refused else 200,
        subscriber=subscriber,
        token=_token(),
        followed=[t for t in tags if t.slug in followed],
        others=[t for t in tags if t.slug not in followed],
        unknown=[] if refused else _tag_notes(subscriber.tags or (), tags),
        refused=refused,
        digests=site.config.digests,
        schedules={d.name: schedule_words(d) for d in site.config.digests},
        chosen=chosen,
        details=details,
        saved=request.method == "POST" and not refused,
    )


def blueprint(feeds_path: str) -> Blueprint:
    """The pages, with the feeds served under ``feeds_path`` ([feeds] url_path)."""
    from .browse import chosen_opml, feed, index, style, tag_page  # these use this module's helpers
    from .errorpages import crash, http_error, publisher_error

    pages = Blueprint(BLUEPRINT, __name__)
    pages.before_app_request(choose_language)
    pages.teardown_app_request(forget_language)
    pages.after_app_request(security_headers)
    pages.app_errorhandler(PublisherError)(publisher_error)
    pages.app_errorhandler(HTTPException)(http_error)
    pages.app_errorhandler(Exception)(crash)
    pages.add_url_rule("/", view_func=index, methods=["GET"])
    pages.add_url_rule("/tags/<slug>", view_func=tag_page, methods=["GET"])
    pages.add_url_rule("/style.css", view_func=style, methods=["GET"])
    pages.add_url_rule("/feeds.opml", view_func=chosen_opml, methods=["GET"])
    pages.add_url_rule("/subscribe", view_func=subscribe, methods=["POST"])
    pages.add_url_rule("/confirm", view_func=confirm, methods=["GET", "POST"])
    pages.add_url_rule("/unsubscribe", view_func=unsubscribe_route, methods=["GET", "POST"])
    pages.add_url_rule("/manage", view_func=manage, methods=["GET", "POST"])
    pages.add_url_rule(f"{feeds_path}<path:name>", view_func=feed, methods=["GET"])
    return pages
