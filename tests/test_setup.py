"""Set-up on a fresh machine: the package installs without warnings, and a failed browser install costs one test."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

from .conftest import REPO


@pytest.fixture
def failing_apt(tmp_path: Path) -> dict[str, str]:
    """An environment whose apt-get fails as it does when another process holds the dpkg lock."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt = bin_dir / "apt-get"
    apt.write_text('#!/bin/sh\necho "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2\nexit 100\n')
    apt.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return env


def _make_browser(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    missing = tmp_path / "no-chromium"
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "browser", f"CHROMIUM={missing}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_failed_browser_install_is_a_note(failing_apt: dict[str, str], tmp_path: Path) -> None:
    done = _make_browser(failing_apt, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "note: could not install Debian's chromium" in done.stdout
    assert "browser test will be skipped" in done.stdout


def test_under_ci_a_failed_browser_install_fails(failing_apt: dict[str, str], tmp_path: Path) -> None:
    done = _make_browser({**failing_apt, "CI": "true"}, tmp_path)
    assert done.returncode != 0
    assert "error: could not install Debian's chromium" in done.stderr


def test_the_package_metadata_raises_no_deprecation_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), REPO / "pyproject.toml")
    assert [str(w.message) for w in caught] == []
    assert dist.metadata.license_expression == "MIT"
