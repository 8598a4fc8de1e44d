"""Yearly re-confirmation: ``/reconfirm/{invitation}/{year}/{token}`` asks "do you continue?".

The link in the re-confirmation mail (purpose ``register``: subscriber + invitation)
opens a page with two buttons; GET changes nothing, the POST (with CSRF) records the
answer through ``mailer.services.subscriptions.answer_reconfirmation``. "No" frees the
seat (a wait-listed colleague moves up); the answer can be changed until the end of the
answer-by day, after which the page says the time has passed and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mailer.errors import NotFound
from mailer.services import subscriptions
from mailer.services.subscriptions import NotAsked, Question, WrongLink
from mailer.store.models import ReconfirmAnswer
from mailer.tokens import Purpose, split_reconfirm_scope
from mailer.web.i18n import N_
from mailer.web.pages import PageError, render, request_language, web_of
from mailer.web.routes.common import db, read_token

router = APIRouter()


def _not_asked() -> PageError:
    return PageError(404, N_("There is no question for you here"),
                     N_("This link asks participants of a network whether they continue next "
                        "year, and we have not asked you that. Contact the organiser."), "/")


def _invitation_for(request: Request, token: str, year: int) -> int:
    """The invitation a yearly answer link was signed for; the year in the path must be
    the signed one (a link for 2024 never answers for 2025)."""
    invitation_id, signed_year = split_reconfirm_scope(
        read_token(request, Purpose.reconfirm, token).scope_id)
    if signed_year != year:
        raise PageError.from_status(404)
    return invitation_id


async def _ask(request: Request, fn: Callable[..., Question], slug: str, year: int,
               token: str, **more: object) -> Question:
    """Run a re-confirmation service for the link's person and invitation."""
    invitation_id = _invitation_for(request, token, year)
    data = read_token(request, Purpose.reconfirm, token)
    settings = web_of(request).settings
    try:
        return await db(request, fn, workspace=settings.workspace,
                        timezone=settings.timezone, slug=slug, year=year,
                        invitation_id=invitation_id, subscriber_id=data.subscriber_id, **more)
    except NotAsked:
        raise _not_asked() from None
    except NotFound:
        raise PageError.gone() from None
    except WrongLink:
        raise PageError.bad_link() from None


@router.get("/reconfirm/{slug}/{year}/{token}")
async def reconfirm_page(request: Request, slug: str, year: int, token: str) -> Response:
    q = await _ask(request, subscriptions.reconfirm_question, slug, year, token,
                   now=web_of(request).now())
    lang = request_language(request, q.language)
    return render(request, "reconfirm.html", lang=lang, q=q, saved=False, newsletter=q.brand)


@router.post("/reconfirm/{slug}/{year}/{token}")
async def reconfirm_submit(request: Request, slug: str, year: int, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    _invitation_for(request, token, year)
    answer = str(form.get("answer") or "")
    if answer not in ("yes", "no"):
        raise PageError.from_status(404)
    q = await _ask(request, subscriptions.answer_reconfirmation, slug, year, token,
                   answer=ReconfirmAnswer(answer), now=web.now())
    lang = request_language(request, q.language)
    return render(request, "reconfirm.html", lang=lang, q=q, saved=not q.closed,
                  newsletter=q.brand)
