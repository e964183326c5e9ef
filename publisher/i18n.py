"""Pages and e-mails in the reader's language: gettext catalogs (Babel) and Babel's dates and numbers.

The catalogs are the .po files under locales/ (packaged as publisher/locales), read once per
process: no compile step to forget, and what is in the repository is what runs. English is the
language of the source strings; its catalog lists them so that both catalogs can be checked
against what the code and templates use (tests/test_i18n.py).
"""

from __future__ import annotations

import functools
import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import datetime, tzinfo
from io import BytesIO
from pathlib import Path

import babel.dates
import babel.numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("en", "fr")  # those with a complete catalog
DEFAULT = "en"
FORMATS = {"en": "en_GB"}  # Babel's locale for dates and numbers: "23 November 2026", as the digests always wrote

_current: ContextVar[str] = ContextVar("publisher_language", default=DEFAULT)


def supported(tag: str | None) -> str | None:
    """The catalog for a language tag ("fr-CH" -> "fr"), or None when there is none."""
    primary = (tag or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def negotiate(accepted: list[str], site_language: str) -> str:
    """The page language: the first of the reader's Accept-Language (best first) that has a catalog,
    else the site's ``[site] language``, else English."""
    for tag in accepted:
        if found := supported(tag):
            return found
    return supported(site_language) or DEFAULT


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return _gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries left out: an unreviewed translation is not shown
    compiled.seek(0)
    return Translations(compiled)


def babel_locale() -> str:
    """The Babel locale of the current language, for formatting."""
    return FORMATS.get(_current.get(), _current.get())


def language() -> str:
    return _current.get()


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Strings, dates and numbers in ``lang`` within the block (per thread and per request)."""
    token = _current.set(supported(lang) or DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


_ = gettext


def format_date(when: datetime, zone: tzinfo | None = None) -> str:
    """A day as the reader writes it: "3 March 2026", "3 mars 2026"."""
    local = when.astimezone(zone) if zone else when
    return babel.dates.format_date(local.date(), "long", locale=babel_locale())


def format_when(when: datetime, zone: tzinfo) -> str:
    """An instant in ``zone`` with its weekday and the zone's city: "Tuesday 3 March 2026, 08:00 (New York time)"."""
    locale = babel_locale()
    day = babel.dates.format_date(when.astimezone(zone).date(), "full", locale=locale)
    hour = babel.dates.format_time(when, "short", tzinfo=zone, locale=locale)
    place = babel.dates.get_timezone_location(zone, locale=locale, return_city=True)
    return gettext("%(day)s at %(time)s (%(place)s time)") % {"day": day, "time": hour, "place": place}


def format_number(number: int) -> str:
    return _format_number(number, babel_locale())


@functools.lru_cache(maxsize=4096)  # a page of tags formats the same small counts again and again
def _format_number(number: int, locale: str) -> str:
    return babel.numbers.format_decimal(number, locale=locale)


def day_name(weekday: int) -> str:
    """Monday is 0, as in datetime."""
    return str(babel.dates.get_day_names("wide", locale=babel_locale())[weekday])


def use(lang: str) -> Token[str]:
    """``speaking`` for code that starts and ends in two places (a web request's hooks)."""
    return _current.set(supported(lang) or DEFAULT)


def restore(token: Token[str]) -> None:
    _current.reset(token)
