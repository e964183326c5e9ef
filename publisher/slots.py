"""When a digest is due: the most recent scheduled instant at or before ``now``. Pure: the clock is a parameter.

A slot is a local wall-clock time in the digest's time zone. Where that time
does not exist (the hour skipped when clocks go forward) the slot falls at the
same distance after the change (02:30 -> 03:30); where it happens twice (clocks
go back) the slot is the first of the two. Either way each day has exactly one
slot, so a digest never goes out twice or not at all across a DST change.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from .config import LAST_DAY, DigestConfig


def _scheduled_on(digest: DigestConfig, day: date) -> bool:
    if digest.schedule == "weekly":
        return day.weekday() == digest.weekday
    if digest.schedule == "monthly":
        last = calendar.monthrange(day.year, day.month)[1]
        wanted = last if digest.day_of_month == LAST_DAY else min(digest.day_of_month or 1, last)
        return day.day == wanted
    return True


def slot_on(digest: DigestConfig, day: date) -> datetime:
    """The instant (UTC) of the digest's local send time on ``day``; fold=0 settles gaps and repeats."""
    local = datetime.combine(day, digest.time_of_day, tzinfo=digest.tz)
    return local.astimezone(UTC)


def current_slot(digest: DigestConfig, now: datetime) -> datetime:
    """The latest slot at or before ``now`` (an aware datetime), in UTC."""
    today = now.astimezone(digest.tz).date()
    for back in range(0, 63):  # a monthly slot is at most 31 days back; a margin for the DST edge
        day = today - timedelta(days=back)
        if _scheduled_on(digest, day):
            slot = slot_on(digest, day)
            if slot <= now:
                return slot
    raise AssertionError("every schedule has a slot within two months")  # pragma: no cover


def slots_between(digest: DigestConfig, after: datetime, until: datetime) -> list[datetime]:
    """Every slot in (after, until], oldest first: what a scheduler that was down for that time missed."""
    first = after.astimezone(digest.tz).date() - timedelta(days=1)  # margin: a gap can push a slot past midnight
    days = (first + timedelta(days=n) for n in range((until.astimezone(digest.tz).date() - first).days + 1))
    return [slot for day in days if _scheduled_on(digest, day) and after < (slot := slot_on(digest, day)) <= until]


def local_time(digest: DigestConfig, when: datetime) -> str:
    """A slot (or any instant) as the digest's readers see it: ``2026-11-30 08:00 EST``."""
    return f"{when.astimezone(digest.tz):%Y-%m-%d %H:%M %Z}"
