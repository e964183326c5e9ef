"""The content index (every content file's stat, hash and parse) and the small key-value meta table."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from ..errors import ContentProblem
from ..model import Author, Enclosure, Post, Tag
from .database import Database, Row

POST_FORMAT = 5  # bump when what a post holds changes: cached posts are then read again


class CachedFile(NamedTuple):
    """What the index knows of one content file: its stat, its hash and what it parsed to.

    A named tuple, not a dataclass: 10,000 of them are made on every publish.
    """

    mtime_ns: int
    size: int
    sha256: str
    result: Post | ContentProblem


# The columns of the files table after its stat and hash: a problem (JSON), or a post's fields.
_RESULT_COLUMNS = (
    "problem, id, slug, title, published, updated, authors, tags, summary, html, url, draft, revision, media"
)
_names_json = json.JSONEncoder(ensure_ascii=False).encode

# A site has far fewer tags and authors than posts: the posts read back share them (and
# each tag works out its slug once). Bounded: the scheduler and the web app live long.
_tag = functools.lru_cache(maxsize=1 << 16)(Tag)


@functools.lru_cache(maxsize=1 << 14)
def _tags(text: str) -> tuple[Tag, ...]:
    return tuple(_tag(name) for name in json.loads(text))


@functools.lru_cache(maxsize=1 << 10)
def _authors(text: str) -> tuple[Author, ...]:
    return tuple(Author(name, email) for name, email in json.loads(text))


def _media_json(post: Post) -> str | None:
    """A post's image, enclosures and language as JSON; None for the many posts with none."""
    if not (post.image or post.enclosures or post.lang):
        return None
    return _names_json([post.image, [[e.url, e.type, e.length] for e in post.enclosures], post.lang])


def _media(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    image, enclosures, lang = json.loads(text)
    return {"image": image, "enclosures": tuple(Enclosure(*e) for e in enclosures), "lang": lang}


def _result_columns(result: Post | ContentProblem) -> tuple[object, ...]:
    """A content file's row after its stat and hash: the problem, or the post's fields."""
    if isinstance(result, ContentProblem):
        return (json.dumps([result.path, result.message, result.line]),) + (None,) * 13
    return (
        None,
        result.id,
        result.slug,
        result.title,
        result.published.isoformat(),
        result.updated.isoformat(),
        _names_json([[a.name, a.email] for a in result.authors]),
        _names_json([t.name for t in result.tags]),
        result.summary,
        result.html,
        result.url,
        int(result.draft),
        result.revision,
        _media_json(result),
    )


def _result(row: Row) -> Post | ContentProblem:
    """What a row of the files table holds: the post, or the problem."""
    if row["problem"] is not None:
        return ContentProblem(*json.loads(row["problem"]))
    return Post(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        published=datetime.fromisoformat(row["published"]),
        updated=datetime.fromisoformat(row["updated"]),
        authors=_authors(row["authors"]),
        tags=_tags(row["tags"]),
        summary=row["summary"],
        html=row["html"],
        url=row["url"],
        source=row["path"],
        draft=bool(row["draft"]),
        revision=row["revision"],
        **_media(row["media"]),
    )


class ContentIndex:
    """The files table: a cache of the content folder, dropped and rebuilt when its format changes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def cached_files(self, html: bool = True) -> dict[str, CachedFile]:
        """Every indexed content file; ``html=False`` leaves each post's HTML out (as ""), to be
        read with html_of for the few posts that need it."""
        columns = _RESULT_COLUMNS if html else _RESULT_COLUMNS.replace("html", "'' AS html")
        return {
            row["path"]: CachedFile(row["mtime_ns"], row["size"], row["sha256"], _result(row))
            for row in self.db.rows(f"SELECT path, mtime_ns, size, sha256, {columns} FROM files")
        }

    def stats(self, folders: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(mtime, size) of the indexed files below these folders ("": every file): what a
        publish compares the content folder with. Read from the covering index, not the posts."""
        found: dict[str, tuple[int, int]] = {}
        for folder in sorted(set(folders)):
            params: tuple[object, ...] = (len(folder) + 1, f"{folder}/") if folder else ()
            where = " WHERE substr(path, 1, ?) = ?" if folder else ""
            sql = f"SELECT path, mtime_ns, size FROM files{where}"
            found.update((row["path"], (row["mtime_ns"], row["size"])) for row in self.db.rows(sql, params))
        return found

    def has_problems(self) -> bool:
        return self.db.row("SELECT 1 FROM files WHERE problem IS NOT NULL LIMIT 1") is not None

    def files(self, paths: Iterable[str]) -> dict[str, CachedFile]:
        """These indexed files, posts without their HTML (as cached_files(html=False))."""
        wanted = list(paths)
        columns = _RESULT_COLUMNS.replace("html", "'' AS html")
        out: dict[str, CachedFile] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            sql = f"SELECT path, mtime_ns, size, sha256, {columns} FROM files WHERE path IN ({', '.join('?' * len(chunk))})"
            out.update(
                (row["path"], CachedFile(row["mtime_ns"], row["size"], row["sha256"], _result(row)))
                for row in self.db.rows(sql, chunk)
            )
        return out

    def html_of(self, paths: Iterable[str]) -> dict[str, str]:
        """The indexed HTML of these content files (those that are posts)."""
        wanted = list(paths)
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            sql = f"SELECT path, html FROM files WHERE html IS NOT NULL AND path IN ({', '.join('?' * len(chunk))})"
            out.update((row["path"], row["html"]) for row in self.db.rows(sql, chunk))
        return out

    def restat(self, stats: Iterable[tuple[str, int, int]]) -> None:
        """New (mtime, size) for files whose bytes are as indexed (after a checkout, say)."""
        self.db.many("UPDATE files SET mtime_ns = ?, size = ? WHERE path = ?", ((m, s, p) for p, m, s in stats))

    def put(self, files: Iterable[tuple[str, CachedFile]]) -> None:
        rows = (  # a generator: 10,000 serialised posts never sit in memory at once
            (path, cached.mtime_ns, cached.size, cached.sha256, *_result_columns(cached.result))
            for path, cached in files
        )
        columns = f"mtime_ns, size, sha256, {_RESULT_COLUMNS}"
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns.split(", "))
        self.db.many(
            f"INSERT INTO files (path, {columns}) VALUES ({'?, ' * 17}?) ON CONFLICT (path) DO UPDATE SET {updates}",
            rows,
        )

    def forget(self, paths: Iterable[str]) -> None:
        self.db.many("DELETE FROM files WHERE path = ?", ((p,) for p in paths))

    def forget_all(self) -> None:
        self.db.execute("DELETE FROM files")


class Meta:
    """Small named values: fingerprints and summaries a publish compares with the last one's."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        value: str | None = self.db.value("SELECT value FROM meta WHERE key = ?", (key,))
        return value

    def set(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
