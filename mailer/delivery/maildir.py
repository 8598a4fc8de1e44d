"""A transport that writes each message into a Maildir (development, archives, the catcher)."""

from __future__ import annotations

import mailbox
from pathlib import Path

from mailer.delivery.transport import Outcome, Result


class MaildirTransport:
    """Delivers into ``path`` (created if missing); every message gets its own file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.box = mailbox.Maildir(self.path, create=True)

    async def send(self, envelope_from: str, rcpt: str, data: bytes) -> Outcome:
        # Return-Path/Delivered-To as a local MDA would add them, so the envelope survives.
        head = (f"Return-Path: <{envelope_from}>\r\nDelivered-To: {rcpt}\r\n").encode()
        try:
            key = self.box.add(head + data)
        except OSError as exc:
            return Outcome(Result.temporary, f"cannot write to {self.path}: {exc}")
        return Outcome(Result.sent, f"250 stored as {key}", 250)

    async def close(self) -> None:
        return None
