"""The admin's doorway to delivery: mailings, their progress and the worker's health.

Everything here calls the delivery layer's own services (``mailer.services.mailings``);
the pages never change a mailing's state themselves. Until that layer is installed in
this build, ``available()`` is False and the pages say so instead of failing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Any

from mailer.config import Settings
from mailer.errors import MailerError
from mailer.render.sample import sample_message, sample_values
from mailer.render.types import RenderedMailing
from mailer.web.mail import send_mail

MAX_TEST_ADDRESSES = 20


def available() -> bool:
    """True when the delivery layer (mailings, outbox, worker) is part of this build."""
    return importlib.util.find_spec("mailer.services.mailings") is not None


def require_delivery() -> Any:
    if not available():
        raise MailerError("delivery (mailings and the outbox) is not installed in this "
                          "build yet; use the command line when it is")
    import mailer.services.mailings as mailings

    return mailings


def parse_addresses(raw: str) -> list[str]:
    """Up to 20 addresses separated by commas, semicolons, spaces or lines."""
    from mailer.domain.addresses import AddressError, normalise_address

    out: list[str] = []
    bad: list[str] = []
    for part in raw.replace(";", ",").replace("\n", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            address = normalise_address(part).email
        except AddressError:
            bad.append(part.strip())
            continue
        if address not in out:
            out.append(address)
    if bad:
        raise MailerError(f"not e-mail addresses: {', '.join(bad[:5])}")
    if not out:
        raise MailerError("give at least one address to send the test to")
    if len(out) > MAX_TEST_ADDRESSES:
        raise MailerError(f"a test goes to at most {MAX_TEST_ADDRESSES} addresses")
    return out


async def send_test(settings: Settings, rendered: RenderedMailing,
                    addresses: Sequence[str]) -> list[tuple[str, bool]]:
    """Send the sample recipient's copy to each address; (address, sent) per address.

    Integration seam, like ``mailer.web.mail``: a handful of test messages go straight to
    the SMTP server so the editor sees them in seconds, whether or not a worker runs.
    Their links are signed with the preview key: they show the shape, change nothing.
    """
    results = []
    for address in addresses:
        values = {**sample_values(settings.base_url), "email": address, "name": "",
                  "first_name": ""}
        message = sample_message(rendered, settings.sender, values)
        del message["To"]
        message["To"] = formataddr(("", address))
        results.append((address, await send_mail(settings, message)))
    return results


@dataclass(frozen=True, slots=True)
class Planned:
    mailing_id: int
    queued: int
    scheduled_at: datetime | None


def plan_issue(session: Any, rendered: RenderedMailing, *, source: str, name: str,
               list_slugs: Sequence[str], at: datetime | None, now: datetime) -> Planned:
    """Plan the newsletter for its lists, now or at ``at`` (the delivery layer's rules)."""
    mailings = require_delivery()
    mailing, queued = mailings.plan_mailing(session, rendered, kind="newsletter", now=now,
                                            name=name, source=source,
                                            list_slugs=list(list_slugs), at=at)
    return Planned(mailing.id, queued, at)


def progress(session: Any, mailing_ids: Sequence[int] | None = None) -> list[Any]:
    if not available():
        return []
    mailings = require_delivery()
    return list(mailings.progress(session, mailing_ids))


def control(session: Any, mailing_id: int, action: str, now: datetime) -> Any:
    """pause, resume or cancel a mailing through the delivery layer."""
    mailings = require_delivery()
    if action == "pause":
        return mailings.pause(session, mailing_id, now)
    if action == "resume":
        return mailings.resume(session, mailing_id, now)
    if action == "cancel":
        return mailings.cancel(session, mailing_id, now)[0]
    raise MailerError(f"unknown action {action!r}")


def mailing_kind(session: Any, mailing_id: int) -> str:
    mailings = require_delivery()
    return str(mailings.get_mailing(session, mailing_id).kind)


def _folder_name(source: str) -> str:
    """The issue folder a mailing came from: the CLI stores the path it was given
    (``issues/x``, ``/abs/issues/x/issue.yaml``), the admin ``issues/x``."""
    from pathlib import PurePath

    path = PurePath(source or "")
    return path.parent.name if path.name == "issue.yaml" else path.name


def mailings_for_source(session: Any, source: str) -> list[Any]:
    """Progress of the mailings made from one issue folder (``issues/<name>``), newest first."""
    if not available():
        return []
    from sqlalchemy import select

    from mailer.store.models import Mailing

    name = _folder_name(source)
    ids = [mid for mid, src in session.execute(select(Mailing.id, Mailing.source))
           if _folder_name(src) == name]
    return progress(session, ids) if ids else []


def mailings_by_source(session: Any) -> dict[str, list[tuple[int, str]]]:
    """For the issues list: (mailing id, status) per source, newest first."""
    if not available():
        return {}
    from sqlalchemy import select

    from mailer.store.models import Mailing

    out: dict[str, list[tuple[int, str]]] = {}
    for mid, source, status in session.execute(
            select(Mailing.id, Mailing.source, Mailing.status).order_by(Mailing.id.desc())):
        out.setdefault(f"issues/{_folder_name(source)}", []).append((mid, str(status)))
    return out


# --- what the dashboard shows --------------------------------------------------------------
def timeline(session: Any, mailing_id: int, *, buckets: int = 24) -> list[Any]:
    """Messages per state over the mailing's life: cumulative sent, failed and skipped, and
    what was still queued, at ``buckets`` moments from its start to its last change."""
    if not available():
        return []
    from sqlalchemy import func, select

    from mailer.store.models import Mailing, OutboxRow
    from mailer.web.admin.chart import Point

    mailing = session.get(Mailing, mailing_id)
    if mailing is None:
        return []
    rows = session.execute(
        select(OutboxRow.status, func.coalesce(OutboxRow.sent_at, OutboxRow.updated_at))
        .where(OutboxRow.mailing_id == mailing_id)).all()
    if not rows:
        return []
    start = mailing.started_at or mailing.scheduled_at or mailing.created_at
    finals = sorted((when, _group(str(status))) for status, when in rows
                    if _group(str(status)) != "queued" and when is not None)
    end = max([start, *(w for w, _ in finals)])
    total = len(rows)
    span = (end - start) / max(buckets - 1, 1)
    points, i = [], 0
    running = {"sent": 0, "failed": 0, "skipped": 0}
    for b in range(buckets):
        at = end if b == buckets - 1 else start + span * b
        while i < len(finals) and finals[i][0] <= at:
            running[finals[i][1]] += 1
            i += 1
        points.append(Point(at, {**running, "queued": total - sum(running.values())}))
    return points


def _group(status: str) -> str:
    return {"sent": "sent", "failed": "failed", "unknown": "failed",
            "skipped": "skipped"}.get(status, "queued")


@dataclass(frozen=True, slots=True)
class Failure:
    mailing_id: int
    mailing: str
    email: str
    status: str
    attempts: int
    reply: str
    at: datetime


def recent_failures(session: Any, *, limit: int = 10,
                    mailing_id: int | None = None) -> list[Failure]:
    """The latest messages that failed (or are waiting to retry), with the SMTP reply."""
    if not available():
        return []
    from sqlalchemy import select

    from mailer.store.models import Mailing, OutboxRow

    query = (select(OutboxRow, Mailing.name).join(Mailing, Mailing.id == OutboxRow.mailing_id)
             .where(OutboxRow.status.in_(["failed", "unknown", "retry"]))
             .order_by(OutboxRow.updated_at.desc(), OutboxRow.id.desc()).limit(limit))
    if mailing_id is not None:
        query = query.where(OutboxRow.mailing_id == mailing_id)
    return [Failure(row.mailing_id, name, row.email, str(row.status), row.attempts,
                    row.last_reply, row.updated_at) for row, name in session.execute(query)]


@dataclass(frozen=True, slots=True)
class WorkerState:
    id: str
    host: str
    pid: int
    role: str
    heartbeat_at: datetime
    alive: bool


@dataclass
class Health:
    workers: list[WorkerState]
    scheduler: str  # who holds the scheduler lease, or ""
    scheduler_until: datetime | None
    jobs: list[tuple[str, datetime | None]]
    next_due: datetime | None


STALE_AFTER = 120  # seconds without a heartbeat before a worker counts as gone


def health(session: Any, now: datetime) -> Health | None:
    """Workers and their last heartbeat, the scheduler's holder and its next jobs."""
    if not available():
        return None
    from datetime import UTC
    from datetime import datetime as dt

    from sqlalchemy import inspect, select, text

    from mailer.store import models

    workers: list[WorkerState] = []
    if hasattr(models, "Worker"):
        workers = [WorkerState(w.id, w.host, w.pid, w.role, w.heartbeat_at,
                               (now - w.heartbeat_at).total_seconds() < STALE_AFTER)
                   for w in session.scalars(select(models.Worker).order_by(
                       models.Worker.heartbeat_at.desc()).limit(20))]
    holder, until = "", None
    if hasattr(models, "Lock"):
        lock = session.get(models.Lock, "scheduler")
        if lock is not None and lock.expires_at > now:
            holder, until = f"{lock.holder} ({lock.host}, pid {lock.pid})", lock.expires_at
    jobs: list[tuple[str, datetime | None]] = []
    if "apscheduler_jobs" in inspect(session.connection()).get_table_names():
        for job_id, when in session.execute(text(
                "SELECT id, next_run_time FROM apscheduler_jobs "
                "ORDER BY next_run_time LIMIT 10")):
            jobs.append((job_id, dt.fromtimestamp(when, UTC) if when is not None else None))
    next_due = None
    try:
        from mailer.store.outbox import next_due as outbox_next_due

        next_due = outbox_next_due(session)
    except ImportError:
        pass
    return Health(workers, holder, until, jobs, next_due)
