"""Shared helpers: a real site folder in tmp_path, written the way a user would write it."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SEED = DATA / "tag-archive-unpoa.txt"  # a "Tag Archives" page: five posts from 2012
ATOM_SCHEMA = DATA / "atom.rng"  # RFC 4287 as RELAX NG
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

BASE_CONFIG = """\
[site]
title = "Test Site"
subtitle = "A site for tests"
base_url = "https://news.example.org/blog/"
language = "en"
timezone = "Europe/Paris"

[site.author]
name = "Default Author"
email = "editor@example.org"

[feeds]
authors = true
"""


class Site:
    """A site folder on disk: config.toml, content/, and the feeds publish writes."""

    def __init__(self, root: Path, config_text: str | None = BASE_CONFIG) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        if config_text is not None:
            (root / "config.toml").write_text(config_text, encoding="utf-8")
        (root / "content").mkdir(exist_ok=True)

    @property
    def config(self) -> Config:
        return load_config(self.root / "config.toml")

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    def post(self, name: str, front: str, body: str = "Body text.", fmt: str = "yaml") -> Path:
        fence = "---" if fmt == "yaml" else "+++"
        path = self.root / "content" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{fence}\n{textwrap.dedent(front).strip()}\n{fence}\n\n{body}\n", encoding="utf-8")
        return path

    def feed_files(self) -> dict[str, bytes]:
        return {p.relative_to(self.feeds).as_posix(): p.read_bytes() for p in sorted(self.feeds.rglob("*.xml"))}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site")


@pytest.fixture
def demo_site(tmp_path: Path) -> Site:
    """A copy of the repository's demo site (config.toml and content/), publishing into tmp_path."""
    root = tmp_path / "demo"
    root.mkdir()
    shutil.copy(REPO / "config.toml", root / "config.toml")
    shutil.copytree(REPO / "content", root / "content")
    return Site(root, config_text=None)


# The state on PostgreSQL: PUBLISHER_TEST_POSTGRES (a URL), else the server on 127.0.0.1:5432 (database
# "test"). Under CI those tests must run; elsewhere they are skipped when no server answers.
POSTGRES_CANDIDATES = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://127.0.0.1:5432/test")
POSTGRES_HOWTO = "PostgreSQL tests skipped: set PUBLISHER_TEST_POSTGRES=postgresql://user@host/db or start the server on 127.0.0.1:5432"


@functools.cache
def postgres_url() -> str | None:
    """A URL of a PostgreSQL database we may create schemas in, or None."""
    try:
        import psycopg
    except ImportError:
        return None
    for url in (
        [os.environ["PUBLISHER_TEST_POSTGRES"]] if os.environ.get("PUBLISHER_TEST_POSTGRES") else POSTGRES_CANDIDATES
    ):
        try:
            psycopg.connect(url, connect_timeout=3).close()
        except psycopg.Error:
            continue
        return url
    return None


def require_postgres() -> str:
    url = postgres_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no PostgreSQL server answers (PUBLISHER_TEST_POSTGRES or 127.0.0.1:5432)")
        pytest.skip(POSTGRES_HOWTO)
    return url


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema of its own for one test, dropped afterwards; the URL that selects it."""
    import psycopg

    base = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test run on the SQLite file and on PostgreSQL (through PUBLISHER_DATABASE_URL, as a user sets it)."""
    monkeypatch.delenv("PUBLISHER_DATABASE_URL", raising=False)
    if request.param == "sqlite":
        yield "sqlite"
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("about the SQLite file itself")
    with postgres_schema() as url:
        monkeypatch.setenv("PUBLISHER_DATABASE_URL", url)
        yield "postgresql"
