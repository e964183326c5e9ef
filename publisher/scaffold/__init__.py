"""`publisher init`: a new site folder with a commented config.toml and an example post."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..errors import PublisherError


def init_site(folder: Path) -> list[Path]:
    """Create the site's files; refuse to touch a folder that already has a config.toml."""
    config = folder / "config.toml"
    if config.exists():
        raise PublisherError(f"init: {config} already exists; nothing was changed")
    here = files(__package__)
    example = folder / "content" / "hello.md"
    example.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(here.joinpath("config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    if example.exists():
        return [config]
    example.write_text(here.joinpath("hello.md").read_text(encoding="utf-8"), encoding="utf-8")
    return [config, example]
