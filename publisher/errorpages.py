"""Error pages: what went wrong in the reader's words; the details go to the log, never to the page."""

from __future__ import annotations

from flask import Response, current_app
from werkzeug.exceptions import HTTPException

from .errors import PublisherError, RateLimited, SubscriberError
from .i18n import _
from .views import _message, _sentence, _url

STATUS = {SubscriberError: 400, RateLimited: 429}


def publisher_error(exc: PublisherError) -> Response:
    """A reader's mistake as a page that says what was wrong; a set-up mistake is logged, never shown."""
    status = next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), 500)
    if status == 500:
        current_app.logger.error("publisher: %s", exc)
        return _message(_("Something went wrong"), _("The server is not set up correctly; try again later."), 500)
    return _message(_("That did not work"), _sentence(str(exc)), status, links={_("Front page"): _url("index")})


def _http_words(code: int) -> tuple[str, str]:
    words = {
        400: (_("That did not work"), _("The request was not what this page expects.")),
        404: (_("Page not found"), _("There is no page at this address. The front page lists every tag.")),
        405: (_("That did not work"), _("This page does not take that kind of request.")),
        413: (_("That did not work"), _("That was more than this page accepts.")),
    }
    return words.get(code, (_("Something went wrong"), _("An unexpected error happened on our side; try again later.")))


def http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    title, text = _http_words(code)
    if exc.description != type(exc).description:  # our own words (abort with a text)
        text = exc.description or text
    return _message(title, text, code, links={_("Front page"): _url("index")})


def crash(exc: Exception) -> Response:
    current_app.logger.exception("unexpected error")
    return _message(_("Something went wrong"), _("An unexpected error happened on our side; try again later."), 500)
