"""The delivery loop: claim due outbox rows, personalise, send over N connections, record.

Data flow per row: ``claim_batch`` marks it ``sending`` (one short transaction), a
sender task fills the mailing's byte template and hands it to the transport, and the
outcome joins a group commit that writes every outcome gathered meanwhile in one
transaction. All database work runs on one thread so the event loop keeps sending.

At-least-once window: a message the server accepted (250) whose outcome was not yet
committed when the process died would be sent again after restart. Every outcome is
written to the worker's journal (``delivery.journal``) the moment its reply arrives,
and the next worker on the host settles the dead worker's rows from it, so a group
commit may wait a little for more outcomes to join it (``GROUP_COMMIT_SECONDS``, or a
batch's worth) without widening the window; after SIGKILL only rows whose reply was
not read yet are ambiguous, and ``recover`` re-queues them and reports how many.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.config import Sender, Settings, SmtpUrl, parse_sender
from mailer.delivery.dkim import DkimSigners
from mailer.delivery.journal import Journal, JournalBounce, read_journal, remove_journal
from mailer.delivery.message import Built, HeaderInjection, MessageTemplate, Recipient
from mailer.delivery.oauth import TokenSource, token_source
from mailer.delivery.ratelimit import RateLimiter
from mailer.delivery.signing import SigningProcess, wanted
from mailer.delivery.smtp import SmtpPool, SmtpRouter
from mailer.delivery.transport import Outcome, Result, Transport
from mailer.delivery.verp import Verp
from mailer.delivery.webhooks import WebhookReport, WebhookSender
from mailer.domain.feedback import BounceClass, BouncePolicy, classify_status, status_of
from mailer.domain.sendwindow import SendWindow
from mailer.links import Links
from mailer.store import buckets, mailings, outbox, suppressions, workers
from mailer.store.buckets import Limits
from mailer.store.lists import compact_list_tally
from mailer.store.models import FeedbackEventKind, Mailing, MailingKind, OutboxStatus

T = TypeVar("T")
log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
#: Kinds the workspace's send_window applies to (confirmations and tests go at once).
WINDOWED_KINDS = frozenset({MailingKind.newsletter, MailingKind.invitation,
                            MailingKind.reminder})


def window_text(send_window: str, kind: str, workspace_window: str) -> str:
    """The send window a mailing's copies wait for: its own, else (for the kinds it
    applies to) the workspace's send_window; "" or "off" for none."""
    return send_window or (workspace_window if kind in WINDOWED_KINDS else "")


