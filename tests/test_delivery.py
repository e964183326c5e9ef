"""Digests end to end through a real SMTP server (aiosmtpd on 127.0.0.1) and a real state file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from publisher.delivery import DeliveryReport
from publisher.digest import send_digest
from publisher.errors import DeliveryError
from publisher.publish import publish
from publisher.state import Waiting, open_state
from publisher.subscribers import UNSUBSCRIBE, unsubscribe
from publisher.tokens import check_token

from .conftest import NOW, Site
from .digest_helpers import SECRET, FakeClock, published_site, secret, subscribe
from .mailserver import HostileServer, Recorder, mail_server

__all__ = ["secret"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and on PostgreSQL

PEOPLE = [
    ("alice@example.org", "Alice Martin", ["UNPoA"]),
    ("bob@example.com", "", ["ATT", "UNPoA"]),
    ("carol@example.net", "Carol Dubois", []),
]
EXPECTED = {  # newest first; "Treaty talks open" carries both of Bob's tags and comes once
    "alice@example.org": ["Review conference dates", "Treaty talks open"],
    "bob@example.com": ["Review conference dates", "Arms trade report", "Treaty talks open"],
    "carol@example.net": [
        "Review conference dates",
        "Libya mission renewed",
        "Arms trade report",
        "Treaty talks open",
    ],
}


def _send(site: Site, clock: FakeClock | None = None, now: datetime = NOW) -> DeliveryReport:
    clock = clock or FakeClock(now)
    return send_digest(site.config, "daily", now, clock=clock.now, sleep=clock.sleep)


def _check_message(msg: EmailMessage, address: str, titles: list[str]) -> None:
    assert msg["From"] == "Test Site <digest@news.example.org>"
    assert msg["To"].addresses[0].addr_spec == address
    assert msg["Reply-To"] == "editor@news.example.org"
    assert msg["Subject"] == f"Test Site: {len(titles)} new — {titles[0]}"
    assert msg["Date"].datetime == NOW
    assert msg["Message-ID"].startswith("<daily.") and msg["Message-ID"].endswith("@news.example.org>")
    assert msg["List-Id"] == "Test Site daily digest <daily.news.example.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https = msg["List-Unsubscribe"].strip("<>")  # one-click https only: no mailto without [bounces]
    assert msg["List-Unsubscribe"] == f"<{https}>" and "mailto:" not in msg["List-Unsubscribe"]
    assert https.startswith("https://news.example.org/blog/unsubscribe?token=")
    token = parse_qs(urlsplit(https).query)["token"][0]
    check_token(SECRET.encode(), UNSUBSCRIBE, token, address)

    assert msg.get_content_type() == "multipart/alternative"
    text_part, html_part = msg.get_payload()
    assert text_part.get_content_type() == "text/plain" and html_part.get_content_type() == "text/html"
    assert text_part.get_content_charset() == html_part.get_content_charset() == "utf-8"
    text, page = text_part.get_content().replace("\r\n", "\n"), html_part.get_content()

    for title in titles:
        assert text.count(f"\n{title}\n") == 1
    assert [line for line in text.splitlines() if line in EXPECTED["carol@example.net"]] == titles
    assert f"Unsubscribe: {https}" in text and "manage?token=" in text

    tree = lxml.html.document_fromstring(page)
    assert [h.text_content() for h in tree.iter("h2")] == titles
    assert tree.xpath("//meta[@name='color-scheme']")
    links = [link for _el, attr, link, _pos in tree.iterlinks() if attr == "href"]
    assert links and all(link.startswith("https://news.example.org/blog/") for link in links)
    assert https in links and any("/manage?token=" in link for link in links)
    assert 'style="' in page  # CSS inlined


def test_three_subscribers_get_exactly_their_posts(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *PEOPLE)
        report = _send(site)
    assert report.sent == 3 and not report.failed and not report.bounced
    messages = recorder.messages()
    assert sorted(rcpts[0] for rcpts, _ in recorder.received) == sorted(EXPECTED)
    for (rcpts, _raw), msg in zip(recorder.received, messages, strict=True):
        _check_message(msg, rcpts[0], EXPECTED[rcpts[0]])
    assert len({m["Message-ID"] for m in messages}) == 3
    assert messages[0]["To"].addresses[0].display_name == "Alice Martin"
    assert "Hello Alice Martin," in messages[0].get_body(("plain",)).get_content()


def test_nothing_new_sends_nothing_and_a_slot_goes_out_once(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *PEOPLE)
        assert _send(site).sent == 3
        again = _send(site, now=NOW + timedelta(hours=1))  # same slot
        assert again.planned is None and again.sent == 0
        next_day = _send(site, now=NOW + timedelta(days=1))  # new slot, nothing published since
        assert next_day.planned is not None and not next_day.planned.messages and next_day.sent == 0
        assert len(recorder.received) == 3

        later = NOW + timedelta(days=2)
        site.post("five.md", "title: Fresh news\ndate: 2026-11-28 09:00\ntags: [ATT]")
        publish(site.config, later)
        report = _send(site, now=later)
    assert report.sent == 2  # Bob and Carol follow ATT; Alice does not
    fresh = recorder.messages()[3:]
    assert sorted(m["To"].addresses[0].addr_spec for m in fresh) == ["bob@example.com", "carol@example.net"]
    for msg in fresh:
        assert [
            h.text_content() for h in lxml.html.document_fromstring(msg.get_body(("html",)).get_content()).iter("h2")
        ] == ["Fresh news"]


def test_451_waits_for_a_later_send_with_backoff_and_550_bounces_one_recipient(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder(temporary={"alice@example.org": 2, "bob@example.com": 1}, permanent={"carol@example.net"})
    people = [*PEOPLE, ("dave@example.org", "", [])]
    clock = FakeClock()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *people)
        first = _send(site, clock)
        assert first.sent == 1 and first.bounced == ["carol@example.net"] and first.waiting.count == 2
        assert first.waiting.first == NOW + timedelta(seconds=10)
        assert _send(site, clock).sent == 0  # too early: nothing is due, nothing is tried
        clock.at += timedelta(seconds=10)
        second = _send(site, clock)  # Bob goes; Alice is refused again and waits 20 s more
        assert second.sent == 1 and second.waiting == Waiting(1, NOW + timedelta(seconds=30))
        clock.at += timedelta(seconds=20)
        assert _send(site, clock).sent == 1
    assert clock.slept == []  # a retry never waits in the foreground
    assert recorder.per_recipient() == {"alice@example.org": 1, "bob@example.com": 1, "dave@example.org": 1}
    assert recorder.refusals == {"alice@example.org": 2, "bob@example.com": 1, "carol@example.net": 1}
    with open_state(site.config.state) as store:
        assert store.subscribers.by_address("carol@example.net").status == "bounced"
        assert store.runs.summaries()[0].counts == {"sent": 3, "bounced": 1}


def test_server_that_cannot_be_reached_keeps_the_outbox(tmp_path: Path, secret: bytes) -> None:
    from .mailserver import free_port

    site = published_site(tmp_path / "site", free_port())
    subscribe(site, *PEOPLE)
    clock = FakeClock()
    with pytest.raises(DeliveryError, match="cannot connect"):
        _send(site, clock)
    assert clock.slept == []
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"pending": 3}


def test_hostile_post_cannot_inject_headers_or_script(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        (site.root / "templates").mkdir()
        (site.root / "templates" / "digest.html.j2").write_text(  # a site override that shows full posts
            "<html><body>{% for post in posts %}<h2>{{ post.title }}</h2>{{ post.html }}{% endfor %}"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
        )
        site.post(
            "evil.md",
            'title: "Hello\\r\\nBcc: victim@example.org\\r\\n\\r\\n&lt;script&gt;alert(1)"\ndate: 2026-11-26',
            '<script>alert("body")</script>\n\n<img src="x.png" onerror="alert(2)">\n\n'
            '<a href="javascript:alert(3)">click</a> <a href="/ok/">fine</a>',
        )
        publish(site.config, NOW)
        subscribe(site, ("alice@example.org", "Alice\r\nBcc: victim@example.org", []))
        assert _send(site).sent == 1
    ((rcpts, raw),) = recorder.received
    assert rcpts == ["alice@example.org"]
    msg = recorder.messages()[0]
    assert "Bcc" not in msg and b"\nBcc:" not in raw
    assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"]
    assert "<script>" in msg["Subject"]  # plain text in a header, harmless and readable
    page = msg.get_body(("html",)).get_content().lower()
    assert "<script" not in page and "onerror" not in page and "javascript:" not in page
    assert "&lt;script&gt;" in page  # the title is shown, escaped
    assert 'href="https://news.example.org/ok/"' in page  # safe links survive, absolute


CRASH_RECIPIENTS = 240
KILL_AFTER = (40, 110, 180)  # messages received by the server when the sender is killed


def _sender(site_root: Path) -> subprocess.Popen:
    code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
    args = ["--site", str(site_root), "digest", "send", "daily", "--now", NOW.isoformat()]
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE)


def test_killed_sender_resumes_and_sends_each_message_once(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *((f"reader{n:03d}@example.org", "", []) for n in range(CRASH_RECIPIENTS)))
        for count in KILL_AFTER:
            sender = _sender(site.root)
            assert recorder.wait_for(count), "the sender never got this far"
            sender.send_signal(signal.SIGKILL)
            sender.wait()
            assert sender.returncode == -signal.SIGKILL
        finisher = _sender(site.root)
        out, _ = finisher.communicate(timeout=60)
        assert finisher.returncode == 0, out
    per_recipient = recorder.per_recipient()
    assert set(per_recipient) == {f"reader{n:03d}@example.org" for n in range(CRASH_RECIPIENTS)}
    duplicates = sum(n - 1 for n in per_recipient.values())
    print(f"\ncrash test: {len(KILL_AFTER)} kills, {len(recorder.received)} messages, {duplicates} duplicates")
    assert duplicates <= len(KILL_AFTER)
    ids = [m["Message-ID"] for m in recorder.messages()]
    assert len(set(ids)) == CRASH_RECIPIENTS  # a resent message carries the same Message-ID
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"sent": CRASH_RECIPIENTS}


def test_unsubscribe_link_works_and_forged_tokens_are_rejected(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *PEOPLE)
        _send(site)
    msg = next(m for m in recorder.messages() if m["To"].addresses[0].addr_spec == "bob@example.com")
    url = msg["List-Unsubscribe"].split(",")[0].strip(" <>")
    token = parse_qs(urlsplit(url).query)["token"][0]
    sid, mac = token.split(".")
    forged = [
        f"{sid}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # altered signature
        f"{int(sid) + 1}.{mac}",  # someone else's id with Bob's signature
        f"{sid}.",  # no signature
        "1.AAAAAAAAAAAAAAAAAAAAAA",  # made up
        "not-a-token",
    ]
    from publisher.errors import SubscriberError
    from publisher.subscribers import MANAGE
    from publisher.tokens import make_token

    with open_state(site.config.state) as store:
        for bad in [*forged, make_token(secret, MANAGE, int(sid), "bob@example.com")]:  # wrong purpose too
            with pytest.raises(SubscriberError):
                unsubscribe(store, secret, bad, NOW)
        with pytest.raises(SubscriberError):
            unsubscribe(store, b"another-secret-0123456789", token, NOW)
        assert all(s.status == "active" for s in store.subscribers.all())
        assert unsubscribe(store, secret, token, NOW).status == "unsubscribed"
        assert store.subscribers.by_address("bob@example.com").status == "unsubscribed"


def test_send_command_names_each_refused_address_and_exits_1(
    tmp_path: Path, secret: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.cli import run

    recorder = Recorder(permanent={"carol@example.net"})
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *PEOPLE)
        assert run(["--site", str(site.root), "digest", "send", "daily", "--now", NOW.isoformat()]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "error: smtp: carol@example.net: 550 5.1.1 No such mailbox (marked bounced: no more digests)\n"
    )
    assert (
        captured.out
        == "daily slot 2026-11-27 08:00 CET: froze 3 messages (3 renders, 4 posts); 2 sent, 0 waiting, 1 bounced, 0 failed\n"
    )
    assert run(["--site", str(site.root), "outbox"]) == 0
    assert capsys.readouterr().out == "daily\t2026-11-27 08:00 CET\t2 sent, 0 waiting, 1 bounced, 0 failed\n"
    assert recorder.per_recipient() == {"alice@example.org": 1, "bob@example.com": 1}


def test_post_text_cannot_fill_in_a_readers_address_or_links(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        site.post(
            "sly.md",
            'title: "Hi @@publisher-address@@"\ndate: 2026-11-26\ntags: [UNPoA]\n'
            'summary: "Manage: @@publisher-manage_url@@"',
        )
        publish(site.config, NOW)
        subscribe(site, PEOPLE[0])
        _send(site)
    msg = recorder.messages()[0]
    text = msg.get_body(("plain",)).get_content()
    assert "alice@example.org" not in msg["Subject"] and "Hi @@publisher\u200b-address@@" in msg["Subject"]
    assert "Manage: @@publisher\u200b-manage_url@@" in text
    assert text.count("/manage?token=") == 1  # the footer's own link only


def test_a_removed_subscribers_unsent_message_never_goes_out(tmp_path: Path, secret: bytes) -> None:
    from publisher.subscribers import add_subscriber, remove_subscriber

    site = published_site(tmp_path / "site", 2525)
    subscribe(site, PEOPLE[0])
    with open_state(site.config.state) as store:
        from publisher.digest import freeze_run
        from publisher.publish import live_posts

        freeze_run(site.config, store, site.config.digest("daily"), NOW, live_posts(site.config, NOW), NOW, secret)
        remove_subscriber(store, "alice@example.org")
        newcomer = add_subscriber(store, "zoe@example.org", "", [], NOW)  # may be given Alice's old id
        counts = store.runs.summaries()[0].counts
    assert counts == {"failed": 1}
    assert newcomer.address == "zoe@example.org"


def test_a_preview_of_the_future_does_not_number_posts_for_digests(tmp_path: Path, secret: bytes) -> None:
    from publisher.cli import run

    site = published_site(tmp_path / "site", 2525)
    site.post("embargo.md", "title: Embargoed\ndate: 2030-01-01\ntags: [UNPoA]")
    assert run(["--site", str(site.root), "publish", "-q", "--now", "2030-06-01T00:00:00+00:00"]) == 0
    with open_state(site.config.state) as store:
        assert len(store.published.ids()) == 4  # the sample posts only


def _publisher(site: Site, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`publisher --site SITE ARGS...` in its own process, as an operator runs it."""
    code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    command = [sys.executable, "-c", code, "--site", str(site.root), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _smtp_site(root: Path, port: int, settings: str = "") -> Site:
    """The test site and its three readers, with [smtp] settings added."""
    site = published_site(root, port)
    config = site.root / "config.toml"
    config.write_text(config.read_text().replace('security = "none"', f'security = "none"\n{settings}'))
    subscribe(site, *PEOPLE)
    return site


def test_nothing_listening_fails_at_once_with_one_line_and_keeps_the_outbox(tmp_path: Path, secret: bytes) -> None:
    from .mailserver import free_port

    port = free_port()
    site = _smtp_site(tmp_path / "site", port)
    started = time.monotonic()
    done = _publisher(site, "digest", "send", "daily", "--now", NOW.isoformat())
    seconds = time.monotonic() - started
    print(f"\nno SMTP server: digest send failed in {seconds:.2f} s")
    assert done.returncode == 1 and seconds < 5
    assert done.stderr == (
        f"publisher: smtp 127.0.0.1:{port}: cannot connect (Connection refused); 0 sent, 3 left in the outbox: "
        "send again later\n"
    )
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"pending": 3}


