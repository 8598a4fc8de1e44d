"""A per-worker append-only journal of outcomes, written the moment a reply arrives.

The database learns an outcome at the next group commit; this file learns it at once
(one ``write`` to an O_APPEND descriptor, which survives SIGKILL because it sits in
the kernel's page cache). After a crash, the worker that recovers the dead worker's
claims on the same host applies its journal first, so messages the server accepted
are marked sent instead of going out again. Only replies still unread in the socket
at the kill remain ambiguous.

A refusal also carries its reply and, when it is a bounce (``550 5.1.1`` at RCPT), the
bounce's status, class and diagnostic, as one line of JSON after the status: settling
then records the bounce the group commit would have recorded, so a crash between the
reply and the commit does not lose the suppression. The address itself is not written
here; it is read from the outbox row when settling.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mailer.domain.feedback import BounceClass

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def journal_path(folder: Path, worker_id: str) -> Path:
    return folder / (_SAFE.sub("_", worker_id) + ".log")


@dataclass(frozen=True, slots=True)
class JournalBounce:
    """The bounce a refusal was (a ``BounceFact`` without what its outbox row holds)."""

    status: str
    bounce_class: BounceClass
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled outcome: the row's new status, its reply (refusals) and bounce."""

    status: str
    reply: str = ""
    bounce: JournalBounce | None = None


def _line(outbox_id: int, entry: Entry) -> bytes:
    if not entry.reply and entry.bounce is None:
        return f"{outbox_id} {entry.status}\n".encode("ascii")
    extra: dict[str, object] = {"reply": entry.reply}
    if entry.bounce is not None:
        extra["bounce"] = {"status": entry.bounce.status,
                           "class": entry.bounce.bounce_class.value,
                           "diagnostic": entry.bounce.diagnostic}
    # ensure_ascii: one line, whatever the server said (\n and non-ASCII escaped)
    return f"{outbox_id} {entry.status} {json.dumps(extra)}\n".encode("ascii")


def _entry(status: str, extra: str) -> Entry | None:
    if not extra:
        return Entry(status)
    try:
        data = json.loads(extra)
        b = data.get("bounce")
        bounce = (JournalBounce(str(b["status"]), BounceClass(b["class"]),
                                str(b.get("diagnostic", ""))) if b else None)
        return Entry(status, str(data.get("reply", "")), bounce)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # not a line we wrote whole


class Journal:
    """Appends ``"<outbox id> <status>[ <json>]\\n"`` lines for one worker."""

    def __init__(self, folder: Path, worker_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = journal_path(folder, worker_id)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, outbox_id: int, status: str, *, reply: str = "",
              bounce: JournalBounce | None = None) -> None:
        """One ``write`` of one line (O_APPEND: lines of concurrent writes never mix)."""
        os.write(self.fd, _line(outbox_id, Entry(status, reply, bounce)))

    def reset(self) -> None:
        """Forget everything: call only when every journaled outcome is committed."""
        os.ftruncate(self.fd, 0)

    def close(self, *, remove: bool) -> None:
        os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


def read_journal(folder: Path, worker_id: str) -> dict[int, Entry]:
    """The outcomes a (dead) worker wrote: outbox id -> entry (last line wins)."""
    path = journal_path(folder, worker_id)
    out: dict[int, Entry] = {}
    if not path.exists():
        return out
    # Only whole lines count: a torn last one (no newline yet) is ignored.
    for line in path.read_text("ascii", errors="replace").split("\n")[:-1]:
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[0].isdigit():
            entry = _entry(parts[1], parts[2] if len(parts) == 3 else "")
            if entry is not None:
                out[int(parts[0])] = entry
    return out


def remove_journal(folder: Path, worker_id: str) -> None:
    journal_path(folder, worker_id).unlink(missing_ok=True)
