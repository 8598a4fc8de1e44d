"""Helpers shared by the route modules: database calls, tokens, lists, consent wording."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from mailer.store.db import transaction
from mailer.store.models import MailingList, Subscriber
from mailer.tokens import BadToken, ExpiredToken, Purpose, TokenData
from mailer.web.i18n import Translate
from mailer.web.mail import CONFIRM_DAYS
from mailer.web.pages import PageError, web_of

T = TypeVar("T")
MAX_TOKEN = 200


async def db(request: Request, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run ``fn(session, *args, **kwargs)`` in one transaction, off the event loop."""
    engine = web_of(request).engine

    def work() -> T:
        with transaction(engine) as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(work)


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


@dataclass(frozen=True, slots=True)
class ListInfo:
    id: int
    slug: str
    name: str
    description: str
    public: bool
    double_opt_in: bool
    language: str

    @classmethod
    def of(cls, lst: MailingList) -> ListInfo:
        return cls(lst.id, lst.slug, lst.name, lst.description, lst.public,
                   lst.double_opt_in, lst.language)


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    id: int
    email: str
    name: str
    organisation: str
    language: str

    @classmethod
    def of(cls, s: Subscriber) -> SubscriberInfo:
        return cls(s.id, s.email, s.name, s.organisation.name if s.organisation else "",
                   s.language)

    @property
    def masked_email(self) -> str:
        """``an…@hylte.se``: enough to recognise your own address, not to harvest it."""
        local, _, domain = self.email.partition("@")
        return f"{local[:2]}…@{domain}"


def public_list(session: Session, slug: str) -> ListInfo:
    lst = session.scalar(select(MailingList).where(MailingList.slug == slug[:64],
                                                   MailingList.public.is_(True)))
    if lst is None:
        raise PageError.from_status(404)
    return ListInfo.of(lst)


def public_lists(session: Session) -> list[ListInfo]:
    return [ListInfo.of(x) for x in session.scalars(
        select(MailingList).where(MailingList.public.is_(True)).order_by(MailingList.name))]


def list_by_id(session: Session, list_id: int) -> ListInfo | None:
    lst = session.get(MailingList, list_id)
    return ListInfo.of(lst) if lst else None


def consent_wording(_: Translate, list_name: str) -> str:
    """The consent text shown beside the button; logged verbatim with each consent."""
    return _("I want to receive %(list)s by e-mail. I can unsubscribe at any time with the "
             "link in every e-mail. My e-mail address (and name, if I give it) is stored only "
             "to send me this.", list=list_name)
