"""Why a message was not delivered: one short reason per skipped, failed or unknown copy.

The outbox keeps the exact text (``last_reply``: the SMTP reply or the reason we did not
send); reports group copies by the reason a person acts on. Pure: no database, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.domain.findings import Msg, msg

#: reason key -> the words reports show (English; the admin translates through Babel).
LABELS = {
    "expired": "expired before delivery (the deadline passed)",
    "unsubscribed": "unsubscribed after planning",
    "cancelled": "the mailing was cancelled",
    "missed": "the mailing was missed (no worker ran in time)",
    "suppressed": "suppressed address",
    "erased": "the person was erased",
    "refused": "refused by the server",
    "gave_up": "gave up after retries",
    "unknown": "outcome unknown (timeout after the message was handed over)",
    "not_sendable": "could not be built (bad address or header)",
    "other": "other",
}

_SMTP_CODE = re.compile(r"^\s*([45]\d\d)\b")

#: A mailing's note (why it waits or stopped), as (singular, plural) formats: it is stored
#: in English (``mailer mailings``, the API); ``note_message`` gives the admin a message
#: to show in the reader's language.
NOTE_PAUSED = ("paused while %(status)s", None)
NOTE_CANCELLED = ("cancelled; %(n)s message not sent", "cancelled; %(n)s messages not sent")
#: ``due``: its time in the workspace's time zone, "2020-06-01 08:00 (Europe/Stockholm)".
NOTE_MISSED = ("missed: due %(due)s, no worker ran until %(late)s s later (grace "
               "%(grace)s s); %(n)s message not sent. Plan it again to send it.",
               "missed: due %(due)s, no worker ran until %(late)s s later (grace "
               "%(grace)s s); %(n)s messages not sent. Plan it again to send it.")
#: As notes were stored before they named the local time (still shown translated).
_NOTE_MISSED_UTC = ("missed: due %(due)s UTC, no worker ran until %(late)s s later (grace "
                    "%(grace)s s); %(n)s message not sent. Plan it again to send it.",
                    "missed: due %(due)s UTC, no worker ran until %(late)s s later (grace "
                    "%(grace)s s); %(n)s messages not sent. Plan it again to send it.")
NOTE_NOBODY = ("cancelled at its time: nobody to send to (no one on its lists could get it). "
               "Add subscribers, then plan it again", None)
_NOTES = (NOTE_PAUSED, NOTE_CANCELLED, _NOTE_MISSED_UTC, NOTE_MISSED, NOTE_NOBODY)


def note(formats: tuple[str, str | None], **params: object) -> str:
    """A mailing's note as stored: ``formats`` (one of the ``NOTE_`` pairs) in English."""
    return str(note_msg(formats, {k: str(v) for k, v in params.items()}))


def note_msg(formats: tuple[str, str | None], params: dict[str, str]) -> Msg:
    n = int(params["n"]) if params.get("n", "").isdigit() else 1
    shown: dict[str, object] = dict(params)
    if "status" in shown:  # a state word: translated with the message
        shown["status"] = msg(params["status"])
    return Msg(formats[0], shown, formats[1], n)


def note_message(text: str) -> str:
    """A stored note as a translatable message (its English text when it is none of the
    ``NOTE_`` formats, e.g. one from before they existed)."""
    for formats in _NOTES:
        for fmt in (f for f in formats if f):
            pattern = re.escape(fmt).replace(re.escape("%(status)s"), "(?P<status>[a-z]+)")
            for key in ("n", "due", "late", "grace"):
                pattern = pattern.replace(re.escape(f"%({key})s"), f"(?P<{key}>.+?)")
            found = re.fullmatch(pattern, text or "")
            if found:
                return note_msg(formats, found.groupdict())
    return text


def reason_of(status: str, reply: str) -> str:
    """The reason key of one copy from its outbox status and ``last_reply``."""
    text = (reply or "").lower()
    if status == "unknown":
        return "unknown"
    if status == "skipped":
        for key, needle in (("expired", "expired"), ("unsubscribed", "unsubscribed"),
                            ("cancelled", "cancelled"), ("missed", "missed"),
                            ("suppressed", "suppress"), ("erased", "erase")):
            if needle in text:
                return key
        return "other"
    if text.startswith("gave up"):
        return "gave_up"
    if _SMTP_CODE.match(text):
        return "refused"
    if text.startswith("not sent"):
        return "not_sendable"
    return "other"


@dataclass(frozen=True, slots=True)
class Reason:
    """Copies of one mailing with one status and reason, and an example of the exact text."""

    status: str  # skipped, failed or unknown
    key: str
    count: int
    example: str  # one exact reply (e.g. "550 5.1.1 no such user"), for the curious

    @property
    def label(self) -> str:
        return LABELS.get(self.key, self.key)

    def __str__(self) -> str:
        code = _SMTP_CODE.match(self.example or "")
        extra = f" ({code.group(1)})" if self.key == "refused" and code else ""
        return f"{self.status} {self.count}: {self.label}{extra}"


def group_reasons(rows: list[tuple[str, str, int]]) -> list[Reason]:
    """(status, reply, count) rows -> one Reason per status and reason, largest first."""
    grouped: dict[tuple[str, str], tuple[int, str]] = {}
    for status, reply, n in rows:
        key = (status, reason_of(status, reply))
        count, example = grouped.get(key, (0, reply))
        grouped[key] = (count + n, example)
    out = [Reason(s, k, n, example[:200]) for (s, k), (n, example) in grouped.items()]
    return sorted(out, key=lambda r: (-r.count, r.status, r.key))
