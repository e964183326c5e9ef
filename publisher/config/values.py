"""Reading one table of config.toml: typed values, each error naming its key and what was expected."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..addresses import parse_mailbox
from ..errors import ConfigError
from .tables import table_keys

LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")  # BCP 47, as feeds and xml:lang take it
URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters only
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%{}]*")  # RFC 3986 path characters, and {fields}


class Section:
    """Reads one table, remembering which keys were used so that leftovers are errors."""

    def __init__(self, data: Any, name: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"config: [{name}] must be a table")
        self.data = data
        self.name = name

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, kind: type, default: Any = ..., what: str = "") -> Any:
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"config: {self._key(key)} is missing; expected {what or kind.__name__}")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            expected = what or {str: "a string", int: "an integer", bool: "true or false", list: "a list"}.get(
                kind, kind.__name__
            )
            raise ConfigError(f"config: {self._key(key)} = {value!r}: expected {expected}")
        return value

    def finish(self, table: type) -> None:
        """Refuse a key that no field of ``table`` (the dataclass this table was read into) takes."""
        known = table_keys(table)
        unknown = sorted(set(self.data) - set(known))
        if unknown:
            raise ConfigError(
                f"config: unknown key {self._key(unknown[0])}; [{self.name}] accepts {', '.join(sorted(known))}"
            )


def url_path_value(section: Section, key: str, default: str) -> str:
    """A URL path; characters a URL may not hold (such as '<', which web routes read as a
    converter) are refused here rather than breaking every page later."""
    value: str = section.get(key, str, default)
    if not value.startswith("/"):
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected a path starting with '/'")
    if not _PATH.fullmatch(value):
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a URL path of letters, digits and - . _ ~ / "
            "(write other characters %-encoded)"
        )
    return value


def pattern_value(section: Section, key: str, default: str, fields: tuple[str, ...]) -> str:
    """A path with plain {field}s only: no {slug.attr}, {slug[0]} or {slug!r:>9}."""
    value = url_path_value(section, key, default)
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError:
        parts = [("", "", "", None)]  # unbalanced braces: refused below
    if any(name is not None and (name not in fields or spec or conversion) for _, name, spec, conversion in parts):
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a pattern using only "
            + ", ".join("{" + f + "}" for f in fields)
        )
    if "{slug}" not in value:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: the pattern must contain {{slug}}")
    return value


def timezone_name(section: Section, key: str, default: str) -> str:
    value: str = section.get(key, str, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder such as 'America', too long
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected an IANA time zone name such as 'Europe/Paris'"
        ) from exc
    return value


def http_url(section: Section, key: str, default: Any, schemes: tuple[str, ...]) -> str:
    """An absolute URL ending in '/', so that relative paths can be appended to it."""
    value: str = section.get(
        key, str, default, what=f"an absolute {' or '.join(schemes)} URL such as 'https://example.org/'"
    )
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected an absolute {' or '.join(schemes)} URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected no query or fragment")
    if not URL_CHARS.fullmatch(value):
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a URL without spaces or quotes (write %20 for a space)"
        )
    return value if value.endswith("/") else value + "/"


def required_text(section: Section, key: str, what: str, default: Any = ...) -> str:
    """A string that must say something: an empty title or name would make invalid feeds."""
    value: str = section.get(key, str, default, what=what)
    if not value.strip():
        raise ConfigError(f"config: {section.name}.{key} is empty; expected {what}")
    return value.strip()


def folder_path(root: Path, section: Section, key: str, default: str) -> Path:
    value: str = section.get(key, str, default)
    if not value.strip():
        raise ConfigError(f"config: {section.name}.{key} is empty; expected a folder path")
    return (root / value).resolve()


def number_value(section: Section, key: str, default: float, minimum: float, maximum: float) -> float:
    """Every number in the configuration: finite (TOML allows nan and inf) and within bounds
    that keep the times and counts computed from it from overflowing."""
    value = section.get(key, object, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a number of at least {minimum:g} and at most {maximum:g}"
        )
    return float(value)


def count_value(section: Section, key: str, default: int, minimum: int, maximum: int) -> int:
    """A whole number, checked as every number is."""
    value: int = section.get(key, int, default)
    if not minimum <= value <= maximum:
        raise ConfigError(
            f"config: {section.name}.{key} = {value}: expected an integer of at least {minimum} and at most {maximum}"
        )
    return value


def mailbox_text(section: Section, key: str) -> str:
    """A required "Name <address>" or bare address, checked as the e-mail headers will need it."""
    value: str = section.get(key, str, what="an address such as 'News <news@example.org>'")
    try:
        parse_mailbox(value)
    except ValueError as exc:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: {exc}") from None
    return value


def optional_mailbox_text(section: Section, key: str) -> str | None:
    """mailbox_text, or None when the key is absent."""
    return mailbox_text(section, key) if key in section.data else None