STOP_GRACE_SECONDS = 1.5  # at a stop, messages on the wire get this long to finish
# A group commit waits this long (or for a batch's worth of outcomes) for more outcomes
# to join it while copies are on the wire; each outcome is in the journal already. A
# commit costs the worker's one CPU a few hundred microseconds of SQLAlchemy and SQLite
# however few rows it writes, and committed at once it wrote 1.3 rows on average in
# benchmarks/send.py.
GROUP_COMMIT_SECONDS = 0.05
# With the DKIM helper process, copies per connection signed ahead of the one on the wire.
SIGN_AHEAD = 3
# A claim costs the worker about 13 ms of CPU however few rows it takes (a handful of
# statements built, compiled from the cache and run, and a commit: benchmarks/send.py's
# profile): at 900 copies a second, claims of 32 rows spent 0.4 ms per copy. Claims
# grow (doubling, up to CLAIM_MAX rows) while a full claim lasts the senders less than
# half of CLAIM_SECONDS and shrink (down to the batch size) when one lasts more than twice
# that, so claimed rows, which a pause, a cancel or an unsubscribe no longer reaches,
# wait in memory about CLAIM_SECONDS at most, whatever the rate.
CLAIM_SECONDS = 0.5
CLAIM_MAX = 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, up to ``max_attempts`` tries in all."""

    max_attempts: int = 8
    base_seconds: float = 60.0
    cap_seconds: float = 6 * 3600.0

    def delay(self, attempts: int) -> float:
        d = min(self.cap_seconds, self.base_seconds * 2.0 ** max(attempts - 1, 0))
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
    nobody: list[int] = field(default_factory=list)  # cancelled at their time: nobody to send to
    finished: list[int] = field(default_factory=list)
    waiting_retries: int = 0  # rows left waiting for a later retry (drain exits anyway)
    bounced: int = 0  # refusals recorded as bounces (hard/soft) during the conversation
    suppressed: int = 0  # addresses suppressed because of them
    policy_refusals: int = 0  # 5.7.x: the receiver refused *us*; sending was slowed down
    deferred: int = 0  # rows moved to the next opening of their mailing's send window
    waiting_rate: int = 0  # rows left for the rate limit (drain exits anyway)
    released: int = 0  # claimed rows given back unsent (a stop, or no server would take them)
    paused: str = ""  # why sending paused: every SMTP server refused us (login, TLS, …)
    seconds: float = 0.0
    webhooks: WebhookReport | None = None  # what the webhook deliveries did (full workers)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def pool_for(settings: Settings, url: SmtpUrl, *, prepared: bool = True,
             tokens: TokenSource | None = None) -> SmtpPool:
    """The SMTP pool of one server in the settings, with its own rate limit."""
    per_second = settings.rate_per_second if url.rate_per_second is None else url.rate_per_second
    per_hour = settings.rate_per_hour if url.rate_per_hour is None else url.rate_per_hour
    return SmtpPool(url, size=settings.smtp_connections,
                    recycle_after=settings.smtp_recycle_after, timeout=settings.smtp_timeout,
                    rate=RateLimiter(per_second, per_hour, key=url.key), prepared=prepared,
                    tokens=tokens, ca_file=settings.smtp_ca_file or None)


def transport_for(settings: Settings) -> SmtpRouter:
    """Every SMTP server the settings list, as one transport (the worker's default)."""
    tokens = token_source(settings)
    return SmtpRouter([(pool_for(settings, u, tokens=tokens), u.weight)
                       for u in settings.smtp_servers],
                      rest_seconds=settings.smtp_rest_seconds,
                      rest_max_seconds=settings.smtp_rest_max_seconds)


class DbBuckets:
    """The rate-limit buckets in the database, reached through the worker's DB thread."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def take(self, key: str, want: int, limits: Limits) -> tuple[int, float]:
        return await self.worker._run_db(
            lambda s: buckets.take(s, key, want, limits, time.time()))

    async def give_back(self, key: str, count: int, limits: Limits) -> None:
        await self.worker._run_db(
            lambda s: buckets.give_back(s, key, count, limits, time.time()))


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
        # Several SMTP servers with shared (database) rate limits: claims are sized by
        # what the limits allow now (``SmtpRouter.reserve``), so no row waits in memory.
        self.router = self.transport if isinstance(self.transport, SmtpRouter) else None
        if self.router is not None:
            self.router.share_limits(DbBuckets(self))
        self.concurrency = concurrency or settings.smtp_connections
        self.batch_size = batch_size or max(32, 8 * self.concurrency)
        if settings.rate_per_second and not batch_size:
            # Claimed rows wait in memory and a pause, cancel or unsubscribe does not reach
            # them: under a rate limit, claim about two seconds' worth, not a minute's.
            self.batch_size = max(1, min(self.batch_size, int(settings.rate_per_second * 2)))
        self._pause_until = 0.0  # time.monotonic(): no server takes mail before then
        self._sending: dict[int, outbox.Claimed] = {}  # rows a sender holds right now
        # rows a sender has taken next (their copies being signed)
        self._ahead: dict[int, deque[tuple[outbox.Claimed, asyncio.Task[Built]]]] = {}
        self.retry = retry or RetryPolicy(max_attempts=settings.max_attempts)
        self.role = role
        self.on_progress = on_progress
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        # VERP: each copy's envelope sender names its outbox row (bounces find their row).
        self.verp = (Verp(settings.bounce_address, settings.signing_keys())
                     if settings.bounce_address else None)
        # DKIM per From domain: a brand's own key, else the workspace's when aligned.
        self.signers = DkimSigners(settings)
        self.signer = self.signers.workspace  # the workspace's (MAILER_DKIM_*), or None
        # Full workers sign in a helper process when they may use a second CPU (started
        # with the first signed mailing); `mailer serve`'s small loop signs inline.
        self.signing: SigningProcess | None = None  # the DKIM helper process, once started
        self._want_signing = (self.kinds is None and bool(self.signers)
                              and wanted(settings.dkim_process))
        self.bounce_policy = BouncePolicy(settings.soft_bounce_limit, settings.soft_bounce_days)
        self._bounces: list[suppressions.BounceFact] = []
        self._hold_until = 0.0  # monotonic time before which senders wait (5.7.x refusals)
        self._policy_streak = 0
        self.links = Links.of(settings)
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
        self._full: asyncio.Future[None] | None = None  # a group commit waiting for rows
        self._low = 0  # the sending loop claims again below this many queued rows
        self._claim_size = self.batch_size  # rows the next claim asks for (see CLAIM_SECONDS)
        self._last_claim: tuple[float, bool] | None = None  # when, and whether it was full
        self._monotonic = time.monotonic  # the claims' clock (tests set their own)
        self._room: asyncio.Event | None = None  # set when the queue fell below it
        self._inflight = 0
        self._registered = False
        # Webhook deliveries ride along in full workers (not in `mailer serve`'s small
        # loop for confirmations, which runs only while no worker does).
        self.webhooks = (WebhookSender(settings, self._run_db) if self.kinds is None
                         else None)
        if self.webhooks is not None:
            self.report.webhooks = self.webhooks.report
        self._windows: dict[str, SendWindow] = {}

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
            self._settle(s, h, now)
        reason = "re-queued: in flight when its worker stopped (may arrive twice)"
        n = outbox.requeue_claims(s, dead, now, reason, self.retry.max_attempts)
        for h in dead:
            remove_journal(self.journal_dir, h)
        workers.remove(s, dead)
        return n

    def _settle(self, s: Session, dead: str, now: datetime) -> None:
        """Apply a dead worker's journal: its rows still in ``sending`` take the outcome
        it read, and a refusal that was a bounce is recorded as the group commit would
        have (``_record_bounces``), so the crash does not lose the suppression."""
        entries = read_journal(self.journal_dir, dead)
        settled = outbox.settle_from_journal(
            s, dead, {i: e.status for i, e in entries.items()}, now,
            replies={i: e.reply for i, e in entries.items() if e.reply})
        self.report.settled_from_journal += len(settled)
        bounced = {i: b for i in settled if (b := entries[i].bounce) is not None}
        rows = suppressions.rows(s, bounced)
        self._record_bounces(s, [
            suppressions.BounceFact(email=r.email, status=bounced[i].status,
                                    bounce_class=bounced[i].bounce_class,
                                    diagnostic=bounced[i].diagnostic, outbox_id=i,
                                    mailing_id=r.mailing_id, source="smtp")
            for i, r in sorted(rows.items())], now)

    def _record_bounces(self, s: Session, facts: list[suppressions.BounceFact],
                        now: datetime) -> None:
        """Record refusals met during the SMTP conversation (group commit and journal).

        A row whose bounce is recorded already is left alone: a DSN for it may have been
        read by ``mailer inbox`` while the row was still ``sending`` (before our commit,
        or while its crashed worker's journal waited to be settled)."""
        for fact in facts:
            if fact.outbox_id is not None and suppressions.has_event(
                    s, FeedbackEventKind.bounce, fact.outbox_id, fact.email):
                continue
            if fact.bounce_class is not BounceClass.policy:
                self.report.bounced += 1
            if suppressions.record_bounce(s, fact, self.bounce_policy, now):
                self.report.suppressed += 1

    def _heartbeat(self, s: Session) -> None:
        workers.heartbeat(s, self.id, utcnow())

    def _unregister(self, s: Session) -> None:
        workers.remove(s, [self.id])

    def _claim(self, limit: int) -> Callable[[Session], list[outbox.Claimed]]:
        def claim(s: Session) -> list[outbox.Claimed]:
            now = self.clock()
            outbox.expire_overdue(s, now, self.kinds)
            due = outbox.due_mailings(s, now, self.kinds)
            if self._apply_windows(s, due, now):  # copies moved: fewer are due now
                due = outbox.due_mailings(s, now, self.kinds)
            return outbox.claim_batch(s, self.id, limit, now, self.kinds, due=due)
        return claim

    def _release(self, ids: list[int], *, later: float = 0.0,
                 reason: str | None = None) -> Callable[[Session], int]:
        def release(s: Session) -> int:
            now = self.clock()
            return outbox.release_claims(s, self.id, ids, now,
                                         now + timedelta(seconds=later), reason)
        return release

    def _apply_windows(self, s: Session, due: Sequence[outbox.DueMailing],
                       now: datetime) -> int:
        """Move the due copies of mailings (``due``) whose send window is closed now to
        its next opening (one UPDATE per such mailing); a mailing with a deadline
        (reminders, invitations) is never moved past it. Returns rows moved."""
        moved = 0
        for m in due:
            text = window_text(m.send_window, m.kind, self.settings.send_window)
            if not text or text == "off":
                continue
            until = self._window(text).due(now, not_after=m.expires_at)
            if until > now:
                moved += outbox.defer(s, m.id, until, now)
        self.report.deferred += moved
        return moved

    def _window(self, text: str) -> SendWindow:
        window = self._windows.get(text)
        if window is None:
            window = self._windows[text] = SendWindow.parse(text, self.settings.timezone)
        return window

    def _next_due(self, s: Session) -> datetime | None:
        return outbox.next_due(s, self.kinds)

    def _load(self, ids: set[int]) -> Callable[[Session], list[Mailing]]:
        def load(s: Session) -> list[Mailing]:
            return mailings.newest_first(s, list(ids))
        return load

    # --- recording ------------------------------------------------------------------
    def _note_refusal(self, c: outbox.Claimed, out: Outcome,
                      final: bool) -> suppressions.BounceFact | None:
        """A 4xx/5xx reply from the receiving side is a bounce: 5.x.x at once, 4.x.x once
        retries are given up. 5.7.x is a policy refusal: never the reader's fault."""
        if out.code is None or not 400 <= out.code < 600:
            return None  # our own refusal (bad header) or no server reply: not a bounce
        text = out.reply
        klass = classify_status(text, text)
        if klass is BounceClass.policy:
            self.throttle_for_policy_refusal(out.reply)
        elif out.result is Result.permanent or final:
            self._policy_streak = 0
        else:
            return None
        if out.result is Result.permanent or final:
            fact = suppressions.BounceFact(
                email=c.email, status=status_of(text, text), bounce_class=klass,
                diagnostic=out.reply[:500], outbox_id=c.id, mailing_id=c.mailing_id,
                source="smtp")
            self._bounces.append(fact)
            return fact
        return None

    def throttle_for_policy_refusal(self, reply: str) -> None:
        """Hook for 5.7.x refusals (reputation, authentication): slow this worker down.

        Every sender waits ``MAILER_POLICY_BACKOFF_SECONDS`` (doubling while refusals go on,
        at most 15 minutes) before its next message. The SMTP pool and its rate limiter
        are the transport's; a transport with a ``throttle(reply)`` method is told too.
        """
        self.report.policy_refusals += 1
        base = self.settings.policy_backoff_seconds
        throttle = getattr(self.transport, "throttle", None)
        if callable(throttle):
            throttle(reply)
        if base <= 0:
            return
        delay = min(900.0, base * 2 ** min(self._policy_streak, 10))
        self._policy_streak += 1
        self._hold_until = max(self._hold_until, time.monotonic() + delay)
        log.warning("policy refusal (%s): sending paused for %.0f s", reply[:200], delay)

    def _journal_outcome(self, record: outbox.Record,
                         fact: suppressions.BounceFact | None) -> None:
        """Make the outcome (and the bounce it was) durable before the group commit."""
        if self._journal is None:
            return
        self._journal.write(
            record.id, record.status.value,
            reply="" if record.status is OutboxStatus.sent else record.reply,
            bounce=None if fact is None else JournalBounce(fact.status, fact.bounce_class,
                                                           fact.diagnostic))

    def _outcome_record(self, c: outbox.Claimed, out: Outcome,
                        mid: str) -> tuple[outbox.Record, suppressions.BounceFact | None]:
        """The row's outcome and the bounce it was, if any (also queued for the commit)."""
        fact = None
        if out.result is not Result.sent and out.result is not Result.unknown:
            fact = self._note_refusal(c, out, final=c.attempts >= self.retry.max_attempts)
        return self._record_of(c, out, mid), fact

    def _record_of(self, c: outbox.Claimed, out: Outcome, mid: str) -> outbox.Record:
        now = self.clock()
        r = self.report
        if out.result is Result.sent:
            self._policy_streak = 0
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
        bounces, self._bounces = self._bounces, []
        loop = asyncio.get_running_loop()
        self._flushing = loop.create_future()

        def record(s: Session) -> None:
            now = self.clock()
            outbox.record_outcomes(s, self.id, batch, now)
            self._record_bounces(s, bounces, now)
        try:
            await self._run_db(record, recording=True)
        finally:
            fut, self._flushing = self._flushing, None
            fut.set_result(None)
        if self.on_progress is not None:
            self.on_progress(self.report)

    async def _flusher(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        while not (stop.is_set() and not self._records):
            await wake.wait()
            wake.clear()
            if self._inflight and not stop.is_set() \
                    and len(self._records) < self.batch_size:
                # Let more outcomes join: until a batch's worth or GROUP_COMMIT_SECONDS.
                loop = asyncio.get_running_loop()
                full = self._full = loop.create_future()
                timer = loop.call_later(GROUP_COMMIT_SECONDS, _settle, full)
                try:
                    await full
                finally:
                    timer.cancel()
                    self._full = None
            await self._flush()

    # --- sending --------------------------------------------------------------------
    async def _server_trouble(self, c: outbox.Claimed, out: Outcome) -> None:
        rest = out.retry_after if out.retry_after is not None else self.settings.smtp_rest_seconds
        rest = max(rest, 0.05)
        if time.monotonic() + rest > self._pause_until:
            self._pause_until = time.monotonic() + rest
        if out.reply != self.report.paused:
            log.error("sending paused for %.0f s: %s", rest, out.reply)
        self.report.paused = out.reply
        self.report.released += await self._run_db(
            self._release([c.id], later=rest, reason=f"not sent yet: {out.reply}"))

    def _sender_of(self, mailing: Mailing) -> Sender:
        """The From a mailing recorded at planning (its brand's), else MAILER_FROM."""
        if mailing.sender:
            try:
                return parse_sender(mailing.sender)
            except ValueError:
                log.warning("mailing %s: From %r is not an address; using MAILER_FROM",
                            mailing.id, mailing.sender)
        return self.settings.sender

    def _build(self, c: outbox.Claimed) -> Coroutine[object, object, Built]:
        return self._templates[c.mailing_id].build_async(
            Recipient(c.id, c.email, c.name, c.subscriber_id, c.list_id, c.organisation,
                      c.fields), self.signing)

    async def _sender(self, queue: asyncio.Queue[outbox.Claimed | None],
                      wake: asyncio.Event) -> None:
        task = id(asyncio.current_task())
        # With the signing process, the next rows' copies are signed there while this one
        # is on the wire: their signatures are ready when this connection is free again,
        # even when the helper's CPU is slow to answer (it is shared with other work).
        ahead: deque[tuple[outbox.Claimed, asyncio.Task[Built]]] = deque()
        self._ahead[task] = ahead
        try:
            while True:
                building: Awaitable[Built]
                if ahead:
                    c, building = ahead.popleft()
                elif (got := await queue.get()) is None:
                    break
                else:
                    c, building = got, self._build(got)
                self._took(queue)
                self._sending[task] = c
                try:
                    built = await building
                except HeaderInjection as exc:
                    out = Outcome(Result.permanent, f"not sent: {exc}")
                else:
                    if self.signing is not None:
                        while len(ahead) < SIGN_AHEAD and not queue.empty():
                            nxt = queue.get_nowait()
                            if nxt is None:  # only stops follow: this sender's comes later
                                queue.put_nowait(None)
                                break
                            ahead.append((nxt, asyncio.ensure_future(self._build(nxt))))
                            self._took(queue)
                    out = await self._send(c, built)
                await self._settle_outcome(c, out, wake)
                self._sending.pop(task, None)
        finally:
            for _, t in ahead:
                t.cancel()

    def _next_claim_size(self) -> int:
        """Rows to claim now: the batch size, grown while full claims go fast (see
        CLAIM_SECONDS); the queue is refilled when a quarter of a claim is left."""
        last, size = self._last_claim, self._claim_size
        if last is not None and last[1]:
            lasted = self._monotonic() - last[0]
            if lasted < CLAIM_SECONDS / 2:
                size = min(size * 2, CLAIM_MAX)
            elif lasted > CLAIM_SECONDS * 2:
                size = max(size // 2, self.batch_size)
        elif last is not None:  # the queue ran dry: start small again
            size = self.batch_size
        self._claim_size = size
        self._low = self._low_for(size)
        return size

    def _low_for(self, claim: int) -> int:
        """Queued rows below which the sending loop claims again: a quarter of a claim,
        at least two per connection and half a batch."""
        return max(self.concurrency * 2, self.batch_size // 2, claim // 4)

    def _took(self, queue: asyncio.Queue[outbox.Claimed | None]) -> None:
        """A sender took a row: wake the sending loop to claim more when few are left."""
        if self._room is not None and queue.qsize() < self._low:
            self._room.set()

    async def _send(self, c: outbox.Claimed, built: Built) -> Outcome:
        """Hand one copy to the transport (after a 5.7.x hold); never raises."""
        hold = self._hold_until - time.monotonic()
        if hold > 0:  # a 5.7.x refusal asked us to slow down
            await asyncio.sleep(hold)
        # Without VERP the envelope sender is the mailing's From (its brand's),
        # so SPF aligns with the From domain as DMARC asks.
        sender = self.verp.address(c.id) if self.verp is not None \
            else self._templates[c.mailing_id].sender.address
        try:
            return await self.transport.send(sender, c.email, built.data)
        except Exception as exc:  # a transport bug must not leave the row claimed
            log.exception("transport failed for outbox row %s", c.id)
            return Outcome(Result.temporary, f"internal error: {exc!r}"[:500])

    async def _settle_outcome(self, c: outbox.Claimed, out: Outcome,
                              wake: asyncio.Event) -> None:
        """Queue the row's outcome for the group commit (journaled first)."""
        if out.server:
            # No server would take it (login refused, every server resting): nothing
            # was delivered. The row goes back without using an attempt and sending
            # pauses, instead of failing every row of the mailing one by one.
            await self._server_trouble(c, out)
            self._inflight -= 1
            return
        if out.result is Result.sent:
            self.report.paused = ""
        mid = self._templates[c.mailing_id].message_id(c.id)
        record, fact = self._outcome_record(c, out, mid)
        self._journal_outcome(record, fact)  # durable before the commit
        self._records.append(record)
        self._inflight -= 1
        wake.set()
        full = self._full
        if full is not None and len(self._records) >= self.batch_size and not full.done():
            full.set_result(None)

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
        self._low = self._low_for(self.batch_size)
        room = self._room = asyncio.Event()
        hooks_stop = asyncio.Event()
        hooks = (asyncio.create_task(self.webhooks.serve(hooks_stop, poll))
                 if self.webhooks is not None and not drain else None)
        try:
            while not stop.is_set():
                if time.monotonic() - beat > HEARTBEAT_SECONDS:
                    beat = time.monotonic()
                    await self._run_db(self._heartbeat)
                    beats += 1
                    # Another worker may have died meanwhile: its claims go back to the
                    # queue within a heartbeat (one cheap query on the 'sending' rows).
                    if beats:
                        self.report.requeued_at_start += await self._run_db(self._recover)
                    # A mailing sent to its end (a confirmation, among others) is done
                    # within a heartbeat, not when the whole queue is: its webhook goes
                    # out, and the claim's per-mailing look-ups stay few.
                    self.report.finished += await self._run_db(
                        lambda s: outbox.finish_mailings(s, self.clock(), self.kinds))
                    # PostgreSQL: the progress tally's rows of the last heartbeat (one
                    # per claim and flush) folded into one per mailing and status.
                    await self._run_db(outbox.compact_tally)
                    # and the lists' tally of subscriptions (one row per sign-up, import
                    # statement, unsubscribe…) into one per list and status.
                    await self._run_db(compact_list_tally)
                if queue.qsize() >= self._low:
                    # Until a sender takes the queue below ``low`` (a timer per 2 ms woke
                    # this loop 500 times a second, whatever the rate).
                    room.clear()
                    try:
                        await asyncio.wait_for(room.wait(), 0.1)
                    except TimeoutError:
                        pass
                    continue
                pause = self._pause_until - time.monotonic()
                if pause > 0:  # no server takes mail now: claim nothing until it ends
                    if self._inflight:
                        await asyncio.sleep(0.005)
                        continue
                    await self._flush()
                    if drain and pause > max_wait:
                        break
                    await self._wait(stop, min(pause, poll))
                    continue
                want = self._next_claim_size()
                if self.router is not None:
                    # Claim only what the rate limits allow now (tokens taken ahead from
                    # the shared buckets): claimed rows never wait long in memory.
                    want = await self.router.reserve(want)
                claimed = await self._run_db(self._claim(want)) if want else []
                self._last_claim = (self._monotonic(), bool(want) and len(claimed) >= want)
                if self.router is not None and len(claimed) < want:
                    self.router.forget(want - len(claimed))
                if claimed:
                    missing = {c.mailing_id for c in claimed} - self._templates.keys()
                    if missing:
                        for m in await self._run_db(self._load(missing)):
                            sender = self._sender_of(m)
                            self._templates[m.id] = MessageTemplate.for_mailing(
                                m, sender=sender, links=self.links,
                                reply_to=m.reply_to if m.sender else self.settings.reply_to,
                                signer=self.signers.for_mailing(m.brand, sender.domain))
                            if self._templates[m.id].signer is not None:
                                await self._start_signing()
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
                if want == 0 and nd is not None and nd <= self.clock():
                    # Due rows wait for the rate limit (or a resting server).
                    assert self.router is not None
                    wait = max(self.router.wait_hint(), 0.0)
                    if drain and wait > max_wait:
                        self.report.waiting_rate = await self._run_db(
                            lambda s: outbox.count_pending(s, self.clock(), self.kinds))
                        break
                    await self._wait(stop, min(max(wait, 0.01), poll))
                    continue
                if self.router is not None:  # idle: unspent tokens go back to the others
                    await self.router.release()
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
            # A stop (SIGTERM, SIGINT) gives back at once what no sender has started, lets
            # messages on the wire finish for STOP_GRACE_SECONDS, then gives back the rest.
            unsent = [c for c in self._empty(queue) if c is not None]
            for _ in senders:
                queue.put_nowait(None)
            _, late = await asyncio.wait(senders, timeout=STOP_GRACE_SECONDS
                                         if stop.is_set() else None)
            cut = [self._sending.pop(id(t)) for t in late if id(t) in self._sending]
            unsent += [c for t in late for c, _ in self._ahead.get(id(t), ())]
            self._ahead.clear()
            for t in late:
                t.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            await self._give_back(unsent, cut)
            flush_stop.set()
            wake.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()
            if hooks is not None:
                hooks_stop.set()
                await asyncio.gather(hooks, return_exceptions=True)
            self.report.seconds += time.perf_counter() - t0
        if drain and self.webhooks is not None:  # after the mail, so mailing.finished goes too
            await self.webhooks.drain(max_wait)  # (not in `seconds`: that is the mail's rate)
        return self.report

    @staticmethod
    def _empty(queue: asyncio.Queue[outbox.Claimed | None]) -> list[outbox.Claimed | None]:
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    @staticmethod
    async def _wait(stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _give_back(self, unsent: list[outbox.Claimed], cut: list[outbox.Claimed]) -> None:
        """Release claimed rows that were not sent (or cut off mid-send) at a stop."""
        if self.router is not None:
            self.router.forget(len(unsent))
        try:
            if unsent:
                self.report.released += await self._run_db(
                    self._release([c.id for c in unsent]))
            if cut:
                self.report.released += await self._run_db(self._release(
                    [c.id for c in cut],
                    reason="given back: the worker stopped while sending it (may arrive twice)"))
            if self.router is not None:
                await self.router.release()
        except Exception:  # the next worker's recovery re-queues them instead
            log.exception("could not give back %d claimed rows", len(unsent) + len(cut))
        self._inflight -= len(unsent) + len(cut)

    async def _start_signing(self) -> None:
        """Start the DKIM signing process (once), or sign inline if it will not start."""
        if not self._want_signing or self.signing is not None:
            return
        self._want_signing = False
        signers = {id(s): s for s in (self.signers.workspace, *self.signers.brands.values())
                   if s is not None}
        try:
            self.signing = await SigningProcess.start(list(signers.values()))
        except (OSError, TimeoutError) as exc:
            log.warning("no DKIM signing process (%s): signing in the worker", exc)

    async def _start_due(self) -> bool:
        """Start scheduled mailings that are due (drain mode has no scheduler)."""
        grace = self.settings.misfire_grace_seconds
        due = await self._run_db(lambda s: mailings.start_due(s, self.clock(), grace,
                                                               tz=self.settings.tz))
        self.report.started += due.started
        self.report.missed += due.missed
        self.report.nobody += due.nobody
        return bool(due.started)

    async def drain(self, max_wait: float = 60.0) -> DeliveryReport:
        """Deliver everything due now, then return (for the demo, cron and tests)."""
        return await self.deliver(drain=True, max_wait=max_wait)

    async def close(self) -> None:
        """Close the transport and sign off (the worker row goes; claims were recorded)."""
        await self.transport.close()
        if self.webhooks is not None:
            await self.webhooks.close()
        if self.signing is not None:
            await self.signing.close()
            self.signing = None
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
