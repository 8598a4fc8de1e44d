"""Double opt-in: the link in the confirmation mail opens a page; its button confirms.

GET never changes anything: mail scanners (Safe Links and the like) open every link in a
message, and a GET that confirmed would let them confirm sign-ups someone else typed in.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mailer.services import subscriptions
from mailer.tokens import Purpose
from mailer.web.i18n import translator
from mailer.web.pages import PageError, client_ip, render, request_language, web_of
from mailer.web.routes.common import consent_wording, db, read_found, read_token

router = APIRouter()


@router.get("/confirm/{token}")
async def confirm_page(request: Request, token: str) -> Response:
    data = read_token(request, Purpose.confirm, token)
    p = await read_found(request, subscriptions.pending_confirmation, data.subscriber_id,
                         data.scope_id)
    lang = request_language(request, p.language)
    return render(request, "confirm.html", lang=lang, lst=p.lst, status_=p.status,
                  wording=consent_wording(translator(lang), p.lst.name), token=token,
                  preferences=_preferences(request, data.subscriber_id, lang))


@router.post("/confirm/{token}")
async def confirm_submit(request: Request, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    data = read_token(request, Purpose.confirm, token)
    p = await read_found(request, subscriptions.pending_confirmation, data.subscriber_id,
                         data.scope_id)
    lang = request_language(request, p.language)
    wording = consent_wording(translator(lang), p.lst.name)
    confirmed = await db(request, subscriptions.confirm, data.subscriber_id, data.scope_id,
                         now=web.now(), ip=client_ip(request), wording=wording)
    if not confirmed:  # unsubscribed in between: an old link does not revive it
        raise PageError.gone()
    return render(request, "confirmed.html", lang=lang, lst=p.lst,
                  preferences=_preferences(request, data.subscriber_id, lang))


def _preferences(request: Request, subscriber_id: int, lang: str) -> str:
    """The preferences link of these pages, in their language (the sign-up form's)."""
    links = web_of(request).links
    return links.in_language(links.preferences(subscriber_id), lang)
