"""Digest configuration, schedule slots, subscribers and CSV, message building and preview."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest

from publisher.cli import run
from publisher.config import Config, DigestConfig, load_config
from publisher.digest import Render, build_message, message_id, wire_bytes
from publisher.errors import ConfigError
from publisher.slots import current_slot
from publisher.store import Store

from .conftest import BASE_CONFIG, NOW, Site
from .digest_helpers import make_site, published_site, secret

__all__ = ["secret"]


def _config(tmp_path: Path, digests: str, extra: str = "") -> Config:
    site = Site(tmp_path / "site", BASE_CONFIG + extra + digests)
    return site.config


def _digest(tmp_path: Path, body: str) -> DigestConfig:
    text = f'[[digests]]\nname = "d"\nfrom_address = "news@example.org"\n{body}\n'
    return _config(tmp_path, text).digests[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('schedule = "hourly"', "digests.d.schedule = 'hourly': expected 'daily', 'weekly' or 'monthly'"),
        ('schedule = "weekly"', "digests.d.day is missing"),
        ('schedule = "weekly"\nday = "funday"', "digests.d.day = 'funday': expected one of monday"),
        ('schedule = "daily"\nday = "monday"', "digests.d.day only applies to schedule = 'weekly'"),
        ('schedule = "monthly"\nday_of_month = 32', "digests.d.day_of_month = 32: expected 1-31 or 'last'"),
        ('schedule = "daily"\ntime = "8am"', "digests.d.time = '8am': expected a 24-hour local time"),
        ('schedule = "daily"\ntimezone = "Mars/Olympus"', "digests.d.timezone = 'Mars/Olympus': expected an IANA"),
        ('schedule = "daily"\ntags = "mine"', "digests.d.tags = 'mine': expected 'subscriber' or a non-empty list"),
        ('schedule = "daily"\nsubject = "{{ oops"', "digests.d.subject = '{{ oops': not a valid Jinja template"),
        ('schedule = "daily"\nmin_items = 5\nmax_items = 2', "digests.d.max_items = 2: expected at least min_items"),
        ('schedule = "daily"\nreply_to = "not an address"', "digests.d.reply_to = 'not an address'"),
        ('schedule = "daily"\ncolour = "red"', "unknown key digests.d.colour"),
    ],
)
def test_bad_digest_settings_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^config: " + re.escape(message)):
        _digest(tmp_path, body)


@pytest.mark.parametrize(
    ("smtp", "message"),
    [
        ('password = "hunter2"', "smtp.password is not allowed"),
        ('security = "ssl"', "smtp.security = 'ssl': expected 'starttls', 'tls' or 'none'"),
        ('password_env = "MY PASSWORD"', "smtp.password_env = 'MY PASSWORD': expected the name of an environment"),
        ("rate_limit = -1", "smtp.rate_limit = -1: expected a number of at least 0"),
        ("port = 70000", "smtp.port = 70000: expected a TCP port number"),
    ],
)
def test_bad_smtp_settings_name_the_key(tmp_path: Path, smtp: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^config: " + re.escape(message)):
        _config(tmp_path, "", f"\n[smtp]\n{smtp}\n")


def test_digest_and_smtp_settings_are_read(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '[[digests]]\nname = "monthly"\nschedule = "monthly"\nday_of_month = "last"\ntime = "18:30"\n'
        'tags = ["UNPoA", "Arms Trade"]\nfrom_address = "News <News@Example.ORG>"\n',
        '\n[smtp]\nsecurity = "tls"\nusername = "me"\npassword_env = "SMTP_PASSWORD"\nrate_limit = 5\n'
        '\n[web]\nbase_url = "https://subscribe.example.org/news"\n',
    )
    (digest,) = config.digests
    assert (digest.schedule, digest.day_of_month, digest.time_of_day.isoformat()) == ("monthly", -1, "18:30:00")
    assert digest.tags == ("unpoa", "arms-trade") and digest.timezone == "Europe/Paris"
    assert (config.smtp.port, config.smtp.rate_limit, config.smtp.password_env) == (465, 5.0, "SMTP_PASSWORD")
    assert config.web.base_url == "https://subscribe.example.org/news/"
    with pytest.raises(ConfigError, match=re.escape("no digest named 'weekly'; configured digests: monthly")):
        config.digest("weekly")


def test_web_base_url_must_be_https(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("web.base_url = 'http://x.org/': expected an absolute https URL")):
        _config(tmp_path, "", '\n[web]\nbase_url = "http://x.org/"\n')


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("body", "now", "slot"),
    [
        ('schedule = "daily"\ntime = "08:00"', "2026-11-27T06:59:00+00:00", "2026-11-26T07:00:00+00:00"),
        ('schedule = "daily"\ntime = "08:00"', "2026-11-27T07:00:00+00:00", "2026-11-27T07:00:00+00:00"),
        ('schedule = "weekly"\nday = "monday"', "2026-11-27T12:00:00+00:00", "2026-11-23T07:00:00+00:00"),
        ('schedule = "monthly"\nday_of_month = 31', "2026-11-30T12:00:00+00:00", "2026-11-30T07:00:00+00:00"),
        ('schedule = "monthly"\nday_of_month = "last"', "2026-03-01T00:00:00+00:00", "2026-02-28T07:00:00+00:00"),
        # spring forward in New York: 02:30 does not exist on 8 March 2026 and becomes 03:30 EDT
        (
            'schedule = "daily"\ntime = "02:30"\ntimezone = "America/New_York"',
            "2026-03-08T12:00:00+00:00",
            "2026-03-08T07:30:00+00:00",
        ),
        # fall back: 01:30 happens twice on 1 November 2026; the first one (EDT) is the slot, once
        (
            'schedule = "daily"\ntime = "01:30"\ntimezone = "America/New_York"',
            "2026-11-01T06:45:00+00:00",
            "2026-11-01T05:30:00+00:00",
        ),
    ],
)
def test_current_slot(tmp_path: Path, body: str, now: str, slot: str) -> None:
    assert current_slot(_digest(tmp_path, body), _at(now)) == _at(slot)


def test_subscriber_commands_validate_import_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path / "site")
    root = ["--site", str(site.root)]
    assert run([*root, "subscribers", "add", " Jane@Example.ORG ", "--name", "Jane", "--tag", "UNPoA"]) == 0
    assert run([*root, "subscribers", "add", "jane@example.org"]) == 1
    assert "address Jane@example.org is already a subscriber (active)" in capsys.readouterr().err
    assert run([*root, "subscribers", "add", "jane@@example.org"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("publisher: address: 'jane@@example.org' is not a valid e-mail address")
        and "Traceback" not in err
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("address,name,tags\nok@example.org,Ok,ATT\nbroken-address,Nope,\n", encoding="utf-8")
    assert run([*root, "subscribers", "import", str(bad)]) == 1
    assert f"{bad}:3: 'broken-address' is not a valid e-mail address" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text(
        "address,name,tags,status\nok@example.org,Ok,ATT;Arms Trade,active\nJANE@example.org,,,\n"
        "later@example.org,,,pending\n",
        encoding="utf-8",
    )
    assert run([*root, "subscribers", "import", str(good)]) == 0
    assert "2 added, 1 already subscribed" in capsys.readouterr().out

    assert run([*root, "subscribers", "export"]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert exported[0] == "address,name,tags,status,created,confirmed"
    assert [line.split(",")[:4] for line in exported[1:]] == [
        ["Jane@example.org", "Jane", "unpoa", "active"],
        ["ok@example.org", "Ok", "att;arms-trade", "active"],
        ["later@example.org", "", "", "pending"],
    ]
    (tmp_path / "again.csv").write_text("\n".join(exported) + "\n", encoding="utf-8")
    assert run([*root, "subscribers", "remove", "LATER@example.org"]) == 0
    assert run([*root, "subscribers", "import", str(tmp_path / "again.csv")]) == 0
    assert "1 added, 2 already subscribed" in capsys.readouterr().out
    assert run([*root, "subscribers", "list"]) == 0
    assert "later@example.org\tpending\tall\t" in capsys.readouterr().out


def test_preview_writes_eml_and_html_and_sends_nothing(
    tmp_path: Path, secret: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    site = published_site(tmp_path / "site")  # its SMTP port has no server: nothing may be sent
    out = tmp_path / "preview"
    root = ["--site", str(site.root)]
    assert run([*root, "subscribers", "add", "ann@example.org", "--tag", "Libya"]) == 0
    assert (
        run(
            [
                *root,
                "digest",
                "preview",
                "daily",
                "--to",
                "ann@example.org",
                "--out",
                str(out),
                "--now",
                NOW.isoformat(),
            ]
        )
        == 0
    )
    eml = out / "daily-ann@example.org.eml"
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Subject"] == "Test Site: 1 new — Libya mission renewed"
    assert "Libya mission renewed" in (out / "daily-ann@example.org.html").read_text(encoding="utf-8")
    assert run([*root, "digest", "preview", "daily", "--out", str(out), "--now", NOW.isoformat()]) == 0
    assert (out / "daily-digest@news.example.org.eml").is_file()  # a stand-in reader following every tag
    with Store(site.config.state.path) as store:
        assert store.run_summaries() == []


def test_missing_secret_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    site = published_site(tmp_path / "site")
    assert run(["--site", str(site.root), "digest", "send", "daily"]) == 2
    assert "PUBLISHER_SECRET is not set" in capsys.readouterr().err


def test_a_resent_message_is_byte_identical(tmp_path: Path) -> None:
    config = load_config(make_site(tmp_path / "site").root / "config.toml")
    digest = config.digest("daily")
    fields = {
        "name": "Zoë",
        "address": "zoe@example.org",
        "unsubscribe_url": "https://x.org/unsubscribe?token=1.abc",
        "manage_url": "https://x.org/manage?token=1.def",
    }
    render = Render("Über @@publisher-name@@", "Hi @@publisher-name@@\n", "<p>Hi @@publisher-name@@</p>")
    slot = datetime(2026, 11, 27, 7, tzinfo=UTC)
    first, second = (wire_bytes(build_message(config, digest, slot, NOW, 7, render, fields)) for _ in range(2))
    assert first == second
    assert message_id(config, "daily", slot, 7) != message_id(config, "daily", slot, 8)
    parsed = email.message_from_bytes(first, policy=policy.default)
    assert parsed["Subject"] == "Über Zoë" and "=?utf-8?" in first.decode().split("\r\n\r\n")[0]


def test_default_config_has_no_digests(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    assert config.digests == () and config.web.base_url == config.site.base_url
