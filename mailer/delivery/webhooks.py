"""Posting webhook deliveries: signed as the Standard Webhooks spec says, in order per key.

The worker claims due deliveries (``store.webhooks.claim_due`` leases them), POSTs each
one's JSON body with the ``webhook-id`` (the event's stable id: receivers de-duplicate on
it), ``webhook-timestamp`` and ``webhook-signature`` headers, and records the answer.
Anything but a 2xx within ``MAILER_WEBHOOK_TIMEOUT`` is a failure, retried with
exponential backoff; an endpoint whose every attempt failed for
``MAILER_WEBHOOK_DISABLE_AFTER_DAYS`` is disabled with a warning and keeps its events.
Delivered events, with their deliveries and attempts, are deleted
``MAILER_WEBHOOK_KEEP_DAYS`` after delivery (once an hour, in batches; ``prune``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from mailer.config import Settings
from mailer.store import webhooks as store

T = TypeVar("T")
log = logging.getLogger(__name__)
USER_AGENT = "mailer-webhooks/1"

RunDb = Callable[[Callable[[Session], T]], Awaitable[T]]
PRUNE_SECONDS = 3600.0  # how often a worker deletes what MAILER_WEBHOOK_KEEP_DAYS let go
PRUNE_BATCH = 5000  # deliveries per transaction (a short write lock on SQLite)


def utcnow() -> datetime:
    return datetime.now(UTC)


def body(event_type: str, created_at: datetime, payload: dict[str, Any]) -> str:
    """The JSON a receiver gets; the same bytes on every retry (the spec's envelope)."""
    return json.dumps({"type": event_type,
                       "timestamp": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                       "data": payload}, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signed_headers(secret: str, event_id: str, data: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt at ``at``."""
    return {"webhook-id": event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, at, data)}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter; no attempt limit: a delivery waits for its endpoint
    (which is disabled after failing for days) rather than being dropped."""

    base_seconds: float
    cap_seconds: float

    def delay(self, attempts: int) -> float:
        d: float = min(self.cap_seconds, self.base_seconds * 2.0 ** max(attempts - 1, 0))
        return d * random.uniform(0.75, 1.0)


@dataclass
class WebhookReport:
    delivered: int = 0
    failed_attempts: int = 0
    disabled: list[int] | None = None  # endpoints disabled in this run
    waiting: int = 0  # deliveries left for a later retry when a drain stopped


class WebhookSender:
    """POSTs due deliveries; the database work goes through the worker's ``run_db``."""

    def __init__(self, settings: Settings, run_db: RunDb[Any],
                 client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.run_db = run_db
        self.backoff = Backoff(settings.webhook_retry_base_seconds,
                               settings.webhook_retry_cap_seconds)
        self.lease = timedelta(seconds=3 * settings.webhook_timeout + 30)
        self.disable_after = timedelta(days=settings.webhook_disable_after_days)
        self.report = WebhookReport(disabled=[])
        self._client = client
        self._pruned_at: float | None = None  # monotonic time of the last prune

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout, follow_redirects=False,
                headers={"user-agent": USER_AGENT})
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post(self, c: store.Claimed) -> store.Attempt:
        data = body(c.type, c.created_at, c.payload)
        t0 = time.perf_counter()
        status: int | None = None
        error = ""
        try:
            headers = signed_headers(c.secret, c.event_id, data, utcnow())
            headers["content-type"] = "application/json"
            resp = await self._http().post(c.url, content=data.encode(), headers=headers)
            status = resp.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        except Exception as exc:  # a bad secret or URL fails this delivery, not the worker
            log.exception("webhook delivery %s failed", c.id)
            error = f"internal error: {exc!r}"[:500]
        ms = int((time.perf_counter() - t0) * 1000)
        ok = status is not None and 200 <= status < 300
        retry_at = utcnow() + timedelta(seconds=self.backoff.delay(c.attempts))
        return store.Attempt(c.id, c.endpoint_id, ok, status, error, ms, retry_at)

    def _recorder(self, attempts: list[store.Attempt]) -> Callable[[Session], list[int]]:
        def rec(s: Session) -> list[int]:
            return [ep.id for ep in store.record(s, attempts, utcnow(), self.disable_after)]
        return rec

    async def run_due(self) -> int:
        """Deliver everything due now (batch after batch); returns how many attempts."""
        n = 0
        limit = self.settings.webhook_concurrency
        while True:
            claimed: list[store.Claimed] = await self.run_db(
                lambda s: store.claim_due(s, utcnow(), limit, self.lease))
            if not claimed:
                return n
            attempts = await asyncio.gather(*(self._post(c) for c in claimed))
            disabled: list[int] = await self.run_db(self._recorder(attempts))
            for eid in disabled:
                log.warning("webhook endpoint %s disabled: every attempt failed for %s days",
                            eid, self.settings.webhook_disable_after_days)
            assert self.report.disabled is not None
            self.report.disabled += disabled
            self.report.delivered += sum(a.ok for a in attempts)
            self.report.failed_attempts += sum(not a.ok for a in attempts)
            n += len(attempts)

    async def prune(self) -> int:
        """Delete the deliveries delivered more than ``MAILER_WEBHOOK_KEEP_DAYS`` ago, their
        attempts and the events left without deliveries (``store.prune_delivered``), in
        batches; at most once per ``PRUNE_SECONDS`` in this process. Returns how many."""
        days = self.settings.webhook_keep_days
        if not days or (self._pruned_at is not None
                        and time.monotonic() - self._pruned_at < PRUNE_SECONDS):
            return 0
        self._pruned_at = time.monotonic()
        before = utcnow() - timedelta(days=days)
        pruned = 0
        while True:
            n: int = await self.run_db(
                lambda s: store.prune_delivered(s, before, PRUNE_BATCH))
            pruned += n
            if n < PRUNE_BATCH:
                break
        if pruned:
            log.info("deleted %d webhook deliveries delivered more than %d days ago, with "
                     "their attempts and events", pruned, days)
        return pruned

    async def next_wait(self) -> float | None:
        """Seconds until the next delivery is due (None: nothing pending)."""
        nd: datetime | None = await self.run_db(store.next_due)
        return None if nd is None else max(0.0, (nd - utcnow()).total_seconds())

    async def drain(self, max_wait: float) -> WebhookReport:
        """Deliver until nothing is due within ``max_wait`` seconds."""
        try:
            await self.prune()
        except Exception:  # old deliveries wait for the next run; sending goes on
            log.exception("deleting old webhook deliveries failed; the next run tries again")
        while True:
            try:
                await self.run_due()
                wait = await self.next_wait()
            except Exception:  # the mail is done; a webhook fault must not fail the run
                log.exception("webhook delivery stopped; the next worker run retries")
                break
            if wait is None:
                break
            if wait > max_wait:
                self.report.waiting = await self.run_db(store.count_pending)
                break
            await asyncio.sleep(wait + 0.01)
        return self.report

    async def serve(self, stop: asyncio.Event, poll: float) -> None:
        """Deliver as events arrive until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.prune()
                await self.run_due()
                wait = await self.next_wait()
            except Exception:  # keep the loop alive: a database hiccup is retried next poll
                log.exception("webhook delivery loop")
                wait = None
            timeout = poll if wait is None else min(wait, poll)
            try:
                await asyncio.wait_for(stop.wait(), timeout=timeout + 0.01)
            except TimeoutError:
                pass
