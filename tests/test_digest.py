"""Digest configuration, schedule slots, subscribers and CSV, message building and preview."""

from __future__ import annotations

import email
import os
import re
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest

from publisher.cli import run
from publisher.config import Config, DigestConfig, load_config
from publisher.errors import ConfigError
from publisher.message import Render, build_message, message_id, wire_bytes
from publisher.publish import publish
from publisher.slots import current_slot
from publisher.state import open_state

from .conftest import BASE_CONFIG, NOW, Site
from .digest_helpers import make_site, published_site, secret

__all__ = ["secret"]


pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and on PostgreSQL


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
        (
            'schedule = "daily"\ncolour = "red"',
            "unknown key digests.d.colour; [digests.d] accepts day, day_of_month, from_address, max_items, min_items, "
            "name, reply_to, schedule, subject, tags, time, timezone",
        ),
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
    old_umask = os.umask(0o022)
    try:
        previewed = run(
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
    finally:
        os.umask(old_umask)
    assert previewed == 0
    eml = out / "daily-ann@example.org.eml"
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Subject"] == "Test Site: 1 new — Libya mission renewed"
    assert "Libya mission renewed" in (out / "daily-ann@example.org.html").read_text(encoding="utf-8")
    assert run([*root, "digest", "preview", "daily", "--out", str(out), "--now", NOW.isoformat()]) == 0
    assert (out / "daily-digest@news.example.org.eml").is_file()  # a stand-in reader following every tag
    # a preview holds live unsubscribe links: for its owner only, even under the usual umask
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {"0o600"}
    with open_state(site.config.state) as store:
        assert store.runs.summaries() == []


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


HOSTILE_FIELDS = [
    {"name": "", "address": "reader@example.org"},
    {"name": "Reader 1", "address": "reader1@example.org"},
    {"name": "Zoë Ångström", "address": "zoe@example.org"},
    {"name": "Alice Bcc: victim@example.org", "address": "alice@example.org"},  # CR/LF already made spaces
    {"name": 'Dr. "Quote" O\'Brien, Jr.', "address": "ob@example.org"},
    {"name": "=?utf-8?q?Bcc?=", "address": "x@example.org"},
    {"name": "x" * 120, "address": "long.local.part+tag@sub.example.org"},
    {"name": "李 小龍", "address": "li@example.org"},
    {"name": "A", "address": '"odd local"@example.org'},
]
HOSTILE_SUBJECTS = [
    "Test Site: 3 new — Treaty talks open",
    "Plain ASCII subject for @@publisher-name@@",
    "Hello Bcc: victim@example.org <script>alert(1)</script>",
    "=?utf-8?b?SGk=?= looks encoded",
    "Über " + "long words " * 120,
    "a" * 1200,
    "Digest, for (you) @@publisher-address@@",
]


@pytest.mark.parametrize("subject", HOSTILE_SUBJECTS)
@pytest.mark.parametrize("person", HOSTILE_FIELDS)
def test_message_bytes_equal_the_email_package(tmp_path: Path, person: dict[str, str], subject: str) -> None:
    from publisher.message import message_bytes

    config = load_config(make_site(tmp_path / "site").root / "config.toml")
    digest = config.digest("daily")
    long_token = "7." + "A" * 400  # a long unsubscribe URL: written unfolded, below 998 characters
    fields = {
        **person,
        "unsubscribe_url": f"https://news.example.org/blog/unsubscribe?token={long_token}",
        "manage_url": f"https://news.example.org/blog/manage?token={long_token}",
    }
    text = "Hi @@publisher-name@@\nline two\r\nline three\rend — ünïcode " + "x" * 200 + "\n\nBye\n"
    page = '<p>Hi @@publisher-name@@ <a href="@@publisher-unsubscribe_url@@">x</a></p>\n' * 30
    render = Render(subject, text, page)
    slot = datetime(2026, 11, 27, 7, tzinfo=UTC)
    expected = wire_bytes(build_message(config, digest, slot, NOW, 7, render, fields))
    assert message_bytes(config, digest, slot, NOW, 7, render, fields) == expected
    assert b"\nBcc:" not in expected and all(len(line) <= 998 for line in expected.split(b"\r\n"))


def test_message_bytes_equal_the_email_package_for_any_text(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from publisher.message import message_bytes, one_line

    config = load_config(make_site(tmp_path / "site").root / "config.toml")
    digest = config.digest("daily")
    slot = datetime(2026, 11, 27, 7, tzinfo=UTC)
    ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=80)
    any_text = st.text(max_size=80)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=ascii_text | any_text, subject=ascii_text | any_text, body=any_text, subscriber=st.integers(0, 10**9))
    def check(name: str, subject: str, body: str, subscriber: int) -> None:
        fields = {
            "name": one_line(name),
            "address": "reader@example.org",
            "unsubscribe_url": f"https://x.org/unsubscribe?token={subscriber}.abc",
            "manage_url": f"https://x.org/manage?token={subscriber}.def",
        }
        render = Render(one_line(subject) + " @@publisher-name@@", body, "<p>" + body + "</p>")
        try:
            expected = wire_bytes(build_message(config, digest, slot, NOW, subscriber, render, fields))
        except (ValueError, IndexError, TypeError):  # the email package refuses it: so must we
            with pytest.raises((ValueError, IndexError, TypeError)):
                message_bytes(config, digest, slot, NOW, subscriber, render, fields)
            return
        assert message_bytes(config, digest, slot, NOW, subscriber, render, fields) == expected

    check()


