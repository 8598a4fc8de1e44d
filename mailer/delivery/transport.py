"""The transport seam: ``send`` one prepared message to one recipient, get an Outcome."""

from __future__ import annotations

import enum
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


class Transport(Protocol):
    """Something that delivers messages: the SMTP pool, a Maildir, the catcher."""

    async def send(self, envelope_from: str, rcpt: str, data: bytes) -> Outcome:
        """Deliver ``data`` (CRLF line ends; no line starts with '.') to ``rcpt``."""
        ...

    async def close(self) -> None:
        ...
