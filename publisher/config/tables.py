"""One frozen dataclass per table of config.toml; a table's keys are its fields (``toml`` metadata names
a key that differs from its field, or fills several fields)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ..errors import ConfigError
from ..model import Author, name_slug

CONFIG_NAME = "config.toml"
PERMALINK_FIELDS = ("year", "month", "day", "slug")
SMTP_SECURITY = {"starttls": 587, "tls": 465, "none": 25}  # -> default port
SCHEDULES = ("daily", "weekly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LAST_DAY = -1  # day_of_month = "last"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
TOML = "toml"  # field metadata: the config.toml key that sets this field (None: no key sets it)


def toml_key(name: str | None) -> dict[str, str | None]:
    """Metadata for a field set by another key than its name (or, with None, by none)."""
    return {TOML: name}


def table_keys(table: type) -> tuple[str, ...]:
    """The keys config.toml accepts in the table read into ``table``: its fields, under their ``toml`` name."""
    keys = (f.metadata.get(TOML, f.name) for f in fields(table))
    return tuple(dict.fromkeys(k for k in keys if k is not None))


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
    icon: str = ""  # absolute URLs of the site's small square icon and its wider logo
    logo: str = ""

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
    opml: bool = False  # feeds.opml: every tag (and author) feed, for a reader to import at once


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
    lease_seconds: float = 600.0  # a claimed message its sender has not handled by then goes to another sender


@dataclass(frozen=True)
class DigestConfig:
    """One [[digests]] entry: when it goes out, what it holds and who it comes from."""

    name: str
    schedule: str  # "daily", "weekly" or "monthly"
    time_of_day: time = field(metadata=toml_key("time"))
    timezone: str
    subject: str  # a Jinja template
    from_address: str
    weekday: int | None = field(default=None, metadata=toml_key("day"))  # weekly: 0 = Monday
    day_of_month: int | None = None  # monthly: 1..31 or LAST_DAY; short months clamp to their last day
    tags: tuple[str, ...] | None = None  # tag slugs; None: each subscriber's own choice
    min_items: int = 1
    max_items: int = 20
    reply_to: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class WebConfig:
    base_url: str = ""  # where unsubscribe and manage links point; load_config defaults it to site.base_url
    min_fill_seconds: float = 3.0  # a sign-up form sent back sooner after it was served came from a program

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
    kind: str = field(metadata=toml_key("mailbox"))  # "maildir", "mbox" or "imaps"; all these come from mailbox
    path: Path | None = field(default=None, metadata=toml_key("mailbox"))  # maildir, mbox
    host: str = field(default="", metadata=toml_key("mailbox"))  # imaps
    port: int = field(default=993, metadata=toml_key("mailbox"))
    username: str = field(default="", metadata=toml_key("mailbox"))
    folder: str = field(default="INBOX", metadata=toml_key("mailbox"))
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
    root: Path = field(metadata=toml_key(None))  # the folder of config.toml
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
