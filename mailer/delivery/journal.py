"""A per-worker append-only journal of outcomes, written the moment a reply arrives.

The database learns an outcome at the next group commit; this file learns it at once
(one ``write`` to an O_APPEND descriptor, which survives SIGKILL because it sits in
the kernel's page cache). After a crash, the worker that recovers the dead worker's
claims on the same host applies its journal first, so messages the server accepted
are marked sent instead of going out again. Only replies still unread in the socket
at the kill remain ambiguous.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def journal_path(folder: Path, worker_id: str) -> Path:
    return folder / (_SAFE.sub("_", worker_id) + ".log")


class Journal:
    """Appends ``"<outbox id> <status>\\n"`` lines for one worker."""

    def __init__(self, folder: Path, worker_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = journal_path(folder, worker_id)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, outbox_id: int, status: str) -> None:
        os.write(self.fd, f"{outbox_id} {status}\n".encode("ascii"))

    def reset(self) -> None:
        """Forget everything: call only when every journaled outcome is committed."""
        os.ftruncate(self.fd, 0)

    def close(self, *, remove: bool) -> None:
        os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


def read_journal(folder: Path, worker_id: str) -> dict[int, str]:
    """The outcomes a (dead) worker wrote: outbox id -> status (last line wins)."""
    path = journal_path(folder, worker_id)
    out: dict[int, str] = {}
    if not path.exists():
        return out
    for line in path.read_text("ascii", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():  # a torn last line is ignored
            out[int(parts[0])] = parts[1]
    return out


def remove_journal(folder: Path, worker_id: str) -> None:
    journal_path(folder, worker_id).unlink(missing_ok=True)
