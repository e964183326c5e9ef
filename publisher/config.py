"""config.toml -> frozen dataclasses. Every error names the key and what was expected."""

from __future__ import annotations

import functools
import re
import string
import tomllib
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .addresses import normalize_address, parse_mailbox
from .errors import ConfigError
from .formats import NAMES as FEED_FORMATS
from .model import SLUG_BYTES, Author, name_slug

CONFIG_NAME = "config.toml"
PERMALINK_FIELDS = ("year", "month", "day", "slug")
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters only
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%{}]*")  # RFC 3986 path characters, and {fields}
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")  # BCP 47, as feeds and xml:lang take it
_SECTIONS = ("site", "content", "feeds", "tags", "state", "smtp", "digests", "web", "run", "bounces", "websub")
SMTP_SECURITY = {"starttls": 587, "tls": 465, "none": 25}  # -> default port
SCHEDULES = ("daily", "weekly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LAST_DAY = -1  # day_of_month = "last"
_DIGEST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOUR = 3600  # seconds
DAY = 24 * HOUR
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


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
    max_post_mb: float = 5.0  # a post's memory while parsed is some 20 times its size


@dataclass(frozen=True)
class TagsConfig:
    """How tags become feeds: slugs and display names the site pins, and how many a post may have."""

    slugs: tuple[tuple[str, str], ...] = ()  # (case-folded tag name, slug)
    names: tuple[tuple[str, str], ...] = ()  # (slug, display name)
    max_per_post: int = 50  # each tag feed lists every tag of its posts: many tags cost their square

    @functools.cached_property
    def _pinned(self) -> dict[str, str]:
        return dict(self.slugs)

    @functools.cached_property
    def display(self) -> dict[str, str]:
        """Display name by slug, for the tags whose name the site pins."""
        return dict(self.names)

    def slug(self, name: str) -> str:
        """A tag name's slug: the pinned one, else the one its name gives."""
        return self._pinned.get(name.casefold()) or name_slug(name)

    def is_pinned(self, slug: str) -> bool:
        return slug in self._pinned.values()


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
    archives: bool = False  # RFC 5005 archive pages holding every post older than the newest max_items


@dataclass(frozen=True)
class WebSubConfig:
    """The WebSub hubs every feed names, and that each publish tells which feeds changed."""

    hubs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateConfig:
    """The SQLite file (the default), or a PostgreSQL URL (PUBLISHER_DATABASE_URL wins over it)."""

    path: Path
    url: str | None = None


@dataclass(frozen=True)
class SmtpConfig:
    """Where digests are handed over; the password lives in the environment variable named here."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # "starttls", "tls" (implicit TLS) or "none"
    username: str | None = None
    password_env: str | None = None
    timeout: float = 30.0
    rate_limit: float = 0.0  # messages per second; 0: as fast as the server takes them
    max_retries: int = 5
    retry_base_seconds: float = 30.0


@dataclass(frozen=True)
class DigestConfig:
    """One [[digests]] entry: when it goes out, what it holds and who it comes from."""

    name: str
    schedule: str  # "daily", "weekly" or "monthly"
    time_of_day: time
    timezone: str
    subject: str  # a Jinja template
    from_address: str
    weekday: int | None = None  # weekly: 0 = Monday
    day_of_month: int | None = None  # monthly: 1..31 or LAST_DAY; short months clamp to their last day
    tags: tuple[str, ...] | None = None  # tag slugs; None: each subscriber's own choice
    min_items: int = 1
    max_items: int = 20
    reply_to: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class WebConfig:
    base_url: str = ""  # where unsubscribe and manage links point; load_config defaults it to site.base_url

    def warning(self) -> str | None:
        """What to tell whoever sends mail with links to this machine: they open nowhere else."""
        if urlsplit(self.base_url).hostname not in LOOPBACK_HOSTS:
            return None
        return f"web.base_url = {self.base_url!r} is this machine: links in e-mails only work on it"


@dataclass(frozen=True)
class RunConfig:
    """`publisher run`: how often it looks for work, and how late a missed digest may still go out."""

    tick_seconds: int = 60
    publish_interval_minutes: int = 0  # 0: look for changed content at every tick (a no-op publish is cheap)
    grace_hours: float = 24.0

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)


@dataclass(frozen=True)
class BouncesConfig:
    """[bounces]: the address delivery reports come back to, the mailbox they land in, and when
    soft bounces add up to a hard one."""

    address: str  # "bounces@example.org": digests go out from bounces+<token>@example.org
    kind: str  # "maildir", "mbox" or "imaps"
    path: Path | None = None  # maildir, mbox
    host: str = ""  # imaps
    port: int = 993
    username: str = ""
    folder: str = "INBOX"
    password_env: str | None = None
    soft_bounce_limit: int = 3
    soft_bounce_days: int = 7

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class Config:
    root: Path
    site: SiteConfig
    content: ContentConfig
    feeds: FeedsConfig
    state: StateConfig
    tags: TagsConfig = TagsConfig()
    smtp: SmtpConfig = SmtpConfig()
    digests: tuple[DigestConfig, ...] = ()
    web: WebConfig = WebConfig()
    run: RunConfig = RunConfig()
    bounces: BouncesConfig | None = None
    websub: WebSubConfig = WebSubConfig()

    def digest(self, name: str) -> DigestConfig:
        for digest in self.digests:
            if digest.name == name:
                return digest
        known = ", ".join(d.name for d in self.digests) or "none: add a [[digests]] table to config.toml"
        raise ConfigError(f"config: no digest named {name!r}; configured digests: {known}")


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
    """A URL path; characters a URL may not hold (such as '<', which web routes read as a
    converter) are refused here rather than breaking every page later."""
    value = section.get(key, str, default)
    if not value.startswith("/"):
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected a path starting with '/'")
    if not _PATH.fullmatch(value):
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a URL path of letters, digits and - . _ ~ / "
            "(write other characters %-encoded)"
        )
    return value


def _pattern(section: _Section, key: str, default: str, fields: tuple[str, ...]) -> str:
    """A path with plain {field}s only: no {slug.attr}, {slug[0]} or {slug!r:>9}."""
    value = _url_path(section, key, default)
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


def _timezone(section: _Section, key: str, default: str) -> str:
    value = section.get(key, str, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder such as 'America', too long
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected an IANA time zone name such as 'Europe/Paris'"
        ) from exc
    return value


def _http_url(section: _Section, key: str, default: Any, schemes: tuple[str, ...]) -> str:
    """An absolute URL ending in '/', so that relative paths can be appended to it."""
    value = section.get(
        key, str, default, what=f"an absolute {' or '.join(schemes)} URL such as 'https://example.org/'"
    )
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected an absolute {' or '.join(schemes)} URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: expected no query or fragment")
    if not _URL_CHARS.fullmatch(value):
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a URL without spaces or quotes (write %20 for a space)"
        )
    return value if value.endswith("/") else value + "/"


def _text(section: _Section, key: str, what: str, default: Any = ...) -> str:
    """A string that must say something: an empty title or name would make invalid feeds."""
    value = section.get(key, str, default, what=what)
    if not value.strip():
        raise ConfigError(f"config: {section.name}.{key} is empty; expected {what}")
    return value.strip()


def _site(data: Any) -> SiteConfig:
    s = _Section(data, "site")
    base_url = _http_url(s, "base_url", ..., ("http", "https"))
    timezone = _timezone(s, "timezone", "UTC")
    author = _Section(s.get("author", dict, what="a table with name and optional email"), "site.author")
    default_author = Author(
        name=_text(author, "name", "the default author's name"), email=author.get("email", str, None)
    )
    author.finish({"name", "email"})
    language = s.get("language", str, "en")
    if not _LANGUAGE.fullmatch(language):
        raise ConfigError(f"config: site.language = {language!r}: expected a language tag such as 'en' or 'pt-BR'")
    site = SiteConfig(
        title=_text(s, "title", "the site's title"),
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
    result = ContentConfig(
        folder=_folder(root, s, "folder", "content"),
        categories=categories,
        max_post_mb=_number(s, "max_post_mb", 5.0, minimum=0.001, maximum=1000),
    )
    s.finish({"folder", "categories", "max_post_mb"})
    return result


def _feeds(root: Path, data: Any) -> FeedsConfig:
    s = _Section(data, "feeds")
    choices = ", ".join(repr(f) for f in FEED_FORMATS)
    formats = s.get("formats", list, ["atom", "rss"], what=f"a list drawn from {choices}")
    if not formats or any(f not in FEED_FORMATS for f in formats) or len(set(formats)) != len(formats):
        raise ConfigError(f"config: feeds.formats = {formats!r}: expected a non-empty list drawn from {choices}")
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
        archives=s.get("archives", bool, False),
    )
    s.finish({"folder", "url_path", "formats", "max_items", "full_content", "site", "tags", "authors", "archives"})
    return result


def _websub(data: Any) -> WebSubConfig:
    s = _Section(data, "websub")
    hubs = s.get("hubs", list, [], what="a list of hub URLs")
    for hub in hubs:
        parts = urlsplit(hub) if isinstance(hub, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.hostname or not _URL_CHARS.fullmatch(hub):
            raise ConfigError(f"config: websub.hubs: {hub!r}: expected an absolute http or https URL")
    s.finish({"hubs"})
    return WebSubConfig(tuple(dict.fromkeys(hubs)))


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _tags(data: Any) -> TagsConfig:
    """[tags]: slugs = {name = slug} keeps a feed URL through a rename; names = {slug or name = display name}."""
    s = _Section(data, "tags")
    slugs = _Section(s.get("slugs", dict, {}, what='a table such as { "C++" = "cpp" }'), "tags.slugs")
    pinned = []
    for name, slug in slugs.data.items():
        if not isinstance(slug, str) or not _SLUG.fullmatch(slug) or len(slug) > SLUG_BYTES:
            raise ConfigError(
                f"config: tags.slugs.{name!r} = {slug!r}: expected lower-case letters, digits and single hyphens, "
                f"at most {SLUG_BYTES} characters"
            )
        pinned.append((name.strip().casefold(), slug))
    partial = TagsConfig(slugs=tuple(pinned))
    names = _Section(s.get("names", dict, {}, what='a table such as { "cpp" = "C++" }'), "tags.names")
    shown = []
    for key, name in names.data.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"config: tags.names.{key!r} = {name!r}: expected the tag's display name")
        shown.append((key if _SLUG.fullmatch(key) else partial.slug(key), name.strip()))
    result = TagsConfig(slugs=partial.slugs, names=tuple(shown), max_per_post=_count(s, "max_per_post", 50, 1, 1000))
    s.finish({"slugs", "names", "max_per_post"})
    return result


def _state(root: Path, data: Any) -> StateConfig:
    s = _Section(data, "state")
    url = s.get("url", str, None)
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"config: state.url = {url.split('@')[-1]!r}: expected postgresql://user@host/dbname")
    result = StateConfig(path=_folder(root, s, "path", ".publisher/state.db"), url=url)
    s.finish({"path", "url"})
    return result


def _number(section: _Section, key: str, default: float, minimum: float, maximum: float) -> float:
    """Every number in the configuration: finite (TOML allows nan and inf) and within bounds
    that keep the times and counts computed from it from overflowing."""
    value = section.get(key, object, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise ConfigError(
            f"config: {section.name}.{key} = {value!r}: expected a number of at least {minimum:g} and at most {maximum:g}"
        )
    return float(value)


def _count(section: _Section, key: str, default: int, minimum: int, maximum: int) -> int:
    """A whole number, checked as every number is."""
    value = section.get(key, int, default)
    if not minimum <= value <= maximum:
        raise ConfigError(
            f"config: {section.name}.{key} = {value}: expected an integer of at least {minimum} and at most {maximum}"
        )
    return value


def _smtp(data: Any) -> SmtpConfig:
    s = _Section(data, "smtp")
    if "password" in s.data:
        raise ConfigError(
            "config: smtp.password is not allowed; put the password in an environment variable "
            "and name that variable in smtp.password_env"
        )
    security = s.get("security", str, "starttls")
    if security not in SMTP_SECURITY:
        raise ConfigError(f"config: smtp.security = {security!r}: expected 'starttls', 'tls' or 'none'")
    password_env = s.get("password_env", str, None)
    if password_env is not None and not _ENV_NAME.match(password_env):
        raise ConfigError(f"config: smtp.password_env = {password_env!r}: expected the name of an environment variable")
    port = s.get("port", int, SMTP_SECURITY[security])
    if not 0 < port < 65536:
        raise ConfigError(f"config: smtp.port = {port}: expected a TCP port number (1-65535)")
    result = SmtpConfig(
        host=s.get("host", str, "localhost"),
        port=port,
        security=security,
        username=s.get("username", str, None),
        password_env=password_env,
        timeout=_number(s, "timeout", 30.0, 0.1, HOUR),
        rate_limit=_number(s, "rate_limit", 0.0, 0, 10_000),
        max_retries=_count(s, "max_retries", 5, 0, 20),
        retry_base_seconds=_number(s, "retry_base_seconds", 30.0, 0, DAY),
    )
    s.finish(
        {"host", "port", "security", "username", "password_env", "timeout", "rate_limit", "max_retries",
         "retry_base_seconds"}
    )  # fmt: skip
    return result


def _mailbox(section: _Section, key: str, default: Any) -> str | None:
    value = section.get(key, str, default, what="an address such as 'News <news@example.org>'")
    if value is None:
        return None
    try:
        parse_mailbox(value)
    except ValueError as exc:
        raise ConfigError(f"config: {section.name}.{key} = {value!r}: {exc}") from None
    return value


def _when(s: _Section, schedule: str) -> tuple[int | None, int | None]:
    """weekly needs ``day``, monthly needs ``day_of_month``; neither may appear elsewhere."""
    for key, wanted in (("day", "weekly"), ("day_of_month", "monthly")):
        if key in s.data and schedule != wanted:
            raise ConfigError(f"config: {s.name}.{key} only applies to schedule = '{wanted}'")
    if schedule == "weekly":
        day = s.get("day", str, what="a weekday such as 'monday'")
        if day.lower() not in WEEKDAYS:
            raise ConfigError(f"config: {s.name}.day = {day!r}: expected one of {', '.join(WEEKDAYS)}")
        return WEEKDAYS.index(day.lower()), None
    if schedule == "monthly":
        day = s.get("day_of_month", object, what="a day of the month (1-31) or 'last'")
        if day == "last":
            return None, LAST_DAY
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31:
            raise ConfigError(f"config: {s.name}.day_of_month = {day!r}: expected 1-31 or 'last'")
        return None, day
    return None, None


def _digest(data: Any, index: int, site: SiteConfig, tag_config: TagsConfig) -> DigestConfig:
    s = _Section(data, f"digests[{index}]")
    name = s.get("name", str, what="a short lower-case name such as 'weekly'")
    if not _DIGEST_NAME.match(name):
        raise ConfigError(f"config: {s.name}.name = {name!r}: expected lower-case letters, digits and hyphens")
    s.name = f"digests.{name}"
    schedule = s.get("schedule", str, what="'daily', 'weekly' or 'monthly'")
    if schedule not in SCHEDULES:
        raise ConfigError(f"config: {s.name}.schedule = {schedule!r}: expected 'daily', 'weekly' or 'monthly'")
    weekday, day_of_month = _when(s, schedule)
    at = s.get("time", str, "08:00", what="a local time such as '08:00'")
    found = _TIME.match(at)
    if not found:
        raise ConfigError(f"config: {s.name}.time = {at!r}: expected a 24-hour local time such as '08:00'")
    tags = s.get("tags", object, "subscriber", what="'subscriber' or a list of tags")
    if tags != "subscriber" and (
        not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t.strip() for t in tags)
    ):
        raise ConfigError(f"config: {s.name}.tags = {tags!r}: expected 'subscriber' or a non-empty list of tags")
    subject = s.get(
        "subject", str, "{{ site.title }}: {{ posts|length }} new {{ 'post' if posts|length == 1 else 'posts' }}"
    )
    import jinja2  # only sites with digests pay for Jinja when loading their config

    try:
        jinja2.Environment().parse(subject)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"config: {s.name}.subject = {subject!r}: not a valid Jinja template: {exc}") from None
    min_items = _count(s, "min_items", 1, 1, 10_000)
    max_items = _count(s, "max_items", 20, 1, 10_000)
    if max_items < min_items:
        raise ConfigError(f"config: {s.name}.max_items = {max_items}: expected at least min_items ({min_items})")
    result = DigestConfig(
        name=name,
        schedule=schedule,
        time_of_day=time(int(found.group(1)), int(found.group(2))),
        timezone=_timezone(s, "timezone", site.timezone),
        subject=subject,
        from_address=_mailbox(s, "from_address", ...),
        weekday=weekday,
        day_of_month=day_of_month,
        tags=None if tags == "subscriber" else tuple(dict.fromkeys(tag_config.slug(t) for t in tags)),
        min_items=min_items,
        max_items=max_items,
        reply_to=_mailbox(s, "reply_to", None),
    )
    s.finish(
        {"name", "schedule", "day", "day_of_month", "time", "timezone", "tags", "subject", "min_items", "max_items",
         "from_address", "reply_to"}
    )  # fmt: skip
    return result


def _digests(data: list[Any], site: SiteConfig, tag_config: TagsConfig) -> tuple[DigestConfig, ...]:
    digests = tuple(_digest(item, number, site, tag_config) for number, item in enumerate(data))
    names = [d.name for d in digests]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"config: two [[digests]] are named {name!r}; expected unique names")
    return digests


def _web(data: Any, site: SiteConfig) -> WebConfig:
    """Unsubscribe links must be https (RFC 8058), but for a trial on this machine (localhost, any port);
    without [web] they fall back to the site's own URL."""
    s = _Section(data, "web")
    result = WebConfig(
        base_url=_http_url(s, "base_url", ..., ("http", "https")) if "base_url" in s.data else site.base_url
    )
    s.finish({"base_url"})
    parts = urlsplit(result.base_url)
    if "base_url" in s.data and parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"config: web.base_url = {result.base_url!r}: expected an absolute https URL (http only for a trial on "
            "this machine: http://localhost, http://127.0.0.1 or http://[::1], any port)"
        )
    return result


