"""Unsubscribe links: RFC 8058 one-click POST, and the page behind the footer link.

The signed token (per subscriber and list; list 0 = every list) is the authentication.
- GET shows a page with a button and changes nothing (link scanners open every URL).
- POST with the body ``List-Unsubscribe=One-Click`` (RFC 8058 section 3.2) is what a mail
  provider sends when the reader presses its "unsubscribe" button: no cookie, no CSRF
  token, by design. It unsubscribes at once and answers 200.
- The page's own button POSTs with a CSRF token, and is checked like every other form.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mailer.services import subscriptions
from mailer.services.subscriptions import Target
from mailer.tokens import Purpose
from mailer.web.csrf import FIELD
from mailer.web.i18n import translator
from mailer.web.pages import PageError, client_ip, render, request_language, web_of
from mailer.web.routes.common import (
    consent_wording,
    found,
    read_found,
    read_token,
    urgent_db,
)

router = APIRouter()
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _page(request: Request, token: str, target: Target, template: str, *,
          status: int = 200, resubscribed: bool = False) -> Response:
    web = web_of(request)
    lang = request_language(request, target.subscriber.language)
    return render(request, template, lang=lang, status=status, target=target, token=token,
                  preferences=web.links.preferences(target.subscriber.id),
                  resubscribed=resubscribed)


@router.get("/u/{token}")
async def unsubscribe_page(request: Request, token: str) -> Response:
    data = read_token(request, Purpose.unsubscribe, token)
    target = await read_found(request, subscriptions.unsubscribe_target, data.subscriber_id,
                              data.scope_id)
    return _page(request, token, target, "unsubscribe.html")


@router.post("/u/{token}")
async def unsubscribe_post(request: Request, token: str) -> Response:
    web = web_of(request)
    data = read_token(request, Purpose.unsubscribe, token)
    form = await request.form()
    one_click = form.get(ONE_CLICK[0]) == ONE_CLICK[1] and FIELD not in form
    if not one_click:
        web.csrf.check(request, form)
    source = "one-click" if one_click else "unsubscribe-page"
    # One short write transaction: the change and what the page shows (issue 13); on
    # SQLite it goes before the sign-ups waiting for the write lock (a person, or their
    # mail provider, waits for it, and it must take effect at once: RFC 8058).
    target = await urgent_db(request, subscriptions.unsubscribe_and_show, data.subscriber_id,
                      data.scope_id, now=web.now(), ip=client_ip(request), source=source)
    if target is None:
        if one_click:
            # RFC 8058: the provider only needs a 2xx; a short page helps anyone who looks.
            return Response("unsubscribed\n", media_type="text/plain")
        raise PageError.gone()
    return _page(request, token, target, "unsubscribed.html")


@router.post("/u/{token}/undo")
async def unsubscribe_undo(request: Request, token: str) -> Response:
    """Subscribe again right after unsubscribing by mistake (one list links only)."""
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    data = read_token(request, Purpose.unsubscribe, token)
    target = await read_found(request, subscriptions.unsubscribe_target, data.subscriber_id,
                              data.scope_id)
    if target.lst is None:
        raise PageError.from_status(404)
    lang = request_language(request, target.subscriber.language)
    wording = consent_wording(translator(lang), target.lst.name)
    await found(request, subscriptions.undo_unsubscribe, data.subscriber_id, target.lst.id,
                now=web.now(), ip=client_ip(request), source="unsubscribe-undo",
                wording=wording)
    target = await read_found(request, subscriptions.unsubscribe_target, data.subscriber_id,
                              data.scope_id)
    # Say that it worked (the page would otherwise ask "do you want to stop receiving…?").
    return _page(request, token, target, "unsubscribe.html", resubscribed=True)
