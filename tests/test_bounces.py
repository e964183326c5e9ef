"""Bounces, complaints and mailed unsubscribes: a digest really sent, then the replies in real formats
(tests/data/bounces) dropped into a real Maildir or mbox and read by `publisher bounces`."""

from __future__ import annotations

import imaplib
import mailbox
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest

from publisher.bounces import MAIL_UNSUBSCRIBE, VERP
from publisher.cli import run
from publisher.config import load_config
from publisher.digest import send_digest
from publisher.scheduler import Runner
from publisher.state import open_state
from publisher.tokens import check_address_token

from .conftest import DATA, NOW
from .digest_helpers import SECRET, FakeClock, make_site, published_site, subscribe
from .digest_helpers import secret as secret  # the fixture: PUBLISHER_SECRET set for every test here
from .mailserver import Recorder, free_port, mail_server

pytestmark = pytest.mark.usefixtures("secret")
FIXTURES = DATA / "bounces"
BOUNCES = "bounces@news.example.org"
CONFIG = """
[bounces]
address = "{address}"
mailbox = "{mailbox}"
soft_bounce_limit = 3
soft_bounce_days = 7
"""

# fixture -> (recipient it concerns, status expected after, what `subscribers list` says)
CASES = {
    "postfix-dsn.eml": ("gone@example.net", "bounced", "bounced: hard bounce 5.1.1"),
    "exim-plain.eml": ("old@example.com", "bounced", "bounced: hard bounce"),
    "exchange-ndr.eml": ("left@contoso.example", "bounced", "bounced: hard bounce 5.1.10"),
    "gmail-dsn.eml": ("nobody@gmail.com", "bounced", "bounced: hard bounce 5.1.1"),
    "qmail-plain.eml": ("former@qmail.example.org", "bounced", "bounced: hard bounce"),
    "arf-complaint.eml": ("grumpy@example.org", "unsubscribed", "complained: feedback report: abuse"),
    "mailto-unsubscribe.eml": ("leaving@example.org", "unsubscribed", None),
    "vacation.eml": ("away@example.org", "active", None),
    "unrelated.eml": ("quiet@example.org", "active", None),
}
PEOPLE = [(address, "", []) for address, _, _ in CASES.values()] + [("victim@example.org", "", [])]


def _sent(
    root: Path, mailbox_spec: str, people: list[tuple[str, str, list[str]]] = PEOPLE, extra: str = ""
) -> dict[str, dict]:
    """Send one digest through a real SMTP server; per recipient: its envelope sender and headers as sent."""
    recorder = Recorder()
    with mail_server(recorder) as port:
        site = published_site(root, port, CONFIG.format(address=BOUNCES, mailbox=mailbox_spec) + extra)
        subscribe(site, *people)
        clock = FakeClock()
        report = send_digest(site.config, "daily", NOW, clock=clock.now, sleep=clock.sleep)
    assert report.sent == len(people)
    out = {}
    for (rcpts, raw), sender in zip(recorder.received, recorder.senders, strict=True):
        msg = message_from_bytes(raw)
        mailto = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", msg["List-Unsubscribe"])
        assert mailto, msg["List-Unsubscribe"]
        headers = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").decode()
        out[rcpts[0]] = {"verp": sender, "unsubscribe": mailto.group(1), "headers": headers}
    return out


def _fill(name: str, address: str, sent: dict[str, dict], **extra: str) -> bytes:
    values = {"ADDRESS": address, "BOUNCES": BOUNCES, "VERP": sent[address]["verp"]}
    values |= {"UNSUBSCRIBE": sent[address]["unsubscribe"], "HEADERS": sent[address]["headers"], **extra}
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    assert "@@" not in text.replace("@@publisher", ""), name
    return text.encode()


def _deliver(kind: str, path: Path, messages: list[bytes]) -> None:
    """What a mail server does: new files in a Maildir's new/, or messages appended to an mbox."""
    box = mailbox.Maildir(path, create=True) if kind == "maildir" else mailbox.mbox(path)
    for raw in messages:
        box.add(raw)
    box.flush()
    box.close()


def _statuses(root: Path) -> dict[str, str]:
    with open_state(root / ".publisher" / "state.db") as store:
        return {s.address: s.status for s in store.subscribers.all()}


