"""config.toml -> Config: each table read and checked; relative folders resolve against the file's folder."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..addresses import normalize_address
from ..errors import ConfigError
from ..formats import NAMES as FEED_FORMATS
from ..model import SLUG_BYTES, Author
from .digests import read_digests
from .tables import (
    LOOPBACK_HOSTS,
    PERMALINK_FIELDS,
    SMTP_SECURITY,
    BouncesConfig,
    Config,
    ContentConfig,
    FeedsConfig,
    RunConfig,
    SiteConfig,
    SmtpConfig,
    StateConfig,
    TagsConfig,
    WebConfig,
    WebSubConfig,
    table_keys,
)
from .values import (
    LANGUAGE_TAG,
    URL_CHARS,
    Section,
    count_value,
    folder_path,
    http_url,
    number_value,
    pattern_value,
    required_text,
    timezone_name,
    url_path_value,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


HOUR = 3600  # seconds


DAY = 24 * HOUR


def _site(data: Any) -> SiteConfig:
    s = Section(data, "site")
    base_url = http_url(s, "base_url", ..., ("http", "https"))
    timezone = timezone_name(s, "timezone", "UTC")
    author = Section(s.get("author", dict, what="a table with name and optional email"), "site.author")
    default_author = Author(
        name=required_text(author, "name", "the default author's name"), email=author.get("email", str, None)
    )
    author.finish(Author)
    language = s.get("language", str, "en")
    if not LANGUAGE_TAG.fullmatch(language):
        raise ConfigError(f"config: site.language = {language!r}: expected a language tag such as 'en' or 'pt-BR'")
    site = SiteConfig(
        title=required_text(s, "title", "the site's title"),
        subtitle=s.get("subtitle", str, ""),
        base_url=base_url,
        language=language,
        timezone=timezone,
        author=default_author,
        permalink=pattern_value(s, "permalink", "/{year}/{month}/{day}/{slug}/", PERMALINK_FIELDS),
        tag_url=pattern_value(s, "tag_url", "/tags/{slug}/", ("slug",)),
        author_url=pattern_value(s, "author_url", "/authors/{slug}/", ("slug",)),
        icon=_site_image(s, "icon", base_url),
        logo=_site_image(s, "logo", base_url),
    )
    s.finish(SiteConfig)
    return site


def _site_image(s: Section, key: str, base_url: str) -> str:
    """An image's absolute URL: as given, or a path below base_url ("/icon.png"), as permalinks are."""
    value: str = s.get(key, str, "", what="an image's URL or its path on the site, such as '/icon.png'").strip()
    if not value:
        return ""
    if not URL_CHARS.fullmatch(value) or urlsplit(value).scheme not in ("", "http", "https"):
        raise ConfigError(f"config: site.{key} = {value!r}: expected an http(s) URL or a path such as '/{key}.png'")
    return value if urlsplit(value).scheme else base_url + value.lstrip("/")


def _content(root: Path, data: Any) -> ContentConfig:
    s = Section(data, "content")
    categories = s.get("categories", str, "tags")
    if categories not in ("tags", "ignore"):
        raise ConfigError(f"config: content.categories = {categories!r}: expected 'tags' or 'ignore'")
    result = ContentConfig(
        folder=folder_path(root, s, "folder", "content"),
        categories=categories,
        max_post_mb=number_value(s, "max_post_mb", 5.0, minimum=0.001, maximum=1000),
    )
    s.finish(ContentConfig)
    return result


def _feeds(root: Path, data: Any) -> FeedsConfig:
    s = Section(data, "feeds")
    choices = ", ".join(repr(f) for f in FEED_FORMATS)
    formats = s.get("formats", list, ["atom", "rss"], what=f"a list drawn from {choices}")
    if not formats or any(f not in FEED_FORMATS for f in formats) or len(set(formats)) != len(formats):
        raise ConfigError(f"config: feeds.formats = {formats!r}: expected a non-empty list drawn from {choices}")
    max_items = s.get("max_items", int, 20)
    if max_items < 1:
        raise ConfigError(f"config: feeds.max_items = {max_items}: expected a positive integer")
    url_path = url_path_value(s, "url_path", "/feeds/")
    result = FeedsConfig(
        folder=folder_path(root, s, "folder", "feeds"),
        url_path=url_path if url_path.endswith("/") else url_path + "/",
        formats=tuple(f for f in FEED_FORMATS if f in formats),
        max_items=max_items,
        full_content=s.get("full_content", bool, True),
        site=s.get("site", bool, True),
        tags=s.get("tags", bool, True),
        authors=s.get("authors", bool, False),
        archives=s.get("archives", bool, False),
        opml=s.get("opml", bool, False),
    )
    s.finish(FeedsConfig)
    return result


