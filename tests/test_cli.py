"""The command line as a user types it: init, publish, errors without tracebacks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from publisher import i18n
from publisher.cli import run
from publisher.config import load_config
from publisher.config.digests import DEFAULT_SUBJECT
from publisher.templating import template_environment

from .conftest import NOW, Site


def test_init_then_publish_from_inside_the_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "blog"
    assert run(["init", str(site)]) == 0
    assert (site / "config.toml").read_text().startswith("# publisher site configuration")
    assert (site / "content" / "hello.md").exists()
    assert capsys.readouterr().out.splitlines() == [
        f"created {site / 'config.toml'}",
        f"created {site / 'content' / 'hello.md'}",
    ]
    (site / "content" / "drafts").mkdir()
    os.chdir(site / "content" / "drafts")  # the nearest config.toml above is found
    assert run(["publish", "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 post; 4 feeds: 4 written, 0 unchanged, 0 removed (")
    assert (site / "feeds" / "tags" / "news" / "rss.xml").exists()
    assert run(["init", str(site)]) == 1
    assert "already exists; nothing was changed" in capsys.readouterr().err


def test_site_and_config_options(site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01\ntags: [X]")
    os.chdir(tmp_path)
    assert run(["--site", str(site.root), "publish", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert run(["--config", str(site.root / "config.toml"), "publish"]) == 0
    assert "0 written, 6 unchanged" in capsys.readouterr().out


def test_broken_post_exit_code_and_message(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    site.post("b.md", "title: B\ndate: 2012-13-01")
    assert run(["--site", str(site.root), "publish"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: content/b.md:3: date: '2012-13-01' is not a date; expected YYYY-MM-DD or an ISO 8601 date-time",
        "publisher: 1 broken file(s); nothing was written",
    ]
    assert not (site.root / "feeds").exists()
    assert run(["--site", str(site.root), "publish", "--keep-going"]) == 1
    captured = capsys.readouterr()
    assert "error: content/b.md:3:" in captured.err
    assert captured.out.startswith("1 post; 4 feeds: 4 written")


def test_installed_console_script_runs(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    script = Path(sys.executable).parent / "publisher"
    result = subprocess.run(
        [str(script), "--site", str(site.root), "publish", "--now", "2012-01-02T00:00:00"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 post; 4 feeds: 4 written" in result.stdout
    bad = subprocess.run([str(script), "--site", str(site.root / "missing"), "publish"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_init_writes_every_section_ready_to_uncomment(tmp_path: Path) -> None:
    """[smtp], [[digests]] and [web] are in the new config, commented out, and valid once uncommented."""
    site = tmp_path / "blog"
    assert run(["init", str(site)]) == 0
    path = site / "config.toml"
    text = path.read_text(encoding="utf-8")
    assert load_config(path).digests == ()
    for table in ("# [smtp]", "# [[digests]]", "# [web]"):
        assert f"\n{table}" in text
    enabled = re.sub(r"^# (\[|\w+ = )", r"\1", text, flags=re.M)
    path.write_text(enabled, encoding="utf-8")
    config = load_config(path)
    assert (config.smtp.host, config.smtp.port, config.smtp.password_env) == ("127.0.0.1", 8025, "SMTP_PASSWORD")
    assert [d.name for d in config.digests] == ["weekly"]
    assert config.web.base_url == "https://example.org/"
    assert config.digests[0].subject == DEFAULT_SUBJECT  # the commented line shows the default
    subject = template_environment(config).from_string(config.digests[0].subject)
    rendered = {}
    for language in ("en", "fr"):  # in each reader's language
        with i18n.speaking(language):
            rendered[language] = [subject.render(site={"title": "S"}, posts=posts) for posts in ([1], [1, 2])]
    assert rendered == {
        "en": ["S: 1 new post", "S: 2 new posts"],
        "fr": ["S: 1 nouvel article", "S: 2 nouveaux articles"],
    }


def test_publish_summary_counts_in_words_quiet_and_preview(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    site.post("b.md", "title: B\ndate: 2012-01-01")  # the same time as A: a warning
    site.post("c.md", "title: C\ndate: 2012-01-02\ndraft: true")
    assert run(["--site", str(site.root), "publish", "-q"]) == 0
    assert capsys.readouterr() == ("", "")  # errors only
    site.post("d.md", "title: D\ndate: 2999-01-01")
    assert run(["--site", str(site.root), "publish", "--now", "2999-06-01T00:00:00+00:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 posts, 1 draft; 4 feeds: ")
    assert out.endswith(" s) (preview: nothing recorded)\n")
    assert run(["--site", str(site.root), "publish", "--now", NOW.isoformat()]) == 0
    assert capsys.readouterr().out.startswith("2 posts, 1 draft, 1 scheduled; 4 feeds: ")
