"""The delivery loop: claim due outbox rows, personalise, send over N connections, record.

Data flow per row: ``claim_batch`` marks it ``sending`` (one short transaction), a
sender task fills the mailing's byte template and hands it to the transport, and the
outcome joins a group commit that writes every outcome gathered meanwhile in one
transaction. All database work runs on one thread so the event loop keeps sending.

At-least-once window: a message the server accepted (250) whose outcome was not yet
committed when the process died is sent again after restart. The window is one group
commit (well under a millisecond on SQLite in WAL mode), so after SIGKILL only the few
rows in ``sending`` are ambiguous; ``recover`` re-queues them and reports how many.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.delivery.journal import Journal, read_journal, remove_journal
from mailer.delivery.message import HeaderInjection, MessageTemplate, Recipient
from mailer.delivery.ratelimit import RateLimiter
from mailer.delivery.smtp import SmtpPool
from mailer.delivery.transport import Outcome, Result, Transport
from mailer.links import Links
from mailer.store import mailings, outbox, workers
from mailer.store.models import Mailing, MailingKind, OutboxStatus
from mailer.tokens import Tokens

T = TypeVar("T")
log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, up to ``max_attempts`` tries in all."""

    max_attempts: int = 8
    base_seconds: float = 60.0
    cap_seconds: float = 6 * 3600.0

    def delay(self, attempts: int) -> float:
        d = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return d * random.uniform(0.5, 1.0)  # jitter: retries of a batch spread out