def test_451_returns_at_once_and_a_later_send_delivers_each_message_once(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder(temporary={"alice@example.org": 1, "carol@example.net": 1})
    with mail_server(recorder) as port:
        site = _smtp_site(tmp_path / "site", port)  # retry_base_seconds = 10
        started = time.monotonic()
        first = _publisher(site, "digest", "send", "daily", "--now", NOW.isoformat())
        assert time.monotonic() - started < 10  # no backoff slept through
        assert first.returncode == 0, first.stderr
        assert first.stdout == (
            "daily slot 2026-11-27 08:00 CET: froze 3 messages (3 renders, 4 posts); "
            "1 sent, 2 waiting for retry at 13:00 CET, 0 bounced, 0 failed\n"
        )
        early = _publisher(site, "digest", "send", "daily", "--now", (NOW + timedelta(seconds=5)).isoformat())
        assert early.stdout.endswith(
            ": already frozen; 0 sent, 2 waiting for retry at 13:00 CET, 0 bounced, 0 failed\n"
        )
        later = _publisher(site, "digest", "send", "daily", "--now", (NOW + timedelta(minutes=1)).isoformat())
        assert later.returncode == 0, later.stderr
        assert later.stdout.endswith(": already frozen; 2 sent, 0 waiting, 0 bounced, 0 failed\n")
    assert recorder.per_recipient() == {address: 1 for address, _, _ in PEOPLE}
    assert recorder.refusals == {"alice@example.org": 1, "carol@example.net": 1}


def test_a_future_now_sends_nothing_and_uses_up_no_slot(tmp_path: Path, secret: bytes) -> None:
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = _smtp_site(tmp_path / "site", port)
        with open_state(site.config.state) as store:
            ledger = store.published.seqs()
        feeds = site.feed_files()
        future = datetime.now(UTC).replace(hour=7, minute=30, second=0, microsecond=0) + timedelta(days=7)
        site.post("embargoed.md", f"title: Embargoed\ndate: {(future - timedelta(days=2)).date()}")
        ran = _publisher(site, "run", "--once", "--now", future.isoformat())
        assert ran.returncode == 0, ran.stderr
        assert "in the future: a dry run, nothing is published or sent" in ran.stderr
        assert (
            "dry run, nothing sent or changed: slot " in ran.stderr and "would be frozen with 3 messages" in ran.stderr
        )
        sent = _publisher(site, "digest", "send", "daily", "--now", future.isoformat())
        assert sent.returncode == 0, sent.stderr
        assert sent.stderr.startswith("note: --now ") and "is in the future: a dry run, nothing is sent" in sent.stderr
        assert "would be frozen with 3 messages" in sent.stdout
        assert recorder.received == []
        with open_state(site.config.state) as store:
            assert store.runs.summaries() == [] and store.runs.last_slots() == {}
            assert store.published.seqs() == ledger
        assert site.feed_files() == feeds  # a future post does not leak into the live feeds
        now = _publisher(site, "run", "--once", "--now", NOW.isoformat())  # the real slot is still there
        assert now.returncode == 0, now.stderr
    assert recorder.per_recipient() == {address: 1 for address, _, _ in PEOPLE}


def test_a_server_closing_after_each_250_loses_no_recipient(tmp_path: Path, secret: bytes) -> None:
    with HostileServer("drop-after-250") as server:
        site = _smtp_site(tmp_path / "site", server.port, "timeout = 2")
        started = time.monotonic()
        done = _publisher(site, "digest", "send", "daily", "--now", NOW.isoformat())
        assert time.monotonic() - started < 5  # no backoff slept through (retry_base_seconds = 10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("3 sent, 0 waiting, 0 bounced, 0 failed\n")
    assert server.per_recipient() == {address: 1 for address, _, _ in PEOPLE}
    assert server.connections == 3  # a fresh connection after each drop, none wasted on a dead one


def test_a_greeting_trickled_forever_ends_at_the_deadline(tmp_path: Path, secret: bytes) -> None:
    with HostileServer("trickle-ehlo") as server:
        site = _smtp_site(tmp_path / "site", server.port, "timeout = 0.5")
        started = time.monotonic()
        done = _publisher(site, "digest", "send", "daily", "--now", NOW.isoformat(), timeout=30)
        seconds = time.monotonic() - started
    print(f"\ntrickled EHLO reply: gave up after {seconds:.2f} s")
    assert done.returncode == 1 and seconds < 10
    assert done.stderr == (
        f"publisher: smtp 127.0.0.1:{server.port}: cannot connect (no complete reply within 0.5 s); "
        "0 sent, 3 left in the outbox: send again later\n"
    )
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"pending": 3}


