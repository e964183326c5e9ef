"""The subscriber list: add, remove, import and export CSV, and unsubscribe by signed token.

Every address is validated and normalised on the way in (addresses.py); an
import checks the whole file first and changes nothing when any row is bad.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from .addresses import normalize_address
from .errors import SubscriberError
from .model import Post, Subscriber, SubscriberStatus, Tag, name_slug
from .state import State
from .tokens import NOT_VALID, check_token, token_subscriber
from .unsubscribes import apply_if_free, record_unsubscribe

CSV_COLUMNS = ("address", "name", "tags", "status", "created", "confirmed")
TAG_SEPARATOR = ";"
UNSUBSCRIBE = "unsubscribe"
MANAGE = "manage"


@dataclass(frozen=True)
class ImportReport:
    added: int
    already: int
    subscribers: list[Subscriber]  # the ones added


def missing_tags(slugs: Iterable[str], known: Iterable[Tag]) -> dict[str, list[str]]:
    """Each slug that is none of the known tags', with the names of the known tags close to it."""
    names = {tag.slug: tag.name for tag in known}
    return {
        slug: [names[c] for c in difflib.get_close_matches(slug, names, n=3)]
        for slug in dict.fromkeys(slugs)
        if slug not in names
    }


def unknown_tags(subscribers: Iterable[Subscriber], posts: Iterable[Post]) -> list[str]:
    """A warning for each followed tag that no published post has (a typo gets its reader nothing),
    with the tags in use that are close to it."""
    known = {tag.slug: tag for post in posts for tag in post.tags}
    missing = Counter(slug for s in subscribers for slug in s.tags or () if slug not in known)
    warnings = []
    for slug, close in missing_tags(missing, known.values()).items():
        count = missing[slug]
        hint = f"close matches: {', '.join(close)}" if close else "no tag in use is close to it"
        who = "its follower gets" if count == 1 else f"its {count} followers get"
        warnings.append(f"tag {slug!r} is on no published post: {who} nothing from it until one is; {hint}")
    return warnings


def tag_slugs(names: Iterable[str]) -> tuple[str, ...] | None:
    """Tag names as given by a person -> unique slugs; no tags at all means every tag (None)."""
    slugs = tuple(dict.fromkeys(name_slug(n) for n in names if n.strip()))
    return slugs or None


def valid_address(text: str, where: str) -> str:
    try:
        return normalize_address(text)
    except ValueError as exc:
        raise SubscriberError(f"{where}: {text.strip()!r} is not a valid e-mail address: {exc}") from None


def _status(text: str, where: str) -> str:
    if text not in tuple(SubscriberStatus):
        raise SubscriberError(f"{where}: status {text!r}: expected one of {', '.join(SubscriberStatus)}")
    return text


def add_subscriber(
    store: State, address: str, name: str, tags: Iterable[str], now: datetime, status: str = SubscriberStatus.ACTIVE
) -> Subscriber:
    """A new subscriber; one already on the list is an error that says what their status is."""
    clean = valid_address(address, "address")
    with store.transaction():
        existing = store.subscribers.by_address(clean)
        if existing:
            raise SubscriberError(f"address {existing.address} is already a subscriber ({existing.status})")
        confirmed = now if _status(status, "status") == SubscriberStatus.ACTIVE else None
        store.subscribers.insert([Subscriber(0, clean, name.strip(), tag_slugs(tags), status, now, confirmed)])
    return store.subscribers.by_address(clean)  # type: ignore[return-value]


def remove_subscriber(store: State, address: str) -> Subscriber:
    """Forget a subscriber entirely (address, tags, watermarks); messages already sent stay in the outbox."""
    clean = valid_address(address, "address")
    with store.transaction():
        existing = store.subscribers.by_address(clean)
        if existing is None:
            raise SubscriberError(f"address {clean} is not a subscriber")
        store.subscribers.delete(existing.id)
    return existing


