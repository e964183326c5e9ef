"""A blog's "Tag Archives: NAME" page, saved as text -> posts tagged NAME.

Each post on the page is a title line, a date line ("25 Apr"), paragraphs, "•" bullet
lines and a closing "–Name" signature; the page lists the newest post first. Typographic
characters are content and are kept as they are.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ..config import Config
from ..content import decode
from ..frontmatter import BadPost
from .common import Batch, ImportedPost, Source, fail, markdown_text, slug_for

_HEADER = re.compile(r"Tag Archives:\s*(?P<tag>\S.*?)\s*")
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTH = r"[A-Za-z]{3,9}\.?"
_DATE = re.compile(
    rf"(?:(?P<day>\d{{1,2}})\s+(?P<month>{_MONTH})|(?P<month2>{_MONTH})\s+(?P<day2>\d{{1,2}}))(?:,?\s+(?P<year>\d{{4}}))?"
)
_SIGNATURE = re.compile(r"[–—]\s*(?P<name>\S.{0,79})")
_BULLET = re.compile(r"\s*•\s*")
_SPACES = re.compile(r"\s+")  # Unicode: a title's no-break spaces are the theme's line breaking, not words
SAME_DAY_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class _Block:
    """Lines between blank lines, with the number of the first, for messages."""

    line: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return _SPACES.sub(" ", " ".join(self.lines)).strip()


@dataclass(frozen=True)
class _Entry:
    title: str
    date_block: _Block
    day: tuple[int, int, int | None]  # month, day, year if the line gives one
    body: tuple[_Block, ...]
    author: str


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: list[str] = []
    for number, line in enumerate([*text.split("\n"), ""], 1):
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(_Block(number - len(current), tuple(current)))
            current = []
    return blocks


def _day(block: _Block) -> tuple[int, int, int | None] | None:
    """Month, day and year (if given) of a date line such as "25 Apr" or "April 25, 2012"."""
    found = _DATE.fullmatch(block.text) if len(block.lines) == 1 else None
    if found is None:
        return None
    name = (found["month"] or found["month2"]).rstrip(".").lower()
    month = next((n for n, full in enumerate(_MONTHS, 1) if full.startswith(name)), None)
    year = found["year"]
    return (month, int(found["day"] or found["day2"]), int(year) if year else None) if month else None


def _is_signature(blocks: list[_Block], index: int) -> bool:
    """A "–Name" line ends a post only where the page goes on with a title and a date, or ends."""
    block = blocks[index]
    if len(block.lines) != 1 or not _SIGNATURE.fullmatch(block.text):
        return False
    return index + 1 == len(blocks) or (index + 2 < len(blocks) and _day(blocks[index + 2]) is not None)


def _entries(name: str, blocks: list[_Block]) -> list[_Entry]:
    entries = []
    index = 1
    while index < len(blocks):
        title = blocks[index]
        day = _day(blocks[index + 1]) if index + 1 < len(blocks) else None
        if day is None:
            where = blocks[index + 1].line if index + 1 < len(blocks) else title.line
            raise fail(name, f'expected a date line such as "25 Apr" after the title "{title.text}"', where)
        end = index + 2
        while not (end < len(blocks) and _is_signature(blocks, end)):
            if end >= len(blocks):
                raise fail(
                    name,
                    f'the post "{title.text}" has no closing signature line such as "–Name"; is the file truncated?',
                    title.line,
                )
            end += 1
        author = _SIGNATURE.fullmatch(blocks[end].text)["name"]  # type: ignore[index]
        entries.append(_Entry(title.text, blocks[index + 1], day, tuple(blocks[index + 2 : end]), author))
        index = end + 1
    if not entries:
        raise fail(
            name,
            'no posts after the header; expected a title, a date line such as "25 Apr", paragraphs and a "–Name" line',
        )
    return entries


def _dates(name: str, entries: list[_Entry], year: int | None) -> list[date]:
    """Each post's date. ``year`` is the newest post's; going down the page, a later
    month and day than the post above means the year before."""
    dates: list[date] = []
    for entry in entries:
        month, day, own_year = entry.day
        if own_year:
            year = own_year
        elif year is None:
            raise fail(
                name, f'dates like "{entry.date_block.text}" have no year; pass --year YYYY', entry.date_block.line
            )
        elif dates and (month, day) > (dates[-1].month, dates[-1].day):
            year -= 1
        try:
            dates.append(date(year, month, day))
        except ValueError:
            raise fail(name, f'"{entry.date_block.text}" is not a date in {year}', entry.date_block.line) from None
    return dates


def _times(dates: list[date]) -> list[date | datetime]:
    """The page gives days, not times. A day's only (or oldest) post keeps its bare date;
    each newer post that day gets one more minute after midnight, so feeds keep the
    page's order and no two entries share an `updated` time."""
    out: list[date | datetime] = []
    for position, day in enumerate(dates):
        later = dates[position + 1 :].count(day)
        out.append(datetime.combine(day, time()) + later * SAME_DAY_STEP if later else day)
    return out


def _markdown(blocks: tuple[_Block, ...]) -> str:
    """Paragraphs as escaped Markdown text; runs of "•" lines as a Markdown list."""
    parts = []
    for block in blocks:
        for bullet, lines in itertools.groupby(block.lines, key=lambda line: _BULLET.match(line) is not None):
            if bullet:
                parts.append("\n".join("- " + markdown_text(_BULLET.sub("", line, count=1)) for line in lines))
            else:
                parts.append("\n".join(markdown_text(line) for line in lines))
    return "\n\n".join(parts)


def read(source: Source, config: Config, year: int | None) -> Batch:
    """The page's posts, newest first, each tagged with the archive's tag."""
    try:
        text = decode(source.data).removeprefix("\ufeff").replace("\r\n", "\n")
    except BadPost as exc:
        raise fail(source.name, str(exc), exc.line) from None
    blocks = _blocks(text)
    header = _HEADER.fullmatch(blocks[0].text)
    if len(blocks[0].lines) != 1 or header is None:
        raise fail(source.name, f'expected a "Tag Archives: NAME" page; it starts with "{blocks[0].text[:60]}"', 1)
    entries = _entries(source.name, blocks)
    posts = []
    for entry, when in zip(entries, _times(_dates(source.name, entries, year)), strict=True):
        slug = slug_for(entry.title)
        posts.append(
            ImportedPost(
                id=f"tag:{config.site.domain},{when:%Y-%m-%d}:{slug}",
                title=entry.title,
                slug=slug,
                published=when,
                authors=(entry.author,),
                tags=(header["tag"],),
                body=_markdown(entry.body),
            )
        )
    return Batch(tuple(posts))
