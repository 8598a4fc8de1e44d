"""``mailer worker``: APScheduler 3 (jobs in the same database) plus the delivery loop.

Jobs hold only a mailing id (``start_mailing``) and are harmless when run twice: the
mailing leaves ``scheduled`` the first time. Scheduled mailings are synced into the
job store every few seconds (with explicit ids and ``replace_existing``), so a mailing
planned by another process (``mailer send --at``) gets its job without any messaging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery.transport import Transport
from mailer.delivery.worker import DeliveryReport, Worker
from mailer.schedule.invitations import worker_pass
from mailer.schedule.lock import SchedulerLock
from mailer.store.db import transaction
from mailer.store.mailings import DueReport, scheduled_times, start_due

log = logging.getLogger(__name__)
SYNC_SECONDS = 1.0
INVITATIONS_SECONDS = 60.0


@dataclass
class _Context:
    engine: Engine
    settings: Settings
    wake: asyncio.Event


_context: _Context | None = None  # set while a worker runs; jobs carry only ids


def start_mailing(mailing_id: int) -> None:
    """The job: start one scheduled mailing (or mark it missed). Idempotent."""
    ctx = _context
    if ctx is None:
        log.warning("job for mailing %s ran outside a worker; ignored", mailing_id)
        return
    with transaction(ctx.engine) as s:
        report = start_due(s, datetime.now(UTC), ctx.settings.misfire_grace_seconds,
                           only=mailing_id)
    _log_due(report)
    ctx.wake.set()


def _log_due(report: DueReport) -> None:
    for mid in report.started:
        log.info("mailing %s started", mid)
    for mid in report.missed:
        log.warning("mailing %s MISSED: its time passed beyond the grace while no worker ran",
                    mid)


def job_id(mailing_id: int) -> str:
    return f"mailing:{mailing_id}:start"


def sync_jobs(scheduler: AsyncIOScheduler, engine: Engine, known: dict[int, datetime]) -> None:
    """Add or move the start job of every scheduled mailing; drop jobs of others."""
    with transaction(engine) as s:
        current = scheduled_times(s)
    for mid, at in current.items():
        if known.get(mid) != at:
            scheduler.add_job(start_mailing, "date", run_date=at, args=[mid], id=job_id(mid),
                              replace_existing=True)
            known[mid] = at
    for mid in set(known) - set(current):
        with contextlib.suppress(Exception):
            scheduler.remove_job(job_id(mid))
        del known[mid]


async def run_worker(engine: Engine, settings: Settings, transport: Transport | None = None,
                     *, stop: asyncio.Event | None = None,
                     worker: Worker | None = None,
                     on_started: Callable[[], None] | None = None,
                     inbox: Callable[[], object] | None = None) -> DeliveryReport:
    """Run scheduler and delivery until ``stop`` is set. Refuses if another holds the lock.

    ``inbox`` (the bounce/complaint mailbox pass, given by the caller when MAILER_INBOX
    is set) runs every ``MAILER_INBOX_INTERVAL_MINUTES`` in a thread.
    """
    global _context
    stop = stop or asyncio.Event()
    worker = worker or Worker(engine, settings, transport, role="scheduler")
    lock = SchedulerLock(engine, worker.id)
    await asyncio.to_thread(lock.acquire)
    if on_started is not None:
        on_started()
    wake = asyncio.Event()
    _context = _Context(engine, settings, wake)
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        job_defaults={"misfire_grace_time": settings.misfire_grace_seconds or None,
                      "coalesce": True, "max_instances": 1},
        timezone=settings.tz,
    )
    try:
        # First: mailings whose time passed while no worker ran (sent or missed).
        with transaction(engine) as s:
            _log_due(start_due(s, datetime.now(UTC), settings.misfire_grace_seconds))
        scheduler.start()
        invitations_at = 0.0  # monotonic time of the last invitation pass
        inbox_at = 0.0
        inbox_task: asyncio.Task[object] | None = None
        known: dict[int, datetime] = {}
        delivery = asyncio.create_task(worker.deliver(drain=False, stop=stop, poll=0.5))
        while not stop.is_set() and not delivery.done():
            await asyncio.to_thread(sync_jobs, scheduler, engine, known)
            if time.monotonic() - invitations_at >= INVITATIONS_SECONDS:
                # Reminders and re-confirmations due now; keeps their jobs in step with
                # issue.yaml (a moved deadline moves them). Harmless when run twice.
                invitations_at = time.monotonic()
                try:
                    await asyncio.to_thread(worker_pass, engine, settings, scheduler=scheduler)
                except Exception:  # one broken invitation must not stop delivery
                    log.exception("invitation pass failed")
                wake.set()
            if inbox is not None and (inbox_task is None or inbox_task.done()) and \
                    time.monotonic() - inbox_at >= settings.inbox_interval_minutes * 60:
                # Bounces and complaints: in the background (an IMAP server may be slow);
                # suppressions apply to rows claimed after it commits.
                if inbox_task is not None and inbox_task.exception() is not None:
                    log.error("inbox pass failed: %s", inbox_task.exception())
                inbox_at = time.monotonic()
                inbox_task = asyncio.create_task(asyncio.to_thread(inbox))
            await asyncio.to_thread(lock.renew)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SYNC_SECONDS)
        stop.set()
        if inbox_task is not None:
            with contextlib.suppress(Exception):
                await inbox_task
        return await delivery
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        _context = None
        await worker.close()
        await asyncio.to_thread(lock.release)
