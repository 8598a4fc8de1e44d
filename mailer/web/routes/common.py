"""Helpers shared by the route modules: database calls, tokens, lists, consent wording."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from mailer import timing
from mailer.errors import NotFound
from mailer.services import subscriptions
from mailer.services.notifications import CONFIRM_DAYS
from mailer.services.subscriptions import ListInfo
from mailer.store.db import reading, transaction
from mailer.tokens import BadToken, ExpiredToken, Purpose, TokenData
from mailer.web.i18n import Translate
from mailer.web.pages import PageError, web_of

T = TypeVar("T")
MAX_TOKEN = 200


async def db(request: Request, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run ``fn(session, *args, **kwargs)`` in one transaction, off the event loop."""
    return await _write(request, False, fn, args, kwargs)


async def urgent_db(request: Request, fn: Callable[..., T], *args: object,
                    **kwargs: object) -> T:
    """Like ``db`` for a short write someone waits for (an unsubscribe): on SQLite it goes
    before this process's ordinary writers waiting for the write lock (``store.db.URGENT``)."""
    return await _write(request, True, fn, args, kwargs)


async def _write(request: Request, urgent: bool, fn: Callable[..., T],
                 args: tuple[object, ...], kwargs: dict[str, object]) -> T:
    engine = web_of(request).engine
    asked = time.perf_counter()

    def work() -> T:
        timing.note("pool", (time.perf_counter() - asked) * 1000)
        with timing.thread_work(), transaction(engine, urgent=urgent) as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(work)


async def read(request: Request, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Like ``db`` for work that only reads: on SQLite it never waits for the write lock."""
    engine = web_of(request).engine
    asked = time.perf_counter()

    def work() -> T:
        timing.note("pool", (time.perf_counter() - asked) * 1000)
        with timing.thread_work(), reading(engine) as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(work)


async def found(request: Request, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Like ``db``, for what a link points at: a person or list no longer there (NotFound)
    is the friendly 410 page."""
    try:
        return await db(request, fn, *args, **kwargs)
    except NotFound:
        raise PageError.gone() from None


async def read_found(request: Request, fn: Callable[..., T], *args: object,
                     **kwargs: object) -> T:
    """Like ``found`` for work that only reads (``read``): never waits for the write lock."""
    try:
        return await read(request, fn, *args, **kwargs)
    except NotFound:
        raise PageError.gone() from None


def read_token(request: Request, purpose: Purpose, token: str) -> TokenData:
    """The signed token's data, or a friendly 400 (tampered) / 410 (expired) page."""
    if len(token) > MAX_TOKEN:
        raise PageError.bad_link()
    max_age = CONFIRM_DAYS * 86400 if purpose == Purpose.confirm else None
    try:
        return web_of(request).tokens.read(purpose, token, max_age=max_age)
    except ExpiredToken:
        raise PageError.expired_link() from None
    except BadToken:
        raise PageError.bad_link() from None


async def open_list(request: Request, slug: str) -> ListInfo:
    """The public list ``slug``, or the 404 page."""
    lst = await read(request, subscriptions.public_list, slug)
    if lst is None:
        raise PageError.from_status(404)
    return lst


def consent_wording(_: Translate, list_name: str) -> str:
    """The consent text shown beside the button; logged verbatim with each consent."""
    return _("I want to receive %(list)s by e-mail. I can unsubscribe at any time with the "
             "link in every e-mail. My e-mail address (and name, if I give it) is stored only "
             "to send me this.", list=list_name)