def _run(data: Any) -> RunConfig:
    """A grace shorter than one tick would let a slot fall between two ticks and never go out."""
    s = _Section(data, "run")
    tick = s.get("tick_seconds", int, 60)
    if not 1 <= tick <= 3600:
        raise ConfigError(f"config: run.tick_seconds = {tick}: expected 1-3600 seconds")
    result = RunConfig(
        tick_seconds=tick,
        publish_interval_minutes=_count(s, "publish_interval_minutes", 0, 0, 31 * DAY // 60),
        grace_hours=_number(s, "grace_hours", 24.0, 0, 366 * 24),
    )
    s.finish({"tick_seconds", "publish_interval_minutes", "grace_hours"})
    if result.grace.total_seconds() < tick:
        raise ConfigError(
            f"config: run.grace_hours = {result.grace_hours:g}: expected at least one tick ({tick} s), "
            "or a slot could fall between two ticks and never go out"
        )
    return result


_MAILBOX_FORMS = "'maildir:PATH', 'mbox:PATH' or 'imaps://USER@HOST[:PORT]/FOLDER'"


def _bounces(root: Path, data: Any) -> BouncesConfig | None:
    """No [bounces]: digests go out from their from_address and nothing reads the replies."""
    if data is None:
        return None
    s = _Section(data, "bounces")
    address = s.get("address", str, what="an address such as 'bounces@example.org'")
    try:
        address = normalize_address(address)
    except ValueError as exc:
        raise ConfigError(f"config: bounces.address = {address!r}: {exc}") from None
    if "+" in address.partition("@")[0]:
        raise ConfigError(f"config: bounces.address = {address!r}: expected no '+': the publisher adds '+<token>'")
    mailbox = s.get("mailbox", str, what=_MAILBOX_FORMS)
    kind, colon, rest = mailbox.partition(":")
    where: dict[str, Any] = {}
    if kind in ("maildir", "mbox") and colon and rest.strip():
        where["path"] = (root / rest.strip()).resolve()
    elif kind == "imaps" and rest.startswith("//"):
        url = urlsplit(mailbox)
        try:
            port = url.port or 993
        except ValueError:
            port = 0
        if not url.hostname or not url.username or not port:
            raise ConfigError(f"config: bounces.mailbox = {mailbox!r}: expected {_MAILBOX_FORMS}")
        where = {"host": url.hostname, "port": port, "username": unquote(url.username)}
        where["folder"] = unquote(url.path.strip("/")) or "INBOX"
        if url.password is not None:
            raise ConfigError(
                "config: bounces.mailbox holds a password; put it in an environment variable "
                "and name that variable in bounces.password_env"
            )
    else:
        raise ConfigError(f"config: bounces.mailbox = {mailbox!r}: expected {_MAILBOX_FORMS}")
    password_env = s.get("password_env", str, None)
    if password_env is not None and not _ENV_NAME.match(password_env):
        raise ConfigError(
            f"config: bounces.password_env = {password_env!r}: expected the name of an environment variable"
        )
    if kind == "imaps" and password_env is None:
        raise ConfigError("config: bounces.password_env is missing; an imaps mailbox needs the password's variable")
    result = BouncesConfig(
        address=address,
        kind=kind,
        password_env=password_env,
        soft_bounce_limit=_count(s, "soft_bounce_limit", 3, 1, 1000),
        soft_bounce_days=_count(s, "soft_bounce_days", 7, 1, 366),
        **where,
    )
    s.finish({"address", "mailbox", "password_env", "soft_bounce_limit", "soft_bounce_days"})
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
    site = _site(top.get("site", dict, what="a [site] table"))
    tag_config = _tags(top.get("tags", dict, {}))
    return Config(
        root=root,
        site=site,
        content=_content(root, top.get("content", dict, {})),
        feeds=_feeds(root, top.get("feeds", dict, {})),
        state=_state(root, top.get("state", dict, {})),
        tags=tag_config,
        smtp=_smtp(top.get("smtp", dict, {})),
        digests=_digests(top.get("digests", list, [], what="an array of [[digests]] tables"), site, tag_config),
        web=_web(top.get("web", dict, {}), site),
        run=_run(top.get("run", dict, {})),
        bounces=_bounces(root, top.get("bounces", dict, None)),
        websub=_websub(top.get("websub", dict, {})),
    )
