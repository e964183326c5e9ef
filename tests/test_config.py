"""config.toml validation: every mistake names its key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cli import run
from publisher.config import load_config
from publisher.errors import ConfigError

from .conftest import BASE_CONFIG, REPO


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_config_and_defaults(tmp_path: Path) -> None:
    config = load_config(REPO / "config.toml")
    assert config.site.base_url == "https://armsdiplomacy.example.org/"
    assert config.site.timezone == "America/New_York"
    assert config.feeds.formats == ("atom", "rss")
    minimal = load_config(
        _write(tmp_path, '[site]\ntitle = "T"\nbase_url = "https://x.org"\n[site.author]\nname = "A"\n')
    )
    assert minimal.site.base_url == "https://x.org/"
    assert minimal.feeds.max_items == 20
    assert minimal.feeds.folder == tmp_path.resolve() / "feeds"
    assert minimal.state.path == tmp_path.resolve() / ".publisher" / "state.db"
    assert minimal.feeds.full_content is True
    assert (minimal.feeds.site, minimal.feeds.tags, minimal.feeds.authors) == (True, True, False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('base_url = "https://news.example.org/blog/"', 'base_url = "/blog/"'),
            "site.base_url = '/blog/': expected an absolute http or https URL",
        ),
        (
            ('base_url = "https://news.example.org/blog/"', 'base_url = "ftp://x.org/"'),
            "site.base_url = 'ftp://x.org/': expected an absolute http or https URL",
        ),
        (
            ('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'),
            "site.timezone = 'Mars/Olympus': expected an IANA time zone name",
        ),
        (('timezone = "Europe/Paris"', "timezone = 1"), "site.timezone = 1: expected a string"),
        (('language = "en"', 'langauge = "en"'), "unknown key site.langauge"),
        (("[feeds]\nauthors = true", "[feeds]\nauthors = 1"), "feeds.authors = 1: expected true or false"),
        (("[feeds]\nauthors = true", "[feeds]\nmax_items = 0"), "feeds.max_items = 0: expected a positive integer"),
        (("[feeds]\nauthors = true", "[feeds]\nmax_items = true"), "feeds.max_items = True: expected an integer"),
        (
            ("[feeds]\nauthors = true", '[feeds]\nformats = ["atom", "xml"]'),
            "feeds.formats = ['atom', 'xml']: expected a non-empty list",
        ),
        (("[feeds]\nauthors = true", "[feedz]\nauthors = true"), "unknown top-level key 'feedz'"),
        (('name = "Default Author"', 'nom = "Default Author"'), "site.author.name is missing"),
        (
            ('title = "Test Site"', 'title = "T"\npermalink = "/{yr}/{slug}/"'),
            "site.permalink = '/{yr}/{slug}/': expected a pattern using only",
        ),
        (('title = "Test Site"', 'title = "T"\npermalink = "/{year}/"'), "the pattern must contain {slug}"),
        (('title = "Test Site"', 'title = "  "'), "site.title is empty; expected the site's title"),
        (('name = "Default Author"', 'name = ""'), "site.author.name is empty; expected the default author's name"),
        (
            ('base_url = "https://news.example.org/blog/"', 'base_url = "https://news.example.org/my blog/"'),
            "expected a URL without spaces or quotes",
        ),
        (('language = "en"', 'language = "en us <x>"'), "site.language = 'en us <x>': expected a language tag"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in BASE_CONFIG
    path = _write(tmp_path, BASE_CONFIG.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_invalid_toml_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "[site\ntitle = 1\n")
    assert run(["--site", str(tmp_path), "publish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("publisher: config:") and "invalid TOML" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_key_exit_code_2_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, BASE_CONFIG + "\n[state]\npath = 'x.db'\ncolour = 'red'\n")
    assert run(["--config", str(tmp_path / "config.toml"), "publish"]) == 2
    assert "unknown key state.colour" in capsys.readouterr().err


def test_missing_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--site", str(tmp_path / "nowhere"), "publish"]) == 2
    assert "not found; run 'publisher init'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[run]\ngrace_hours = nan", "run.grace_hours = nan: expected a number of at least 0 and at most 8784"),
        ("[run]\ngrace_hours = 1e300", "run.grace_hours = 1e+300: expected a number"),
        ("[smtp]\ntimeout = inf", "smtp.timeout = inf: expected a number of at least 0.1 and at most 3600"),
        ("[smtp]\nretry_base_seconds = 1e300", "smtp.retry_base_seconds = 1e+300: expected a number"),
        ("[smtp]\nrate_limit = nan", "smtp.rate_limit = nan: expected a number"),
        ("[smtp]\nmax_retries = 5000", "smtp.max_retries = 5000: expected an integer of at least 0 and at most 20"),
        ("[smtp]\nlease_seconds = 0", "smtp.lease_seconds = 0: expected a number of at least 1 and at most 86400"),
        (
            "[smtp]\ntimeout = 400",
            "smtp.lease_seconds = 600: expected at least twice smtp.timeout (800 seconds)",
        ),
        ("[run]\npublish_interval_minutes = 9223372036854775807", "run.publish_interval_minutes = 9223372036854775807"),
        ("[feeds]\nurl_path = '/<int:x>/'", "feeds.url_path = '/<int:x>/': expected a URL path of letters"),
        ("[feeds]\nurl_path = '/feeds<'", "feeds.url_path = '/feeds<': expected a URL path"),
    ],
)
def test_numbers_and_paths_that_would_fail_later_are_refused_at_load(
    tmp_path: Path, extra: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, BASE_CONFIG.replace("[feeds]\nauthors = true\n", "") + "\n" + extra + "\n")
    assert run(["--site", str(tmp_path), "publish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"publisher: config: {message}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('timezone = "America"', "site.timezone = 'America': expected an IANA time zone name"),
        (f'timezone = "{"A" * 300}"', "site.timezone = 'AAAAAAAA"),
        ('permalink = "/{slug.__class__}/"', "site.permalink = '/{slug.__class__}/': expected a pattern using only"),
        ('permalink = "/{slug[0]}/{slug}/"', "site.permalink = '/{slug[0]}/{slug}/': expected a URL path"),
        ('tag_url = "/t/{slug!r}/"', "site.tag_url = '/t/{slug!r}/': expected a pattern using only {slug}"),
        ('author_url = "/a/{slug:9}/"', "site.author_url = '/a/{slug:9}/': expected a pattern using only {slug}"),
        ('tag_url = "/t/{slug/"', "site.tag_url = '/t/{slug/': expected a pattern using only {slug}"),
    ],
)
def test_zones_and_url_patterns_that_would_fail_later_are_refused_at_load(
    tmp_path: Path, change: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, BASE_CONFIG.replace('timezone = "Europe/Paris"', change))
    assert run(["--site", str(tmp_path), "publish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"publisher: config: {message}")
    assert err.count("\n") == 1