def _csv_time(text: str, where: str, column: str) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise SubscriberError(f"{where}: {column} {text!r}: expected an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise SubscriberError(f"{where}: {column} {text!r}: expected a time zone, e.g. '+00:00'")
    return when


def read_csv(path: Path, now: datetime) -> list[tuple[int, Subscriber]]:
    """Every row of a subscriber CSV as (line, Subscriber); the first bad row is an error naming its line."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            columns = reader.fieldnames or []
            unknown = [c for c in columns if c not in CSV_COLUMNS]
            if "address" not in columns or unknown:
                raise SubscriberError(
                    f"{path}:1: expected a header row with an 'address' column and optionally "
                    f"{', '.join(CSV_COLUMNS[1:])}" + (f"; unknown column {unknown[0]!r}" if unknown else "")
                )
            rows = []
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if None in row:
                    raise SubscriberError(f"{where}: more fields than the header has columns")
                created = _csv_time(row.get("created") or "", where, "created") or now
                status = _status((row.get("status") or SubscriberStatus.ACTIVE).strip(), where)
                confirmed = _csv_time(row.get("confirmed") or "", where, "confirmed")
                rows.append(
                    (
                        reader.line_num,
                        Subscriber(
                            id=0,
                            address=valid_address(row["address"] or "", where),
                            name=(row.get("name") or "").strip(),
                            tags=tag_slugs((row.get("tags") or "").split(TAG_SEPARATOR)),
                            status=status,
                            created=created,
                            confirmed=confirmed or (created if status == SubscriberStatus.ACTIVE else None),
                        ),
                    )
                )
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SubscriberError(f"{path}:{reader.line_num}: not a UTF-8 CSV file: {exc}") from None
    return rows


def import_csv(store: State, path: Path, now: datetime) -> ImportReport:
    """Add every new address in the file; addresses already on the list (or repeated) are left as they are."""
    rows = read_csv(path, now)
    with store.transaction():
        seen: set[str] = set()
        new = []
        for _line, subscriber in rows:
            key = subscriber.address.lower()
            if key not in seen and store.subscribers.by_address(subscriber.address) is None:
                new.append(subscriber)
            seen.add(key)
        store.subscribers.insert(new)
    return ImportReport(added=len(new), already=len(rows) - len(new), subscribers=new)


def export_csv(subscribers: Iterable[Subscriber], out: TextIO) -> None:
    """The same columns import_csv reads, so an export can be imported elsewhere."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in subscribers:
        writer.writerow(
            [
                s.address,
                s.name,
                TAG_SEPARATOR.join(s.tags or ()),
                s.status,
                s.created.isoformat(),
                s.confirmed.isoformat() if s.confirmed else "",
            ]
        )


def subscriber_for_token(
    store: State, secret: bytes, purpose: str, token: str, check: Callable[[bytes, str, str, str], None] = check_token
) -> Subscriber:
    """The subscriber a signed link (or, with ``check_address_token``, a signed address) acts for;
    SubscriberError when it is forged, altered or names nobody."""
    subscriber = store.subscribers.by_id(token_subscriber(token))
    check(secret, purpose, token, subscriber.address if subscriber else "")  # the same work for nobody
    if subscriber is None:
        raise SubscriberError(NOT_VALID)
    return subscriber


def unsubscribe(store: State, secret: bytes, token: str, now: datetime, purpose: str = UNSUBSCRIBE) -> Subscriber:
    """What a one-click unsubscribe link (or the manage page's button) does; a forged token changes nothing.

    Recorded in the unsubscribe journal, so it never waits for (or is lost to) a publish holding the
    state database; applied there at once when it is free. Returns the subscriber as now unsubscribed.
    """
    subscriber = subscriber_for_token(store, secret, purpose, token)
    record_unsubscribe(store, subscriber, now)
    apply_if_free(store)
    return dataclasses.replace(subscriber, status=SubscriberStatus.UNSUBSCRIBED)
