"""The bounce mailbox: Maildir, mbox or IMAP, each read one message at a time and marked done once recorded.

A message is moved out of the way (Maildir, mbox) or flagged \\Seen (IMAP) only
after bounces.py has recorded what it did, so a crash between the two leaves it
in place to be recognised and only moved on the next read.
"""

from __future__ import annotations

import contextlib
import email
import hashlib
import mailbox
import os
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Protocol

from .config import BouncesConfig
from .errors import ConfigError, MailboxError

PROCESSED_FOLDER = ".processed"  # a Maildir++ subfolder: mail clients show it as "processed"


def message_key(raw: bytes, msg: Message) -> str:
    """What makes a message the same message: its Message-ID, or without one its bytes."""
    message_id = str(msg.get("Message-ID", "")).strip()
    seed = b"id:" + message_id.encode("utf-8", "replace") if message_id else b"bytes:" + raw
    return hashlib.sha256(seed).hexdigest()


class Mailbox(Protocol):
    """Where the messages are: each is yielded once per read and marked done once recorded."""

    def messages(self) -> Iterator[tuple[object, bytes]]: ...
    def done(self, handle: object, key: str) -> None: ...
    def close(self) -> None: ...


class MaildirBox:
    """new/ and cur/ are to read; a message read goes to the .processed subfolder, flagged seen."""

    def __init__(self, path: Path) -> None:
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise MailboxError(f"bounces.mailbox: {path} is not a Maildir; expected its new/ and cur/ folders")
        self.path = path
        self.target = path / PROCESSED_FOLDER
        for sub in ("tmp", "new", "cur"):
            (self.target / sub).mkdir(parents=True, exist_ok=True)
        (self.target / "maildirfolder").touch()

    def messages(self) -> Iterator[tuple[object, bytes]]:
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(self.path / sub)):
                if name.startswith("."):
                    continue
                path = self.path / sub / name
                with contextlib.suppress(FileNotFoundError):  # taken by a mail client meanwhile
                    yield path, path.read_bytes()

    def done(self, handle: object, key: str) -> None:
        path = Path(str(handle))
        flags = "".join(sorted(set(path.name.partition(":2,")[2]) | {"S"}))
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, self.target / "cur" / f"{path.name.partition(':')[0]}:2,{flags}")

    def close(self) -> None:
        pass


class MboxBox:
    """Read under the mbox locks (fcntl and dot-lock, as mail servers take them); the messages
    recorded are moved to ``<name>.processed`` when reading ends, in one rewrite."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise MailboxError(f"bounces.mailbox: {path} is not an mbox file")
        self.path = path
        self.keys: set[str] = set()

    def _locked(self) -> mailbox.mbox:
        box = mailbox.mbox(self.path, create=False)
        try:
            box.lock()
        except mailbox.ExternalClashError:
            box.close()
            raise MailboxError(
                f"bounces.mailbox: {self.path} is locked ({self.path}.lock); another program is writing it. "
                "Try again later, or remove the lock file if no program holds it"
            ) from None
        return box

    def messages(self) -> Iterator[tuple[object, bytes]]:
        box = self._locked()
        try:
            found = [(key, box.get_bytes(key)) for key in box.iterkeys()]
        finally:
            box.unlock()
            box.close()
        yield from found

    def done(self, handle: object, key: str) -> None:
        self.keys.add(key)

    def close(self) -> None:
        if not self.keys:
            return
        box = self._locked()
        try:
            moving = []
            for key in box.iterkeys():
                raw = box.get_bytes(key)
                if message_key(raw, email.message_from_bytes(raw)) in self.keys:
                    moving.append(key)
            processed = mailbox.mbox(self.path.with_name(self.path.name + ".processed"))
            for key in moving:  # a copy first: a crash leaves a message twice, never nowhere
                processed.add(box.get_message(key))
            processed.close()
            for key in moving:
                box.remove(key)
            box.flush()
        except mailbox.ExternalClashError:
            pass  # a message arrived meanwhile: the recorded ones are moved at the next read
        finally:
            box.unlock()
            box.close()


class ImapBox:
    """An IMAP folder over TLS; a message read is flagged \\Seen, and only unseen ones are read."""

    def __init__(self, bounces: BouncesConfig) -> None:
        import imaplib
        import ssl

        password = os.environ.get(bounces.password_env or "")
        if not password:
            raise ConfigError(
                f"environment: {bounces.password_env} (bounces.password_env) is not set; expected the password"
            )
        self.where = f"imaps://{bounces.host}:{bounces.port}/{bounces.folder}"
        self.error = (OSError, imaplib.IMAP4.error)
        try:
            self.imap = imaplib.IMAP4_SSL(
                bounces.host, bounces.port, ssl_context=ssl.create_default_context(), timeout=60
            )
        except OSError as exc:
            raise MailboxError(f"bounces.mailbox: {self.where}: cannot connect ({exc})") from None
        try:
            self.imap.login(bounces.username, password)
            status, data = self.imap.select(self._quoted(bounces.folder))
        except self.error as exc:
            self.close()
            raise MailboxError(f"bounces.mailbox: {self.where}: {exc}") from None
        if status != "OK":
            self.close()
            raise MailboxError(f"bounces.mailbox: {self.where}: cannot open the folder ({data[0]!r})")

    @staticmethod
    def _quoted(folder: str) -> str:
        return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def messages(self) -> Iterator[tuple[object, bytes]]:
        try:
            _status, data = self.imap.uid("SEARCH", "UNSEEN")
            for uid in data[0].split():
                _status, parts = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if raw is not None:
                    yield uid, raw
        except self.error as exc:
            raise MailboxError(f"bounces.mailbox: {self.where}: {exc}") from None

    def done(self, handle: object, key: str) -> None:
        try:
            uid = handle.decode() if isinstance(handle, bytes) else str(handle)  # as SEARCH gave it
            self.imap.uid("STORE", uid, "+FLAGS.SILENT", "(\\Seen)")
        except self.error as exc:
            raise MailboxError(f"bounces.mailbox: {self.where}: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(*self.error):
            self.imap.logout()


def open_mailbox(bounces: BouncesConfig) -> Mailbox:
    if bounces.kind == "maildir":
        return MaildirBox(bounces.path)  # type: ignore[arg-type]
    if bounces.kind == "mbox":
        return MboxBox(bounces.path)  # type: ignore[arg-type]
    return ImapBox(bounces)
