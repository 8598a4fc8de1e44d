"""Double opt-in: the link in the confirmation mail opens a page; its button confirms.

GET never changes anything: mail scanners (Safe Links and the like) open every link in a
message, and a GET that confirmed would let them confirm sign-ups someone else typed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.store.models import Subscriber, SubscriptionStatus
from mailer.store.subscriptions import confirm, get_subscription
from mailer.tokens import Purpose
from mailer.web.i18n import translator
from mailer.web.pages import PageError, client_ip, render, request_language, web_of
from mailer.web.routes.common import ListInfo, consent_wording, db, list_by_id, read_token

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Pending:
    lst: ListInfo
    status: SubscriptionStatus
    language: str


def _pending(session: Session, subscriber_id: int, list_id: int) -> Pending:
    subscriber = session.get(Subscriber, subscriber_id)
    lst = list_by_id(session, list_id)
    sub = get_subscription(session, subscriber_id, list_id)
    if subscriber is None or lst is None or sub is None:
        raise PageError.gone()
    return Pending(lst, SubscriptionStatus(sub.status), subscriber.language)


@router.get("/confirm/{token}")
async def confirm_page(request: Request, token: str) -> Response:
    data = read_token(request, Purpose.confirm, token)
    p = await db(request, _pending, data.subscriber_id, data.scope_id)
    lang = request_language(request, p.language)
    return render(request, "confirm.html", lang=lang, lst=p.lst, status_=p.status,
                  wording=consent_wording(translator(lang), p.lst.name), token=token,
                  preferences=web_of(request).links.preferences(data.subscriber_id))


@router.post("/confirm/{token}")
async def confirm_submit(request: Request, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    data = read_token(request, Purpose.confirm, token)
    p = await db(request, _pending, data.subscriber_id, data.scope_id)
    lang = request_language(request, p.language)
    wording = consent_wording(translator(lang), p.lst.name)
    sub = await db(request, lambda s: confirm(s, data.subscriber_id, data.scope_id,
                                              now=web.now(), ip=client_ip(request),
                                              wording=wording))
    if sub is None:  # unsubscribed in between: an old link does not revive it
        raise PageError.gone()
    return render(request, "confirmed.html", lang=lang, lst=p.lst,
                  preferences=web.links.preferences(data.subscriber_id))