@dataclass
class DeliveryReport:
    """What one run of the worker did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    skipped: int = 0
    requeued_at_start: int = 0  # in flight when a previous worker died (re-sent)
    settled_from_journal: int = 0  # outcomes of a dead worker recovered from its journal
    started: list[int] = field(default_factory=list)  # scheduled mailings started
    missed: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    waiting_retries: int = 0  # rows left waiting for a later retry (drain exits anyway)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def transport_for(settings: Settings) -> SmtpPool:
    """The SMTP pool the settings describe (the worker's default transport)."""
    return SmtpPool(settings.smtp, size=settings.smtp_connections,
                    recycle_after=settings.smtp_recycle_after, timeout=settings.smtp_timeout,
                    rate=RateLimiter(settings.rate_per_second, settings.rate_per_hour),
                    prepared=True)


class Worker:
    """Delivers due outbox rows. Usable in-process (``await drain()``) or as a service."""

    def __init__(self, engine: Engine, settings: Settings, transport: Transport | None = None,
                 *, concurrency: int | None = None, batch_size: int | None = None,
                 retry: RetryPolicy | None = None, role: str = "worker",
                 on_progress: Callable[[DeliveryReport], None] | None = None,
                 clock: Callable[[], datetime] | None = None,
                 kinds: Collection[MailingKind] | None = None) -> None:
        self.engine = engine
        # Only rows of mailings of these kinds (``mailer serve``'s loop for confirmations
        # and tests); such a worker never starts scheduled mailings.
        self.kinds = frozenset(MailingKind(k) for k in kinds) if kinds is not None else None
        # What "now" is for due times, retries and expiry: real time, or a shifted clock
        # for `worker --drain --now` (dry runs and tests on the seeds' past deadlines).
        # Heartbeats and crash recovery always use real time.
        self.clock = clock or utcnow
        self._crashed = False
        self.settings = settings
        self.transport: Transport = transport or transport_for(settings)
        self.concurrency = concurrency or settings.smtp_connections
        self.batch_size = batch_size or max(32, 8 * self.concurrency)
        if settings.rate_per_second and not batch_size:
            # Claimed rows wait in memory and a pause, cancel or unsubscribe does not reach
            # them: under a rate limit, claim about two seconds' worth, not a minute's.
            self.batch_size = max(1, min(self.batch_size, int(settings.rate_per_second * 2)))
        self.retry = retry or RetryPolicy(max_attempts=settings.max_attempts)
        self.role = role
        self.on_progress = on_progress
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        self.envelope_from = settings.sender.address
        self.links = Links(settings.base_url, Tokens(settings.signing_keys()))
        self.report = DeliveryReport()
        self.journal_dir = settings.workspace / ".mailer-journal"
        self._journal: Journal | None = None
        self._db = ThreadPoolExecutor(1, thread_name_prefix="mailer-db")
        self._pg = engine.dialect.name == "postgresql"
        # SQLite has one writer at a time anyway: a second thread would only queue on its
        # lock. On PostgreSQL outcomes get their own connection and thread.
        self._db_rec = (ThreadPoolExecutor(1, thread_name_prefix="mailer-db-record")
                        if self._pg else self._db)
        self._templates: dict[int, MessageTemplate] = {}
        self._records: list[outbox.Record] = []
        self._flushing: asyncio.Future[None] | None = None
        self._inflight = 0
        self._registered = False

    # --- database thread ------------------------------------------------------------
    async def _run_db(self, fn: Callable[[Session], T], *, recording: bool = False) -> T:
        def job() -> T:
            with Session(self.engine, expire_on_commit=False) as s, s.begin():
                if recording:
                    # The commit need not wait for the WAL flush: a crash of *this* process
                    # loses nothing the server has, and the at-least-once window shrinks to
                    # a round trip. (A crash of the PostgreSQL server itself could lose
                    # the last outcomes: those messages would be sent again.)
                    outbox.relax_commit(s)
                return fn(s)
        # Outcomes have their own thread so a claim never delays the commit of a 250.
        pool = self._db_rec if recording else self._db
        return await asyncio.get_running_loop().run_in_executor(pool, job)

    def _register(self, s: Session) -> int:
        workers.register(s, self.id, host=self.host, pid=os.getpid(), role=self.role,
                         now=utcnow())
        return self._recover(s)

    def _recover(self, s: Session) -> int:
        now = utcnow()
        holders = outbox.claim_holders(s)
        dead = [h for h in holders
                if h != self.id and not workers.is_alive(workers.get(s, h), now, self.host)]
        for h in dead:
            self.report.settled_from_journal += outbox.settle_from_journal(
                s, h, read_journal(self.journal_dir, h), now)
        reason = "re-queued: in flight when its worker stopped (may arrive twice)"
        n = outbox.requeue_claims(s, dead, now, reason, self.retry.max_attempts)
        for h in dead:
            remove_journal(self.journal_dir, h)
        workers.remove(s, dead)
        return n

    def _heartbeat(self, s: Session) -> None:
        workers.heartbeat(s, self.id, utcnow())

    def _unregister(self, s: Session) -> None:
        workers.remove(s, [self.id])

    def _claim(self, s: Session) -> list[outbox.Claimed]:
        return outbox.claim_batch(s, self.id, self.batch_size, self.clock(), self.kinds)

    def _next_due(self, s: Session) -> datetime | None:
        return outbox.next_due(s, self.kinds)

    def _load(self, ids: set[int]) -> Callable[[Session], list[Mailing]]:
        def load(s: Session) -> list[Mailing]:
            return mailings.newest_first(s, list(ids))
        return load

    # --- recording ------------------------------------------------------------------
    def _outcome_record(self, c: outbox.Claimed, out: Outcome, mid: str) -> outbox.Record:
        now = self.clock()
        r = self.report
        if out.result is Result.sent:
            r.sent += 1
            return outbox.Record(c.id, OutboxStatus.sent, out.reply, mid, now, now)
        if out.result is Result.unknown:
            r.unknown += 1
            return outbox.Record(c.id, OutboxStatus.unknown, out.reply, mid, now, None)
        if out.result is Result.temporary and c.attempts < self.retry.max_attempts:
            r.retried += 1
            later = now + timedelta(seconds=self.retry.delay(c.attempts))
            return outbox.Record(c.id, OutboxStatus.retry, out.reply, mid, later, None)
        r.failed += 1
        reply = out.reply if out.result is Result.permanent else (
            f"gave up after {c.attempts} attempts: {out.reply}")
        return outbox.Record(c.id, OutboxStatus.failed, reply[:1000], mid, now, None)

    async def _flush(self) -> None:
        """Group commit: write every outcome gathered so far in one transaction."""
        while self._flushing is not None:
            await self._flushing
        if not self._records:
            return
        batch, self._records = self._records, []
        loop = asyncio.get_running_loop()
        self._flushing = loop.create_future()
        try:
            await self._run_db(lambda s: outbox.record_outcomes(s, self.id, batch, self.clock()),
                               recording=True)
        finally:
            fut, self._flushing = self._flushing, None
            fut.set_result(None)
        if self.on_progress is not None:
            self.on_progress(self.report)

    async def _flusher(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        while not (stop.is_set() and not self._records):
            await wake.wait()
            wake.clear()
            await self._flush()

    # --- sending --------------------------------------------------------------------
    async def _sender(self, queue: asyncio.Queue[outbox.Claimed | None],
                      wake: asyncio.Event) -> None:
        while (c := await queue.get()) is not None:
            tmpl = self._templates[c.mailing_id]
            mid = tmpl.message_id(c.id)
            try:
                built = tmpl.build(Recipient(c.id, c.email, c.name, c.subscriber_id,
                                             c.list_id, c.organisation, c.fields))
            except HeaderInjection as exc:
                out = Outcome(Result.permanent, f"not sent: {exc}")
            else:
                try:
                    out = await self.transport.send(self.envelope_from, c.email, built.data)
                except Exception as exc:  # a transport bug must not leave the row claimed
                    log.exception("transport failed for outbox row %s", c.id)
                    out = Outcome(Result.temporary, f"internal error: {exc!r}"[:500])
            record = self._outcome_record(c, out, mid)
            if self._journal is not None:
                self._journal.write(c.id, record.status.value)  # durable before the commit
            self._records.append(record)
            self._inflight -= 1
            wake.set()

    async def deliver(self, *, drain: bool, stop: asyncio.Event | None = None,
                      max_wait: float = 60.0, poll: float = 1.0) -> DeliveryReport:
        """Send until nothing is due (``drain``) or until ``stop`` is set.

        With ``drain``, rows waiting for a retry due within ``max_wait`` seconds are
        waited for; later ones are left for the next run and counted in the report.
        """
        try:
            return await self._deliver(drain=drain, stop=stop, max_wait=max_wait, poll=poll)
        except BaseException:
            # Outcomes may be in the journal but not committed: keep the journal and the
            # worker row, so the next worker settles them instead of sending them again.
            self._crashed = True
            raise

    async def _deliver(self, *, drain: bool, stop: asyncio.Event | None,
                       max_wait: float, poll: float) -> DeliveryReport:
        stop = stop or asyncio.Event()
        t0 = time.perf_counter()
        if not self._registered:
            self.report.requeued_at_start += await self._run_db(self._register)
            self._registered = True
            try:
                self._journal = Journal(self.journal_dir, self.id)
            except OSError as exc:  # read-only workspace: work on, with a wider window
                log.warning("no outcome journal in %s: %s", self.journal_dir, exc)
        queue: asyncio.Queue[outbox.Claimed | None] = asyncio.Queue()
        wake = asyncio.Event()
        flush_stop = asyncio.Event()
        senders = [asyncio.create_task(self._sender(queue, wake))
                   for _ in range(self.concurrency)]
        flusher = asyncio.create_task(self._flusher(wake, flush_stop))
        beat, beats = time.monotonic(), 0
        low = max(self.concurrency * 2, self.batch_size // 2)
        try:
            while not stop.is_set():
                if time.monotonic() - beat > HEARTBEAT_SECONDS:
                    beat = time.monotonic()
                    await self._run_db(self._heartbeat)
                    beats += 1
                    if beats % 6 == 0:  # another worker may have died meanwhile
                        self.report.requeued_at_start += await self._run_db(self._recover)
                if queue.qsize() >= low:
                    await asyncio.sleep(0.002)
                    continue
                claimed = await self._run_db(self._claim)
                if claimed:
                    missing = {c.mailing_id for c in claimed} - self._templates.keys()
                    if missing:
                        for m in await self._run_db(self._load(missing)):
                            self._templates[m.id] = MessageTemplate.for_mailing(
                                m, sender=self.settings.sender, links=self.links,
                                reply_to=self.settings.reply_to)
                    self._inflight += len(claimed)
                    for c in claimed:
                        queue.put_nowait(c)
                    continue
                if self._inflight:
                    await asyncio.sleep(0.005)
                    continue
                await self._flush()
                if self._journal is not None:  # all committed: keep the journal short
                    self._journal.reset()
                self.report.finished += await self._run_db(
                    lambda s: outbox.finish_mailings(s, self.clock(), self.kinds))
                if drain and self.kinds is None and await self._start_due():
                    continue
                nd = await self._run_db(self._next_due)
                wait = poll if nd is None else max(0.0, (nd - self.clock()).total_seconds())
                if drain:
                    if nd is None:
                        break
                    if wait > max_wait:
                        self.report.waiting_retries = await self._run_db(outbox.count_retries)
                        break
                try:
                    await asyncio.wait_for(stop.wait(), timeout=min(wait, poll) + 0.01)
                except TimeoutError:
                    pass
        finally:
            for _ in senders:
                queue.put_nowait(None)
            await asyncio.gather(*senders, return_exceptions=True)
            flush_stop.set()
            wake.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()
            self.report.seconds += time.perf_counter() - t0
        return self.report

    async def _start_due(self) -> bool:
        """Start scheduled mailings that are due (drain mode has no scheduler)."""
        grace = self.settings.misfire_grace_seconds
        due = await self._run_db(lambda s: mailings.start_due(s, self.clock(), grace))
        self.report.started += due.started
        self.report.missed += due.missed
        return bool(due.started)

    async def drain(self, max_wait: float = 60.0) -> DeliveryReport:
        """Deliver everything due now, then return (for the demo, cron and tests)."""
        return await self.deliver(drain=True, max_wait=max_wait)

    async def close(self) -> None:
        """Close the transport and sign off (the worker row goes; claims were recorded)."""
        await self.transport.close()
        if self._crashed:  # leave journal and worker row for the next worker's recovery
            self._db.shutdown(wait=True)
            if self._db_rec is not self._db:
                self._db_rec.shutdown(wait=True)
            return
        if self._journal is not None:  # every outcome is committed: the journal is done
            self._journal.close(remove=True)
            self._journal = None
        if self._registered:
            await self._run_db(self._unregister)
            self._registered = False
        self._db.shutdown(wait=True)
        if self._db_rec is not self._db:
            self._db_rec.shutdown(wait=True)

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def deliver_due(engine: Engine, settings: Settings, transport: Transport | None = None, *,
                concurrency: int | None = None, retry: RetryPolicy | None = None,
                on_progress: Callable[[DeliveryReport], None] | None = None,
                clock: Callable[[], datetime] | None = None) -> DeliveryReport:
    """Synchronous helper: drain the outbox once in a fresh event loop."""
    async def run() -> DeliveryReport:
        async with Worker(engine, settings, transport, concurrency=concurrency, retry=retry,
                          on_progress=on_progress, clock=clock) as w:
            return await w.drain()
    return asyncio.run(run())
