"""``mailer serve``'s own delivery loop for confirmations and tests, while no worker runs.

A confirmation should arrive within seconds of the click, also on a small site that runs
only ``mailer serve``. So the web process delivers the transactional kinds itself, through
the same outbox, ``Worker`` and SMTP pool as everything else, whenever no live ``mailer
worker`` (any role but ``serve``; heartbeat-based) serves the database. When one starts,
the loop stops after the rows in its hands and leaves the outbox to it; when it stops, the
loop takes over again. Newsletters, invitations and reminders are never sent from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery.transport import Transport
from mailer.delivery.worker import Worker, transport_for, utcnow
from mailer.store import workers
from mailer.store.db import reading
from mailer.store.models.delivery import TRANSACTIONAL

log = logging.getLogger(__name__)

ROLE = "serve"


def worker_running(engine: Engine) -> bool:
    """Whether a live ``mailer worker`` (not another web process's loop) serves ``engine``."""
    with reading(engine) as s:  # asked every 2 s: never waits for the write lock
        return workers.any_alive(s, utcnow(), socket.gethostname(), except_roles=(ROLE,))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def deliver_in_process(engine: Engine, settings: Settings, stop: asyncio.Event, *,
                             transport: Callable[[], Transport] | None = None,
                             poll: float = 1.0, check_every: float = 2.0) -> None:
    """Deliver due confirmation and test rows until ``stop`` is set (see the module doc).

    ``poll`` is how often an idle loop looks for new rows; ``check_every`` how often it
    looks for a worker that would take over.
    """
    make = transport or (lambda: transport_for(settings))
    while not stop.is_set():
        try:
            if await asyncio.to_thread(worker_running, engine):
                await _wait(stop, check_every)
                continue
            worker = Worker(engine, settings, make(), kinds=TRANSACTIONAL, role=ROLE)
            pause = asyncio.Event()
            task = asyncio.create_task(worker.deliver(drain=False, stop=pause, poll=poll))
            try:
                while not stop.is_set() and not task.done():
                    await _wait(stop, check_every)
                    if await asyncio.to_thread(worker_running, engine):
                        log.info("a worker runs: it delivers confirmations from now on")
                        break
            finally:
                pause.set()
                try:
                    await task
                finally:
                    await worker.close()
        except Exception:  # the web keeps serving; the rows wait in the outbox
            log.exception("in-process delivery failed; trying again")
            await _wait(stop, check_every)