@pytest.mark.parametrize("fault", ["late-250", "trickle-reply"])
def test_a_reply_after_the_deadline_is_outcome_unknown_and_never_a_second_copy(
    tmp_path: Path, secret: bytes, fault: str
) -> None:
    with HostileServer(fault) as server:
        site = _smtp_site(tmp_path / "site", server.port, "timeout = 0.5")
        done = _publisher(site, "digest", "send", "daily", "--now", NOW.isoformat(), timeout=30)
        again = _publisher(site, "digest", "send", "daily", "--now", (NOW + timedelta(hours=1)).isoformat())
    assert server.per_recipient() == {address: 1 for address, _, _ in PEOPLE}  # one copy each, no resend
    assert done.returncode == 1
    assert done.stdout.endswith("0 sent, 0 waiting, 0 bounced, 0 failed, 3 outcome unknown\n")
    assert done.stderr.count("outcome unknown: no reply after the whole message was sent") == 3
    assert again.stdout.endswith(": already frozen; 0 sent, 0 waiting, 0 bounced, 0 failed\n")
    with open_state(site.config.state) as store:
        assert store.runs.summaries()[0].counts == {"unknown": 3}
        store.subscribers.set_status(store.subscribers.by_address("bob@example.com").id, "unsubscribed")
    retry = _publisher(site, "outbox", "retry")
    assert retry.stdout == "2 messages waiting again; they go at the next send\n"
    assert (
        _publisher(site, "outbox").stdout
        == "daily\t2026-11-27 08:00 CET\t0 sent, 2 waiting, 0 bounced, 0 failed, 1 outcome unknown\n"
    )