def test_post_blocks_rendered_once_give_the_same_render(tmp_path: Path) -> None:
    from publisher.publish import live_posts
    from publisher.rendering import Renderer

    site = published_site(tmp_path / "site")
    config = site.config
    digest = config.digest("daily")
    posts = sorted(live_posts(config, NOW), key=lambda p: p.published, reverse=True)
    fast = Renderer(config, digest)
    whole = Renderer(config, digest)
    whole._fragments = dict.fromkeys(whole._fragments)  # no post blocks: every render renders the whole template
    for chosen in (posts, posts[:1], posts[1:3], posts[::-1]):
        for named in (True, False):
            assert fast.render(chosen, named) == whole.render(chosen, named)
    assert all(f for f in fast._fragments.values())  # the default templates use their post blocks


@pytest.mark.parametrize(
    ("block", "css", "fragments"),
    [
        ("{{ post.title }}", "p.item { color: red }", True),
        ("{{ post.title }}", ".wrap p { color: red }", False),  # reaches outside the post: caught by the check
        ("{{ post.title }}", "p:first-child { color: red }", False),  # depends on the post's place
        ("{{ loop.index }}. {{ post.title }} for {{ subscriber.address }}", "p.item { color: red }", False),
    ],
)
def test_site_post_blocks_render_as_the_whole_template_would(
    tmp_path: Path, block: str, css: str, fragments: bool
) -> None:
    from publisher.publish import live_posts
    from publisher.rendering import Renderer

    site = published_site(tmp_path / "site")
    (site.root / "templates").mkdir()
    (site.root / "templates" / "digest.txt.j2").write_text(
        "{% for post in posts %}{% block post scoped %}" + block + "\n{% endblock %}{% endfor %}"
    )
    (site.root / "templates" / "digest.html.j2").write_text(
        f"<html><head><style>{css}</style></head><body><div class='wrap'>"
        "{% for post in posts %}{% block post scoped %}<p class='item'>" + block + "</p>{% endblock %}"
        "{% endfor %}</div></body></html>"
    )
    config = site.config
    posts = sorted(live_posts(config, NOW), key=lambda p: p.published, reverse=True)
    fast, whole = Renderer(config, config.digest("daily")), Renderer(config, config.digest("daily"))
    whole._fragments = dict.fromkeys(whole._fragments)
    for chosen in (posts, posts[1:], posts[2:3]):
        render = fast.render(chosen, named=True)
        assert render == whole.render(chosen, named=True)
        assert len(render.text.splitlines()) == len(chosen) and 'style="color: red;"' in render.html
    assert bool(fast._fragments[fast.html_template]) is fragments
    assert bool(fast._fragments[fast.text_template]) is ("loop" not in block)


