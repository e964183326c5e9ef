"""Shared helpers: a real site folder in tmp_path, written the way a user would write it."""

from __future__ import annotations

import shutil
import textwrap
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
