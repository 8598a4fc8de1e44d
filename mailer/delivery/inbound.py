"""Mailboxes where bounces, complaints and mailed unsubscribe requests arrive.

``open_mailbox(SOURCE)`` reads a Maildir, an mbox file, a folder of ``.eml`` files or an
IMAP folder (``imaps://user:password@host/INBOX``, with imap-tools) and hands out each
message with a stable key (the SHA-256 of its Message-ID, or of its bytes when it has
none). The caller records the keys it processed, so a message is never processed twice
even when the mailbox cannot be changed; where it can, ``done`` marks the message too:
Maildir messages move to ``cur/`` flagged seen, ``.eml`` files move into ``processed/``,
IMAP messages get the ``\\Seen`` flag (and move to ``?processed=FOLDER`` when given). An
mbox file is left as it is.
"""

from __future__ import annotations

import hashlib
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.errors import MailerError


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message in a mailbox."""

    name: str  # for reports: the file, Maildir key or IMAP uid
    data: bytes
    key: str  # hex SHA-256 of the Message-ID (or of the bytes)
    ref: str  # the mailbox's own handle, for ``done``


def message_key(data: bytes) -> str:
    """Hex SHA-256 of the Message-ID header (normalised), else of the whole message."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    for i, line in enumerate(lines):
        if line[:11].lower() == b"message-id:":
            value = line[11:]
            for cont in lines[i + 1:]:
                if cont[:1] not in (b" ", b"\t"):
                    break
                value += cont
            mid = value.strip().strip(b"<>").strip().lower()
            if mid:
                return hashlib.sha256(b"mid:" + mid).hexdigest()
    return hashlib.sha256(b"raw:" + data.replace(b"\r\n", b"\n")).hexdigest()


class Mailbox(Protocol):
    def messages(self) -> Iterator[Inbound]: ...

    def done(self, item: Inbound) -> None: ...

    def close(self) -> None: ...


class MaildirBox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.box = mailbox.Maildir(path, factory=None, create=False)

    def messages(self) -> Iterator[Inbound]:
        for key in sorted(self.box.keys()):
            data = self.box.get_bytes(key)
            yield Inbound(f"{self.path.name}/{key}", data, message_key(data), key)

    def done(self, item: Inbound) -> None:
        # Rename only (the Maildir way to flag): rewriting would change the bytes.
        for sub in ("new", "cur"):
            for file in (self.path / sub).iterdir():
                name, _, info = file.name.partition(":")
                if name != item.ref:
                    continue
                flags = info[2:] if info.startswith("2,") else ""
                if sub == "cur" and "S" in flags:
                    return
                file.rename(self.path / "cur" / f"{name}:2,{''.join(sorted(set(flags + 'S')))}")
                return

    def close(self) -> None:
        self.box.close()


class MboxBox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.box = mailbox.mbox(path, create=False)

    def messages(self) -> Iterator[Inbound]:
        for i, key in enumerate(self.box.keys()):
            data = self.box.get_bytes(key)
            yield Inbound(f"{self.path.name} message {i + 1}", data, message_key(data), str(key))

    def done(self, item: Inbound) -> None:
        pass  # rewriting an mbox another program delivers to risks losing its new mail

    def close(self) -> None:
        self.box.close()


class EmlFolder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> Iterator[Inbound]:
        for file in sorted(self.path.glob("*.eml")):
            data = file.read_bytes()
            yield Inbound(file.name, data, message_key(data), str(file))

    def done(self, item: Inbound) -> None:
        target = self.path / "processed"
        target.mkdir(exist_ok=True)
        src = Path(item.ref)
        if src.exists():
            src.replace(target / src.name)

    def close(self) -> None:
        pass


class ImapBox:
    """An IMAP folder: unseen messages are read; processed ones are flagged (and moved)."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        from imap_tools import MailBox, MailBoxUnencrypted

        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise MailerError(f"{redact(url)}: use imaps://user:password@host/INBOX")
        if not parts.username:
            raise MailerError(f"{redact(url)}: the user name is missing "
                              "(imaps://user:password@host/INBOX)")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.processed = query.get("processed", "")
        cls = MailBox if parts.scheme == "imaps" else MailBoxUnencrypted
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
        try:
            self.box = cls(parts.hostname, port=port, timeout=timeout)
            self.box.login(unquote(parts.username), unquote(parts.password or ""),
                           initial_folder=folder)
        except Exception as exc:  # imap-tools raises many kinds; all mean "cannot read"
            raise MailerError(f"{redact(url)}: cannot log in to the IMAP folder: {exc}") from None

    def messages(self) -> Iterator[Inbound]:
        from imap_tools import AND

        for msg in self.box.fetch(AND(seen=False), mark_seen=False, bulk=50):
            data = msg.obj.as_bytes()
            yield Inbound(f"uid {msg.uid}", data, message_key(data), str(msg.uid))

    def done(self, item: Inbound) -> None:
        from imap_tools import MailMessageFlags

        self.box.flag(item.ref, MailMessageFlags.SEEN, True)
        if self.processed:
            self.box.move(item.ref, self.processed)

    def close(self) -> None:
        try:
            self.box.logout()
        except Exception:  # the session may be gone already; nothing is lost
            pass


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port
                                                              else "")
        return parts._replace(netloc=netloc).geturl()
    return url


def open_mailbox(source: str | Path) -> Mailbox:
    """The mailbox at SOURCE: a Maildir, an mbox file, a folder of .eml files, or IMAP."""
    text = str(source)
    if text.startswith(("imap://", "imaps://")):
        return ImapBox(text)
    path = Path(text)
    try:
        if (path / "cur").is_dir() or (path / "new").is_dir():
            return MaildirBox(path)
        if path.is_dir():
            return EmlFolder(path)
        if path.is_file():
            return MboxBox(path)
    except OSError as exc:
        raise MailerError(f"{path}: cannot read the mailbox: {exc}") from None
    raise MailerError(f"{path}: no such Maildir, mbox file or folder of .eml files "
                      "(or give imaps://user:password@host/INBOX)")
