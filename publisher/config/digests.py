"""Reading the [[digests]] tables: schedule, local time, tags, subject template and addresses."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from ..errors import ConfigError
from .tables import LAST_DAY, SCHEDULES, WEEKDAYS, DigestConfig, SiteConfig, TagsConfig
from .values import Section, count_value, mailbox_text, optional_mailbox_text, timezone_name

_DIGEST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# In the reader's language: the message is in the catalogs (locales/), as the text e-mail's first line.
DEFAULT_SUBJECT = '{{ site.title }}: {{ ngettext("%(num)s new post", "%(num)s new posts", posts|length) }}'


_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def _digest_days(s: Section, schedule: str) -> tuple[int | None, int | None]:
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
    s = Section(data, f"digests[{index}]")
    name = s.get("name", str, what="a short lower-case name such as 'weekly'")
    if not _DIGEST_NAME.match(name):
        raise ConfigError(f"config: {s.name}.name = {name!r}: expected lower-case letters, digits and hyphens")
    s.name = f"digests.{name}"
    schedule = s.get("schedule", str, what="'daily', 'weekly' or 'monthly'")
    if schedule not in SCHEDULES:
        raise ConfigError(f"config: {s.name}.schedule = {schedule!r}: expected 'daily', 'weekly' or 'monthly'")
    weekday, day_of_month = _digest_days(s, schedule)
    at = s.get("time", str, "08:00", what="a local time such as '08:00'")
    found = _TIME.match(at)
    if not found:
        raise ConfigError(f"config: {s.name}.time = {at!r}: expected a 24-hour local time such as '08:00'")
    tags = s.get("tags", object, "subscriber", what="'subscriber' or a list of tags")
    if tags != "subscriber" and (
        not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t.strip() for t in tags)
    ):
        raise ConfigError(f"config: {s.name}.tags = {tags!r}: expected 'subscriber' or a non-empty list of tags")
    subject = s.get("subject", str, DEFAULT_SUBJECT)
    import jinja2  # only sites with digests pay for Jinja when loading their config

    try:
        jinja2.Environment().parse(subject)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"config: {s.name}.subject = {subject!r}: not a valid Jinja template: {exc}") from None
    min_items = count_value(s, "min_items", 1, 1, 10_000)
    max_items = count_value(s, "max_items", 20, 1, 10_000)
    if max_items < min_items:
        raise ConfigError(f"config: {s.name}.max_items = {max_items}: expected at least min_items ({min_items})")
    result = DigestConfig(
        name=name,
        schedule=schedule,
        time_of_day=time(int(found.group(1)), int(found.group(2))),
        timezone=timezone_name(s, "timezone", site.timezone),
        subject=subject,
        from_address=mailbox_text(s, "from_address"),
        weekday=weekday,
        day_of_month=day_of_month,
        tags=None if tags == "subscriber" else tuple(dict.fromkeys(tag_config.slug(t) for t in tags)),
        min_items=min_items,
        max_items=max_items,
        reply_to=optional_mailbox_text(s, "reply_to"),
    )
    s.finish(DigestConfig)
    return result


def read_digests(data: list[Any], site: SiteConfig, tag_config: TagsConfig) -> tuple[DigestConfig, ...]:
    digests = tuple(_digest(item, number, site, tag_config) for number, item in enumerate(data))
    names = [d.name for d in digests]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"config: two [[digests]] are named {name!r}; expected unique names")
    return digests
