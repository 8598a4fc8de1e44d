"""Yearly re-confirmation: ``/reconfirm/{invitation}/{year}/{token}`` asks "do you continue?".

The link in the re-confirmation mail (purpose ``register``: subscriber + invitation)
opens a page with two buttons; GET changes nothing, the POST (with CSRF) records the
answer through ``mailer.store.reconfirmations.record_reconfirmation``. "No" frees the
seat (a wait-listed colleague moves up); the answer can be changed until the
answer-by date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.errors import MailerError
from mailer.store.models import InvitationRow, ReconfirmAnswer, Reconfirmation, Subscriber
from mailer.store.reconfirmations import record_reconfirmation
from mailer.tokens import Purpose, split_reconfirm_scope
from mailer.web.i18n import N_
from mailer.web.pages import PageError, render, request_language, web_of
from mailer.web.routes.common import db, read_token

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Question:
    title: str
    year: int
    answer: str | None
    answer_by: date | None
    language: str
    email: str


def _not_asked() -> PageError:
    return PageError(404, N_("There is no question for you here"),
                     N_("This link asks participants of a network whether they continue next "
                        "year, and we have not asked you that. Contact the organiser."), "/")


def _question(session: Session, request: Request, slug: str, year: int, invitation_id: int,
              subscriber_id: int) -> Question:
    inv = session.get(InvitationRow, invitation_id)
    sub = session.get(Subscriber, subscriber_id)
    if inv is None or sub is None:
        raise PageError.gone()
    if inv.slug != slug:
        raise PageError.bad_link()
    rec = session.scalar(select(Reconfirmation).where(
        Reconfirmation.invitation_id == inv.id, Reconfirmation.subscriber_id == sub.id,
        Reconfirmation.year == year))
    if rec is None:
        raise _not_asked()
    answer_by = None
    settings = web_of(request).settings
    try:
        from mailer.invitation_files import load_invitation

        doc = load_invitation(settings.workspace, slug, timezone=settings.timezone)
        answer_by = doc.period.reconfirmation_answer_by(year) if doc.period else None
    except MailerError:
        pass
    return Question(inv.title, year, rec.answer.value if rec.answer else None, answer_by,
                    sub.language, sub.email)


def _invitation_for(request: Request, token: str, year: int) -> int:
    """The invitation a yearly answer link was signed for; the year in the path must be
    the signed one (a link for 2024 never answers for 2025)."""
    invitation_id, signed_year = split_reconfirm_scope(
        read_token(request, Purpose.reconfirm, token).scope_id)
    if signed_year != year:
        raise PageError.from_status(404)
    return invitation_id


@router.get("/reconfirm/{slug}/{year}/{token}")
async def reconfirm_page(request: Request, slug: str, year: int, token: str) -> Response:
    invitation_id = _invitation_for(request, token, year)
    data = read_token(request, Purpose.reconfirm, token)
    q = await db(request, _question, request, slug, year, invitation_id, data.subscriber_id)
    lang = request_language(request, q.language)
    return render(request, "reconfirm.html", lang=lang, q=q, saved=False)


@router.post("/reconfirm/{slug}/{year}/{token}")
async def reconfirm_submit(request: Request, slug: str, year: int, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    invitation_id = _invitation_for(request, token, year)
    data = read_token(request, Purpose.reconfirm, token)
    answer = str(form.get("answer") or "")
    if answer not in ("yes", "no"):
        raise PageError.from_status(404)

    def save(session: Session) -> Question:
        q = _question(session, request, slug, year, invitation_id, data.subscriber_id)
        inv = session.get(InvitationRow, invitation_id)
        sub = session.get(Subscriber, data.subscriber_id)
        assert inv is not None and sub is not None
        record_reconfirmation(session, inv, sub, year, ReconfirmAnswer(answer), now=web.now(),
                              via="web")
        return Question(q.title, q.year, answer, q.answer_by, q.language, q.email)

    q = await db(request, save)
    lang = request_language(request, q.language)
    return render(request, "reconfirm.html", lang=lang, q=q, saved=True)