def test_a_long_send_shows_progress_on_a_terminal(tmp_path: Path, secret: bytes) -> None:
    import pty

    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *((f"reader{n:03d}@example.org", "", []) for n in range(60)))
        code = "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))"
        args = ["--site", str(site.root), "digest", "send", "daily", "--now", NOW.isoformat()]
        terminal, stderr = pty.openpty()
        env = {**os.environ, "PUBLISHER_SECRET": SECRET, "COLUMNS": "100", "TERM": "xterm"}
        sender = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=stderr)
        os.close(stderr)
        shown = b""
        while chunk := _read_pty(terminal):
            shown += chunk
        out, _ = sender.communicate(timeout=60)
        os.close(terminal)
    assert sender.returncode == 0 and out.endswith(b"60 sent, 0 waiting, 0 bounced, 0 failed\n")
    assert b"daily: sending" in shown


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the other end is closed
        return b""


def test_dry_run_says_what_would_happen_in_the_digests_zone(
    tmp_path: Path, secret: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.cli import run

    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(tmp_path / "site", port)
        subscribe(site, *PEOPLE)
        send = ["--site", str(site.root), "digest", "send", "daily", "--now", NOW.isoformat()]
        assert run([*send, "--dry-run"]) == 0
        assert capsys.readouterr().out == (
            "daily dry run, nothing sent or changed: slot 2026-11-27 08:00 CET would be frozen with 3 messages "
            "(3 renders, 4 posts); 0 messages waiting in the outbox\n"
        )
        assert recorder.received == []
        assert run(send) == 0
        assert run([*send, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "daily dry run, nothing sent or changed: slot 2026-11-27 08:00 CET is frozen already; "
        "0 messages waiting in the outbox"
    )


@pytest.mark.sqlite_only
def test_an_older_state_file_tells_bounced_from_failed(tmp_path: Path) -> None:
    import sqlite3

    from publisher.state.schema import SQLITE_HISTORY as MIGRATIONS

    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:6]:  # the schema before bounced and unknown messages
        db.executescript(script)
    db.executescript(
        "INSERT INTO subscribers VALUES (1, 'a@example.org', '', NULL, 'bounced', '2026-01-01T00:00:00+00:00', NULL);"
        "INSERT INTO subscribers VALUES (2, 'b@example.org', '', NULL, 'active', '2026-01-01T00:00:00+00:00', NULL);"
        "INSERT INTO digest_runs VALUES (1, 'daily', '2026-11-27T07:00:00+00:00', '2026-11-27T07:00:00+00:00');"
        "INSERT INTO run_bodies VALUES (1, 1, 's', 't', 'h');"
        "INSERT INTO outbox (run, subscriber, body, fields, watermark, status, error) VALUES"
        " (1, 1, 1, '{}', 4, 'failed', '550 5.1.1 No such mailbox'),"
        " (1, 2, 1, '{}', 4, 'failed', '451 try later (gave up after 6 tries)');"
        "PRAGMA user_version = 6;"
    )
    db.close()
    with open_state(path) as store:
        assert store.runs.summaries()[0].counts == {"bounced": 1, "failed": 1}
