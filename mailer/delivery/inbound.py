"""Unsubscribe requests that arrive by e-mail (the mailto: form of List-Unsubscribe).

Every list message offers ``mailto:<sender>?subject=unsubscribe <token>`` beside the
one-click HTTPS link (RFC 2369/8058). Mail clients that use the mailto form send a
message to our sender address; ``process_requests`` reads such messages from a Maildir,
an mbox file or .eml files (wherever the sender's mailbox is delivered) and applies each
signed token exactly as the web's one-click POST does.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Engine

from mailer.errors import MailerError
from mailer.store.db import transaction
from mailer.store.subscriptions import unsubscribe_by_token
from mailer.tokens import BadToken, Purpose, Tokens

TOKEN_RE = re.compile(r"\bunsubscribe\s+(\S+)", re.IGNORECASE)


@dataclass
class InboundReport:
    read: int = 0
    unsubscribed: int = 0  # subscriptions ended
    already: int = 0  # valid token, nothing left to end
    ignored: list[str] = field(default_factory=list)  # why a message was not a request


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)  # what the default policy builds
    return msg


def _messages(path: Path) -> Iterator[tuple[str, EmailMessage]]:
    if (path / "cur").is_dir() or (path / "new").is_dir():
        for key, kept in mailbox.Maildir(path, factory=None, create=False).items():
            yield key, _parse(bytes(kept))
    elif path.is_dir():
        for file in sorted(path.glob("*.eml")):
            yield file.name, _parse(file.read_bytes())
    elif path.is_file():
        for i, stored in enumerate(mailbox.mbox(path, create=False)):
            yield f"message {i + 1}", _parse(bytes(stored))
    else:
        raise MailerError(f"{path}: no such Maildir, mbox file or folder of .eml files")


def process_requests(engine: Engine, tokens: Tokens, path: Path, *, now: datetime,
                     ip: str | None = None) -> InboundReport:
    """Apply every unsubscribe request in the mailbox at ``path``; safe to run again."""
    report = InboundReport()
    for name, msg in _messages(Path(path)):
        report.read += 1
        match = TOKEN_RE.search(str(msg.get("Subject", "")))
        if match is None:
            report.ignored.append(f"{name}: subject is not 'unsubscribe <token>'")
            continue
        try:
            data = tokens.read(Purpose.unsubscribe, match.group(1).strip("<>"))
        except BadToken:
            report.ignored.append(f"{name}: the token is not one of ours (tampered or old key)")
            continue
        with transaction(engine) as session:
            n = unsubscribe_by_token(session, data.subscriber_id, data.scope_id, now=now,
                                     ip=ip, source=f"mailto:{msg.get('From', '')}"[:200])
        if n:
            report.unsubscribed += n
        else:
            report.already += 1
    return report
