"""config.toml -> frozen dataclasses. Every error names the key and what was expected."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .model import Author

CONFIG_NAME = "config.toml"
FEED_FORMATS = ("atom", "rss")
PERMALINK_FIELDS = ("year", "month", "day", "slug")
_SECTIONS = ("site", "content", "feeds", "state")


@dataclass(frozen=True)
class SiteConfig:
    title: str
    subtitle: str
    base_url: str
    language: str
    timezone: str
    author: Author
    permalink: str
    tag_url: str
    author_url: str

    @functools.cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @functools.cached_property
    def domain(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def url(self, path: str) -> str:
        """Absolute URL of a site path ("/tags/x/" -> "https://host/blog/tags/x/")."""
        return self.base_url + path.lstrip("/")


@dataclass(frozen=True)
class ContentConfig:
    folder: Path
    categories: str  # "tags": categories are tags too; "ignore"


@dataclass(frozen=True)
class FeedsConfig:
    folder: Path
    url_path: str
    formats: tuple[str, ...]
    max_items: int
    full_content: bool
    site: bool
    tags: bool
    authors: bool


@dataclass(frozen=True)
class StateConfig:
    path: Path


@dataclass(frozen=True)
class Config:
    root: Path
    site: SiteConfig
    content: ContentConfig
    feeds: FeedsConfig
    state: StateConfig


class _Section:
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

    def finish(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise ConfigError(
                f"config: unknown key {self._key(unknown[0])}; [{self.name}] accepts {', '.join(sorted(known))}"
            )


def _url_path(section: _Section, key: str, default: str) -> str:
    value = section.get(key, str, default)
    if not value.startswith("/"):
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected a path starting with '/'")
    return value


def _pattern(section: _Section, key: str, default: str, fields: tuple[str, ...]) -> str:
    value = _url_path(section, key, default)
    try:
        value.format(**{f: "x" for f in fields})
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a pattern using only "
            + ", ".join("{" + f + "}" for f in fields)
        ) from exc
    if "{slug}" not in value:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: the pattern must contain {{slug}}")
    return value


def _site(data: Any) -> SiteConfig:
    s = _Section(data, "site")
    base_url = s.get("base_url", str, what="an absolute http(s) URL such as 'https://example.org/'")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"config: site.base_url = {base_url!r}: expected an absolute http or https URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"config: site.base_url = {base_url!r}: expected no query or fragment")
    if not base_url.endswith("/"):
        base_url += "/"
    timezone = s.get("timezone", str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"config: site.timezone = {timezone!r}: expected an IANA time zone name such as 'Europe/Paris'"
        ) from exc
    author = _Section(s.get("author", dict, what="a table with name and optional email"), "site.author")
    default_author = Author(
        name=author.get("name", str, what="the default author's name"), email=author.get("email", str, None)
    )
    author.finish({"name", "email"})
    language = s.get("language", str, "en")
    site = SiteConfig(
        title=s.get("title", str, what="the site's title"),
        subtitle=s.get("subtitle", str, ""),
        base_url=base_url,
        language=language,
        timezone=timezone,
        author=default_author,
        permalink=_pattern(s, "permalink", "/{year}/{month}/{day}/{slug}/", PERMALINK_FIELDS),
        tag_url=_pattern(s, "tag_url", "/tags/{slug}/", ("slug",)),
        author_url=_pattern(s, "author_url", "/authors/{slug}/", ("slug",)),
    )
    s.finish({"title", "subtitle", "base_url", "language", "timezone", "author", "permalink", "tag_url", "author_url"})
    return site


def _folder(root: Path, section: _Section, key: str, default: str) -> Path:
    value = section.get(key, str, default)
    if not value.strip():
        raise ConfigError(f"config: {section.name}.{key} is empty; expected a folder path")
    return (root / value).resolve()


def _content(root: Path, data: Any) -> ContentConfig:
    s = _Section(data, "content")
    categories = s.get("categories", str, "tags")
    if categories not in ("tags", "ignore"):
        raise ConfigError(f"config: content.categories = {categories!r}: expected 'tags' or 'ignore'")
    result = ContentConfig(folder=_folder(root, s, "folder", "content"), categories=categories)
    s.finish({"folder", "categories"})
    return result


def _feeds(root: Path, data: Any) -> FeedsConfig:
    s = _Section(data, "feeds")
    formats = s.get("formats", list, ["atom", "rss"], what="a list drawn from 'atom', 'rss'")
    if not formats or any(f not in FEED_FORMATS for f in formats) or len(set(formats)) != len(formats):
        raise ConfigError(f"config: feeds.formats = {formats!r}: expected a non-empty list drawn from 'atom', 'rss'")
    max_items = s.get("max_items", int, 20)
    if max_items < 1:
        raise ConfigError(f"config: feeds.max_items = {max_items}: expected a positive integer")
    url_path = _url_path(s, "url_path", "/feeds/")
    result = FeedsConfig(
        folder=_folder(root, s, "folder", "feeds"),
        url_path=url_path if url_path.endswith("/") else url_path + "/",
        formats=tuple(f for f in FEED_FORMATS if f in formats),
        max_items=max_items,
        full_content=s.get("full_content", bool, True),
        site=s.get("site", bool, True),
        tags=s.get("tags", bool, True),
        authors=s.get("authors", bool, False),
    )
    s.finish({"folder", "url_path", "formats", "max_items", "full_content", "site", "tags", "authors"})
    return result


def _state(root: Path, data: Any) -> StateConfig:
    s = _Section(data, "state")
    result = StateConfig(path=_folder(root, s, "path", ".publisher/state.db"))
    s.finish({"path"})
    return result


def load_config(path: Path) -> Config:
    """Read and validate a site's config.toml; relative folders resolve against its folder."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"config: {path} not found; run 'publisher init' to create a site") from exc
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config: {path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: invalid TOML: {exc}") from exc
    root = path.resolve().parent
    top = _Section(data, "config")
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"config: unknown top-level key {unknown[0]!r}; expected the tables "
            + ", ".join(f"[{s}]" for s in _SECTIONS)
        )
    return Config(
        root=root,
        site=_site(top.get("site", dict, what="a [site] table")),
        content=_content(root, top.get("content", dict, {})),
        feeds=_feeds(root, top.get("feeds", dict, {})),
        state=_state(root, top.get("state", dict, {})),
    )