def _websub(data: Any) -> WebSubConfig:
    s = Section(data, "websub")
    hubs = s.get("hubs", list, [], what="a list of hub URLs")
    for hub in hubs:
        parts = urlsplit(hub) if isinstance(hub, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.hostname or not URL_CHARS.fullmatch(hub):
            raise ConfigError(f"config: websub.hubs: {hub!r}: expected an absolute http or https URL")
    s.finish(WebSubConfig)
    return WebSubConfig(tuple(dict.fromkeys(hubs)))


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _tags(data: Any) -> TagsConfig:
    """[tags]: slugs = {name = slug} keeps a feed URL through a rename; names = {slug or name = display name}."""
    s = Section(data, "tags")
    slugs = Section(s.get("slugs", dict, {}, what='a table such as { "C++" = "cpp" }'), "tags.slugs")
    pinned = []
    for name, slug in slugs.data.items():
        if not isinstance(slug, str) or not _SLUG.fullmatch(slug) or len(slug) > SLUG_BYTES:
            raise ConfigError(
                f"config: tags.slugs.{name!r} = {slug!r}: expected lower-case letters, digits and single hyphens, "
                f"at most {SLUG_BYTES} characters"
            )
        pinned.append((name.strip().casefold(), slug))
    partial = TagsConfig(slugs=tuple(pinned))
    names = Section(s.get("names", dict, {}, what='a table such as { "cpp" = "C++" }'), "tags.names")
    shown = []
    for key, name in names.data.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"config: tags.names.{key!r} = {name!r}: expected the tag's display name")
        shown.append((key if _SLUG.fullmatch(key) else partial.slug(key), name.strip()))
    result = TagsConfig(
        slugs=partial.slugs, names=tuple(shown), max_per_post=count_value(s, "max_per_post", 50, 1, 1000)
    )
    s.finish(TagsConfig)
    return result


def _state(root: Path, data: Any) -> StateConfig:
    s = Section(data, "state")
    url = s.get("url", str, None)
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"config: state.url = {url.split('@')[-1]!r}: expected postgresql://user@host/dbname")
    result = StateConfig(path=folder_path(root, s, "path", ".publisher/state.db"), url=url)
    s.finish(StateConfig)
    return result


def _smtp(data: Any) -> SmtpConfig:
    s = Section(data, "smtp")
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
        timeout=number_value(s, "timeout", 30.0, 0.1, HOUR),
        rate_limit=number_value(s, "rate_limit", 0.0, 0, 10_000),
        max_retries=count_value(s, "max_retries", 5, 0, 20),
        retry_base_seconds=number_value(s, "retry_base_seconds", 30.0, 0, DAY),
        lease_seconds=number_value(s, "lease_seconds", 600.0, 1, DAY),
    )
    if result.lease_seconds < 2 * result.timeout:  # a message must be sent well within its lease
        raise ConfigError(
            f"config: smtp.lease_seconds = {result.lease_seconds:g}: expected at least twice smtp.timeout"
            f" ({2 * result.timeout:g} seconds)"
        )
    s.finish(SmtpConfig)
    return result


def _web(data: Any, site: SiteConfig) -> WebConfig:
    """Unsubscribe links must be https (RFC 8058), but for a trial on this machine (localhost, any port);
    without [web] they fall back to the site's own URL."""
    s = Section(data, "web")
    result = WebConfig(
        base_url=http_url(s, "base_url", ..., ("http", "https")) if "base_url" in s.data else site.base_url,
        min_fill_seconds=number_value(s, "min_fill_seconds", 3.0, 0, 600),
    )
    s.finish(WebConfig)
    parts = urlsplit(result.base_url)
    if "base_url" in s.data and parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"config: web.base_url = {result.base_url!r}: expected an absolute https URL (http only for a trial on "
            "this machine: http://localhost, http://127.0.0.1 or http://[::1], any port)"
        )
    return result


def _run(data: Any) -> RunConfig:
    """A grace shorter than one tick would let a slot fall between two ticks and never go out."""
    s = Section(data, "run")
    tick = s.get("tick_seconds", int, 60)
    if not 1 <= tick <= 3600:
        raise ConfigError(f"config: run.tick_seconds = {tick}: expected 1-3600 seconds")
    result = RunConfig(
        tick_seconds=tick,
        publish_interval_minutes=count_value(s, "publish_interval_minutes", 0, 0, 31 * DAY // 60),
        grace_hours=number_value(s, "grace_hours", 24.0, 0, 366 * 24),
    )
    s.finish(RunConfig)
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
    s = Section(data, "bounces")
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
        soft_bounce_limit=count_value(s, "soft_bounce_limit", 3, 1, 1000),
        soft_bounce_days=count_value(s, "soft_bounce_days", 7, 1, 366),
        **where,
    )
    s.finish(BouncesConfig)
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
    top = Section(data, "config")
    tables = table_keys(Config)
    unknown = sorted(set(data) - set(tables))
    if unknown:
        raise ConfigError(
            f"config: unknown top-level key {unknown[0]!r}; expected the tables " + ", ".join(f"[{s}]" for s in tables)
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
        digests=read_digests(top.get("digests", list, [], what="an array of [[digests]] tables"), site, tag_config),
        web=_web(top.get("web", dict, {}), site),
        run=_run(top.get("run", dict, {})),
        bounces=_bounces(root, top.get("bounces", dict, None)),
        websub=_websub(top.get("websub", dict, {})),
    )