def _cli(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["--site", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verp_sender_and_mailto_are_signed_for_their_recipient(tmp_path: Path) -> None:
    secret = SECRET.encode()
    sent = _sent(tmp_path / "site", "maildir:bounces")
    with open_state(tmp_path / "site" / ".publisher" / "state.db") as store:
        ids = {s.address: s.id for s in store.subscribers.all()}
    for address, got in sent.items():
        local, _, domain = got["verp"].partition("@")
        assert domain == "news.example.org" and local.startswith("bounces+")
        token = local.removeprefix("bounces+")
        assert re.fullmatch(rf"{ids[address]}\.[a-z2-7]{{26}}", token)
        check_address_token(secret, VERP, token, address)
        check_address_token(secret, VERP, token.upper(), address)  # a bounce may quote it in capitals
        unsubscribe = got["unsubscribe"].partition("@")[0].removeprefix("unsubscribe+")
        check_address_token(secret, MAIL_UNSUBSCRIBE, unsubscribe, address)
        with pytest.raises(Exception, match="forged"):  # one purpose's token is no other's
            check_address_token(secret, MAIL_UNSUBSCRIBE, token, address)
        other = next(a for a in sent if a != address)
        with pytest.raises(Exception, match="forged"):  # nor another reader's
            check_address_token(secret, VERP, token, other)


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_each_format_ends_in_the_right_state_and_a_second_run_changes_nothing(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "site"
    sent = _sent(root, f"{kind}:bounces")
    messages = [_fill(name, address, sent) for name, (address, _, _) in CASES.items()]
    victim = sent["victim@example.org"]["verp"].split("+")[1].split(".")[0]
    forged = _fill("postfix-dsn.eml", "gone@example.net", sent).replace(  # gone's signature, victim's id
        b"bounces+" + sent["gone@example.net"]["verp"].split("+")[1].split(".")[0].encode() + b".",
        b"bounces+" + victim.encode() + b".",
    )
    shouting = (
        _fill("exim-plain.eml", "old@example.com", sent)
        .replace(sent["old@example.com"]["verp"].encode(), sent["old@example.com"]["verp"].upper().encode())
        .replace(b"<E1tGzXk", b"<E1tGzXm")
    )  # a second report: another Message-ID
    _deliver(kind, root / "bounces", [*messages, forged.replace(b"<2026", b"<forged.2026"), shouting])

    code, out = _cli(root, "bounces", capsys=capsys)
    assert code == 0, out
    assert "11 messages read: 6 hard bounce, 1 complaint, 1 unsubscribe, 1 auto-reply, 2 unrecognised" in out
    statuses = _statuses(root)
    for name, (address, status, _) in CASES.items():
        assert statuses[address] == status, name
    assert statuses["victim@example.org"] == "active"  # a forged token names nobody

    code, listing = _cli(root, "subscribers", "list", capsys=capsys)
    lines = {line.split("\t")[0]: line for line in listing.splitlines()}
    for address, _, note in CASES.values():
        if note:
            assert note in lines[address], lines[address]
        else:
            assert lines[address].count("\t") == 3
    code, outbox = _cli(root, "outbox", capsys=capsys)
    assert "bounce mailbox: 11 messages:" in outbox and "5 subscribers bounced, 1 complained" in outbox
    assert "gone@example.net\tbounced: hard bounce 5.1.1 550 5.1.1" in outbox

    code, again = _cli(root, "bounces", capsys=capsys)
    assert code == 0 and again.strip() == "0 messages read"
    assert _statuses(root) == statuses
    if kind == "maildir":
        assert not os.listdir(root / "bounces" / "new") and not os.listdir(root / "bounces" / "cur")
        assert len(os.listdir(root / "bounces" / ".processed" / "cur")) == 11
    else:
        assert len(mailbox.mbox(root / "bounces")) == 0
        assert len(mailbox.mbox(root / "bounces.processed")) == 11


def test_soft_bounces_add_up_to_bounced_only_within_the_window(tmp_path: Path) -> None:
    root = tmp_path / "site"
    people = [("full@example.org", "", []), ("slow@example.org", "", [])]
    sent = _sent(root, "maildir:bounces", people)

    def delay(address: str, n: int, days: int) -> bytes:
        when = NOW - timedelta(days=days)
        return _fill(
            "gmail-delay.eml",
            address,
            sent,
            MSGID=f"delay.{n}@mx.google.com",
            DATE=f"{when:%a, %d %b %Y %H:%M:%S +0000}",
        )

    # full: three within 7 days; slow: three, but spread over 16 days
    _deliver("maildir", root / "bounces", [delay("full@example.org", n, n) for n in range(3)])
    _deliver("maildir", root / "bounces", [delay("slow@example.org", 10 + n, 8 * n) for n in range(3)])
    assert run(["--site", str(root), "bounces", "--now", NOW.isoformat()]) == 0
    assert _statuses(root) == {"full@example.org": "bounced", "slow@example.org": "active"}


def _bounces_process(root: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from publisher.cli import run; sys.exit(run(sys.argv[1:]))",
         "--site", str(root), "bounces"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_sigkill_mid_way_loses_no_message_and_applies_none_twice(tmp_path: Path, kind: str) -> None:
    """Two soft bounces each for 150 readers (the limit is three): one applied twice would bounce them."""
    root = tmp_path / "site"
    people = [(f"reader{n:03d}@example.org", "", []) for n in range(150)]
    sent = _sent(root, f"{kind}:bounces", people)
    messages = [
        _fill("gmail-delay.eml", address, sent, MSGID=f"d{k}.{address}", DATE="Fri, 27 Nov 2026 11:00:00 +0000")
        for k in range(2)
        for address, _, _ in people
    ]
    _deliver(kind, root / "bounces", messages)
    kills = 0
    for lines_before_kill in (40, 90, 60):  # of 300, each run going on from the last
        reader = _bounces_process(root)
        for seen, _line in enumerate(reader.stdout, 1):  # type: ignore[arg-type]
            if seen == lines_before_kill:
                reader.send_signal(signal.SIGKILL)
                kills += 1
                break
        reader.wait()
        assert reader.returncode == -signal.SIGKILL
    finisher = _bounces_process(root)
    out, _ = finisher.communicate(timeout=120)
    assert finisher.returncode == 0, out
    with open_state(root / ".publisher" / "state.db") as store:
        rows = store.db.rows("SELECT subscriber, count(*) AS n FROM mail_processed GROUP BY subscriber")
        assert store.mail.outcomes() == {"soft bounce": 300}
    assert sorted(row["n"] for row in rows) == [2] * 150
    assert set(_statuses(root).values()) == {"active"}
    if kind == "maildir":
        assert len(os.listdir(root / "bounces" / ".processed" / "cur")) == 300
        assert not os.listdir(root / "bounces" / "new")
    else:
        assert len(mailbox.mbox(root / "bounces")) == 0
        assert len({m["Message-ID"] for m in mailbox.mbox(root / "bounces.processed")}) == 300
    print(f"\nbounce crash test ({kind}): {kills} kills, 300 messages, 0 applied twice")


DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
IMAP_PASSWORD = 'password_env = "BOUNCES_PASSWORD"\n'
DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


@pytest.fixture
def dovecot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Debian's dovecot on 127.0.0.1 with a throw-away config and a self-signed certificate we trust."""
    if not os.path.exists(DOVECOT) or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("dovecot-imapd is missing or we are not root; `make test` installs it under CI")
        pytest.skip("dovecot-imapd is not installed (or not root): `make test` installs it")
    # Dovecot's mail processes run as its own user, which cannot enter pytest's private tmp_path.
    root = Path(tempfile.mkdtemp(prefix="publisher-imap-"))
    root.chmod(0o755)
    dovecot_user = pwd.getpwnam("dovecot")
    (root / "mail").mkdir()
    os.chown(root / "mail", dovecot_user.pw_uid, dovecot_user.pw_gid)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (root / "passwd").write_text("bounces:{PLAIN}imap-secret::::::\n")
    port = free_port()
    conf = DOVECOT_CONF.format(root=root, uid=dovecot_user.pw_uid, gid=dovecot_user.pw_gid, port=port)
    (root / "dovecot.conf").write_text(conf)
    monkeypatch.setenv("SSL_CERT_FILE", str(root / "cert.pem"))  # what ssl.create_default_context trusts
    monkeypatch.setenv("BOUNCES_PASSWORD", "imap-secret")
    subprocess.run([DOVECOT, "-c", str(root / "dovecot.conf")], check=True)  # listening once it returns
    try:
        yield port
    finally:
        subprocess.run([DOVECOT, "-c", str(root / "dovecot.conf"), "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _imap(port: int) -> imaplib.IMAP4_SSL:
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ssl.create_default_context(), timeout=30)
    imap.login("bounces", "imap-secret")
    imap.select("INBOX")
    return imap


def test_imap_folder_is_read_once_over_tls(tmp_path: Path, dovecot: int, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "site"
    sent = _sent(root, f"imaps://bounces@127.0.0.1:{dovecot}/INBOX", extra=IMAP_PASSWORD)
    imap = _imap(dovecot)
    for name, (address, _, _) in CASES.items():
        assert imap.append("INBOX", None, None, _fill(name, address, sent))[0] == "OK"
    imap.logout()

    code, out = _cli(root, "bounces", capsys=capsys)
    assert code == 0, out
    assert "9 messages read: 5 hard bounce, 1 complaint, 1 unsubscribe, 1 auto-reply, 1 unrecognised" in out
    statuses = _statuses(root)
    for name, (address, status, _) in CASES.items():
        assert statuses[address] == status, name
    imap = _imap(dovecot)
    assert imap.uid("SEARCH", "UNSEEN")[1] == [b""] and len(imap.uid("SEARCH", "SEEN")[1][0].split()) == 9
    assert imap.append("INBOX", None, None, _fill("vacation.eml", "away@example.org", sent).replace(b"<AM8", b"<AM9"))
    imap.logout()
    code, again = _cli(root, "bounces", capsys=capsys)
    assert code == 0 and again.strip() == "1 messages read: 1 auto-reply"
    assert _statuses(root) == statuses


def test_imap_wrong_password_is_one_line(tmp_path: Path, dovecot: int, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "site"
    _sent(root, f"imaps://bounces@127.0.0.1:{dovecot}/INBOX", PEOPLE[:1], IMAP_PASSWORD)
    os.environ["BOUNCES_PASSWORD"] = "wrong"  # restored by the fixture's monkeypatch
    code, out = _cli(root, "bounces", capsys=capsys)
    assert code == 1 and out.count("\n") == 1
    assert out.startswith(f"publisher: bounces.mailbox: imaps://127.0.0.1:{dovecot}/INBOX: ") and "Traceback" not in out


def test_each_scheduler_tick_reads_the_mailbox(tmp_path: Path) -> None:
    root = tmp_path / "site"
    sent = _sent(root, "maildir:bounces", PEOPLE[:1])
    _deliver("maildir", root / "bounces", [_fill("postfix-dsn.eml", "gone@example.net", sent)])
    site_config = load_config(root / "config.toml")
    clock = FakeClock(NOW + timedelta(hours=1))  # the day's digest is sent: only the mailbox has work
    with open_state(site_config.state) as store:
        assert Runner(site_config, store, clock=clock.now, sleep=clock.sleep, stop=threading.Event()).tick() == 0
    assert _statuses(root) == {"gone@example.net": "bounced"}
    assert len(os.listdir(root / "bounces" / ".processed" / "cur")) == 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('address = "bounces@news.example.org"\nmailbox = "/var/mail/x"', "bounces.mailbox = '/var/mail/x': expected"),
        ('address = "b+x@news.example.org"\nmailbox = "maildir:m"', "bounces.address = 'b+x@news.example.org'"),
        ('address = "bounces@news.example.org"\nmailbox = "imaps://u@h/INBOX"', "bounces.password_env is missing"),
        ('address = "bounces@news.example.org"\nmailbox = "maildir:m"\nsoft_bounce_days = 0', "soft_bounce_days = 0"),
        ('address = "bounces@news.example.org"\nmailbox = "maildir:m"\nfolder = "x"', "unknown key bounces.folder"),
    ],
)
def test_bad_bounces_table_is_one_line(
    tmp_path: Path, table: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "site"
    make_site(root, 2525, f"\n[bounces]\n{table}\n")
    code, out = _cli(root, "bounces", capsys=capsys)
    assert code == 2 and out.count("\n") == 1 and message in out, out


def test_missing_maildir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "site"
    published_site(root, 2525, CONFIG.format(address=BOUNCES, mailbox="maildir:nowhere"))
    code, out = _cli(root, "bounces", capsys=capsys)
    assert (
        code == 1
        and out
        == f"publisher: bounces.mailbox: {root.resolve() / 'nowhere'} is not a Maildir; expected its new/ and cur/ folders\n"
    )