def test_other_scoped_blocks_beside_the_post_block_render_as_the_whole_template_would(tmp_path: Path) -> None:
    """The post block is given a light scope in place of Jinja's derived context; any other scoped block
    (here one reading the loop and calling gettext and a filter in a loop) still gets the real one."""
    from publisher.publish import live_posts
    from publisher.rendering import Renderer

    site = published_site(tmp_path / "site")
    (site.root / "templates").mkdir()
    (site.root / "templates" / "digest.html.j2").write_text(
        "<html><head><style>p.item { color: red }</style></head><body>"
        "{% for post in posts %}{% block number scoped %}<i>{{ loop.index }}/{{ posts|length }}"
        "{% for t in post.tags %} {{ _('Tags: %(tags)s', tags=t) }}{% endfor %}</i>{% endblock %}"
        "{% block post scoped %}<p class='item'>{{ post.title }}</p>{% endblock %}{% endfor %}"
        "{% with n = posts|length %}{% block total scoped %}<b>{{ n }} {{ subscriber.address }}</b>{% endblock %}"
        "{% endwith %}</body></html>"
    )
    config = site.config
    posts = sorted(live_posts(config, NOW), key=lambda p: p.published, reverse=True)
    fast, whole = Renderer(config, config.digest("daily")), Renderer(config, config.digest("daily"))
    whole._fragments = dict.fromkeys(whole._fragments)
    for chosen in (posts, posts[1:], posts[2:3]) * 4:  # past the first renders, which are checked against whole ones
        for language in ("en", "fr"):
            render = fast.render(chosen, named=True, language=language)
            assert render == whole.render(chosen, named=True, language=language)
            assert f"<i>{len(chosen)}/{len(chosen)}" in render.html and 'style="color: red;"' in render.html
    assert fast._fragments[fast.html_template]  # the post blocks were still rendered once each


@pytest.mark.parametrize("secret_text", ["test-secret-0123456789abcdef", "k" * 16, "x" * 200, "ünïcode-secret-ß∂ƒ"])
def test_tokens_are_itsdangerous_signatures_and_the_old_hmac_form_still_counts(secret_text: str) -> None:
    import base64
    import hashlib
    import hmac

    from itsdangerous import Signer

    from publisher.tokens import check_token, make_token

    key = secret_text.encode()
    for purpose, sid, address in [("unsubscribe", 1, "A@Example.org"), ("manage", 987654, "zoë@example.org")]:
        signer = Signer(key, salt=f"publisher.{purpose}", key_derivation="hmac", digest_method=hashlib.sha256)
        signature = signer.get_signature(f"{sid}\0{address.lower()}".encode()).decode()
        assert make_token(key, purpose, sid, address) == f"{sid}.{signature}"
        check_token(key, purpose, f"{sid}.{signature}", address.upper())
        mac = hmac.new(key, f"{purpose}\0{sid}\0{address.lower()}".encode(), hashlib.sha256).digest()[:16]
        check_token(key, purpose, f"{sid}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode(), address.upper())


def test_a_date_only_post_shows_its_own_date_in_any_digest_zone(tmp_path: Path, secret: bytes) -> None:
    utc_site = BASE_CONFIG.replace('timezone = "Europe/Paris"', 'timezone = "UTC"')
    digest = '\n[[digests]]\nname = "ny"\nschedule = "daily"\ntimezone = "America/New_York"\nfrom_address = "n@example.org"\n'
    site = Site(tmp_path / "site", utc_site + digest)
    site.post("plain.md", "title: Date only\ndate: 2012-04-25")
    site.post("timed.md", "title: With a time\ndate: 2012-04-26T02:00:00Z")  # 25 April, 22:00 in New York
    publish(site.config, NOW)
    out = tmp_path / "preview"
    assert run(["--site", str(site.root), "digest", "preview", "ny", "--out", str(out), "--now", NOW.isoformat()]) == 0
    msg = email.message_from_bytes((out / "ny-n@example.org.eml").read_bytes(), policy=policy.default)
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Date only\n---------\n25 April 2012" in text
    assert "With a time\n-----------\n25 April 2012" in text
    page = msg.get_body(("html",)).get_content()
    assert page.count("25 April 2012") == 2 and "24 April" not in page and "26 April" not in page


def test_following_a_tag_no_post_has_warns_with_close_matches(
    tmp_path: Path, secret: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    site = published_site(tmp_path / "site")
    root = ["--site", str(site.root)]
    assert run([*root, "subscribers", "add", "a@example.org", "--tag", "UNPA", "--tag", "ATT", "--tag", "Zzz"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "added a@example.org (active; tags: unpa, att, zzz)\n"
    assert captured.err == (
        "warning: tag 'unpa' is on no published post: its follower gets nothing from it until one is; "
        "close matches: UNPoA\n"
        "warning: tag 'zzz' is on no published post: its follower gets nothing from it until one is; "
        "no tag in use is close to it\n"
    )
    people = tmp_path / "people.csv"
    people.write_text("address,tags\nb@example.org,Libia;ATT\nc@example.org,libia\n", encoding="utf-8")
    assert run([*root, "subscribers", "import", str(people)]) == 0
    assert capsys.readouterr().err == (
        "warning: tag 'libia' is on no published post: its 2 followers get nothing from it until one is; "
        "close matches: Libya\n"
    )
    assert run([*root, "subscribers", "add", "d@example.org", "--tag", "Libya"]) == 0
    assert capsys.readouterr().err == ""
