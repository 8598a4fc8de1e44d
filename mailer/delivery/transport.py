"""The transport seam: ``send`` one prepared message to one recipient, get an Outcome."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Protocol


class Result(enum.StrEnum):
    sent = "sent"
    temporary = "temporary"  # 4xx, 552, dropped connection, refused connect: retry later
    permanent = "permanent"  # 5xx: never retried
    unknown = "unknown"  # no reply after the final "." of DATA: may have arrived


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message; ``reply`` is the server's words (or ours)."""

    result: Result
    reply: str = ""
    code: int | None = None
    # The server, not this recipient, is the trouble (refused connection or login, TLS,
    # 421, throttling): nothing was delivered, the row goes back without using an
    # attempt, and sending pauses for ``retry_after`` seconds (or the worker's default).
    server: bool = False
    retry_after: float | None = None


def classify(code: int, message: str) -> Outcome:
    """An SMTP reply code as an Outcome.

    RFC 5321 4.5.3.1.10: 552 (storage exceeded) on RCPT is to be treated as temporary
    by clients, as Mailman's ``mta/deliver.py`` does too.
    """
    reply = f"{code} {message}".strip()[:1000]
    if 200 <= code < 300:
        return Outcome(Result.sent, reply, code)
    if 400 <= code < 500 or code == 552:
        return Outcome(Result.temporary, reply, code)
    if 500 <= code < 600:
        return Outcome(Result.permanent, reply, code)
    return Outcome(Result.temporary, f"unexpected reply {reply}", code)


# Replies that mean "this server will not take mail from us now", not "this recipient":
# 421 (closing), throttling and quotas (Microsoft 365 "4.7.x/5.2.0 …Quota…", Gmail
# "4.7.28 … rate limited", "5.4.5 Daily sending quota exceeded"), sending blocked for
# the tenant (5.7.705/5.7.708/5.7.750), "authentication required" (530, 5.7.57).
_THROTTLE_WORDS = re.compile(
    r"throttl|rate.?limit|too many (messages|connections|mails|emails|sessions)"
    r"|quota|sending limit|exceeded", re.I)
_SERVER_CODES = re.compile(r"\b(5\.7\.(57|705|708|750)|4\.7\.28|5\.4\.5)\b")

_MAILBOX = re.compile(r"\b[45]\.2\.2\b|mailbox", re.I)


def server_trouble(code: int, message: str) -> bool:
    """Whether a reply is about the server's willingness to take our mail at all."""
    if code in (421, 530):
        return True
    if code < 400 or _MAILBOX.search(message):  # a full mailbox is the recipient's
        return False
    return bool(_SERVER_CODES.search(message) or _THROTTLE_WORDS.search(message))


class Transport(Protocol):
    """Something that delivers messages: the SMTP pool, a Maildir, the catcher."""

    async def send(self, envelope_from: str, rcpt: str, data: bytes) -> Outcome:
        """Deliver ``data`` (CRLF line ends; no line starts with '.') to ``rcpt``."""
        ...

    async def close(self) -> None:
        ...
