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
from mailer.schedule.lock import RENEW_SECONDS, STANDBY_SECONDS, SchedulerBusy, SchedulerLock
from mailer.store import workers
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
                           only=mailing_id, tz=ctx.settings.tz)
    _log_due(report)
    ctx.wake.set()


def _log_due(report: DueReport) -> None:
    for mid in report.started:
        log.info("mailing %s started", mid)
    for mid in report.missed:
        log.warning("mailing %s MISSED: its time passed beyond the grace while no worker ran",
                    mid)
    for mid in report.nobody:
        log.warning("mailing %s cancelled at its time: nobody to send to", mid)


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
                     inbox: Callable[[], object] | None = None,
                     on_role: Callable[[str], None] | None = None) -> DeliveryReport:
    """Deliver until ``stop`` is set, and run the scheduler while holding its lock.

    Every worker delivers outbox rows at once. One of them holds the scheduler lock and
    starts scheduled mailings, reminders and re-confirmations; the others wait in
    standby, trying the lock every ``STANDBY_SECONDS``, and one takes over when the
    holder dies (PostgreSQL frees its advisory lock with its connection; an SQLite lease
    ends when the holder's process is gone or it stops renewing for ``LEASE_SECONDS``).
    A leader that loses its lease goes back to standby. ``on_started`` is called once
    delivery runs, ``on_role`` with "scheduler" or "standby" each time that changes.
    ``inbox`` (the bounce/complaint mailbox pass, given by the caller when MAILER_INBOX
    is set) runs on the scheduler's holder every ``MAILER_INBOX_INTERVAL_MINUTES``, in a
    thread.
    """
    stop = stop or asyncio.Event()
    worker = worker or Worker(engine, settings, transport, role="scheduler")
    lock = SchedulerLock(engine, worker.id)
    worker.role = STANDBY
    delivery = asyncio.create_task(worker.deliver(drain=False, stop=stop, poll=0.5))
    if on_started is not None:
        on_started()
    said_standby = False
    try:
        while not stop.is_set() and not delivery.done():
            if await asyncio.to_thread(lock.try_acquire):
                said_standby = False
                await asyncio.to_thread(_set_role, engine, worker, LEADER)
                log.info("worker %s runs the scheduler", worker.id)
                if on_role is not None:
                    on_role(LEADER)
                await _lead(engine, settings, lock, stop, delivery, inbox)
                if not stop.is_set() and not delivery.done():
                    await asyncio.to_thread(_set_role, engine, worker, STANDBY)
                continue
            if not said_standby:
                log.info("worker %s in standby: another worker runs the scheduler; "
                         "delivering meanwhile", worker.id)
                said_standby = True
                if on_role is not None:
                    on_role(STANDBY)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STANDBY_SECONDS)
        stop.set()
        return await delivery
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await delivery
        # Cancelled while a try_acquire ran in its thread, the lock may be held without
        # _lead ever starting: give it up (harmless when it is not held).
        with contextlib.suppress(Exception):
            await asyncio.to_thread(lock.release)
        await worker.close()


LEADER, STANDBY = "scheduler", "standby"


def _set_role(engine: Engine, worker: Worker, role: str) -> None:
    worker.role = role
    with transaction(engine) as s:
        workers.set_role(s, worker.id, role)


async def _lead(engine: Engine, settings: Settings, lock: SchedulerLock, stop: asyncio.Event,
                delivery: asyncio.Task[DeliveryReport],
                inbox: Callable[[], object] | None = None) -> None:
    """Run the scheduler while this worker holds the lock; return when ``stop`` is set,
    delivery ended, or the lease was lost. Always releases the lock."""
    global _context
    wake = asyncio.Event()
    _context = _Context(engine, settings, wake)
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        job_defaults={"misfire_grace_time": settings.misfire_grace_seconds or None,
                      "coalesce": True, "max_instances": 1},
        timezone=settings.tz,
    )
    lost, ending = asyncio.Event(), asyncio.Event()
    renewer = asyncio.create_task(_renew(lock, ending, lost))
    inbox_task: asyncio.Task[object] | None = None
    try:
        # First: mailings whose time passed while no scheduler ran (sent or missed).
        with transaction(engine) as s:
            _log_due(start_due(s, datetime.now(UTC), settings.misfire_grace_seconds,
                               tz=settings.tz))
        scheduler.start()
        invitations_at = 0.0  # monotonic time of the last invitation pass
        inbox_at = 0.0
        known: dict[int, datetime] = {}
        while not stop.is_set() and not lost.is_set() and not delivery.done():
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SYNC_SECONDS)
    finally:
        if inbox_task is not None:
            with contextlib.suppress(Exception):
                await inbox_task
        # Let a renew under way finish rather than cancel its task: cancelling would not
        # stop its thread, which would go on using the lock's connection while the
        # release below unlocks and closes it.
        ending.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await renewer
        if scheduler.running:
            scheduler.shutdown(wait=False)
        _context = None
        if not lost.is_set():
            await asyncio.to_thread(lock.release)


async def _renew(lock: SchedulerLock, ending: asyncio.Event, lost: asyncio.Event) -> None:
    """Keep the lease alive on its own beat, whatever the scheduler loop is doing, until
    ``ending`` is set (then return between renewals, never during one)."""
    while not ending.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ending.wait(), RENEW_SECONDS)
        if ending.is_set():
            return
        try:
            await asyncio.to_thread(lock.renew)
        except SchedulerBusy as exc:
            log.warning("%s; back to standby", exc)
            lost.set()
            return
        except Exception:  # the database is away for a moment: try again
            log.exception("could not renew the scheduler lease")
