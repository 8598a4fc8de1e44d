"""Built-in registration for invitations: ``/register/{invitation}/{token}``.

The signed link (purpose ``register``: subscriber id + invitation id) is the
authentication. GET shows the invitation's key facts and the person's state (seats left
for their organisation, registered, closed) and changes nothing: mail scanners open
every link. The buttons POST with a CSRF token: register, or answer the yearly
re-confirmation. A registration made here is confirmed by e-mail with the meetings as
an .ics file when delivery is installed.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.invitation import Invitation
from mailer.errors import MailerError
from mailer.store.registration_page import (
    PageState,
    answer_from_form,
    find,
    page,
    register_from_form,
)
from mailer.store.registrations import SeatsFull
from mailer.tokens import Purpose
from mailer.web.i18n import N_
from mailer.web.pages import PageError, render, request_language, web_of
from mailer.web.routes.common import db, read_token

router = APIRouter()
log = logging.getLogger(__name__)


def _not_open() -> PageError:
    return PageError(404, N_("Registration is not open"),
                     N_("This invitation has no registration form here. Use the registration "
                        "link or e-mail address given in the invitation."), "/")


async def _invitation(request: Request, slug: str) -> Invitation:
    from mailer.invitation_files import load_invitation

    settings = web_of(request).settings
    try:
        return await run_in_threadpool(load_invitation, settings.workspace, slug,
                                       timezone=settings.timezone)
    except MailerError:
        raise _not_open() from None


def _facts(request: Request, inv: Invitation, lang: str) -> dict[str, str]:
    from mailer.render import i18n
    from mailer.render.invitation import cost_text, meeting_view

    first = inv.first_meeting
    view = meeting_view(first, lang) if first else None
    return {
        "title": inv.title,
        "organiser": inv.organiser.name,
        "deadline": i18n.format_day(inv.deadline.date(), lang),
        "cost": cost_text(inv.cost, lang),
        "first": f"{view.day}{', ' + view.time if view.time else ''} – {view.where}"
                 if view else "",
    }


async def _show(request: Request, slug: str, token: str, *, done: str = "",
                status: int = 200) -> Response:
    web = web_of(request)
    data = read_token(request, Purpose.register, token)
    inv = await _invitation(request, slug)

    def load(session):  # type: ignore[no-untyped-def]
        found = find(session, slug, data.scope_id, data.subscriber_id)
        if found is None:
            raise PageError.gone()
        return page(session, *found, web.now()), found[1].language

    view, language = await db(request, load)
    lang = request_language(request, language)
    return render(request, "register.html", lang=lang, status=status, view=view,
                  facts=_facts(request, inv, lang), done=done, token=token, slug=slug)


@router.get("/register/{invitation}/{token}")
async def register_page(request: Request, invitation: str, token: str) -> Response:
    return await _show(request, invitation, token)


@router.post("/register/{invitation}/{token}")
async def register_submit(request: Request, invitation: str, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    data = read_token(request, Purpose.register, token)
    await _invitation(request, invitation)
    action = str(form.get("action", "register"))

    def act(session):  # type: ignore[no-untyped-def]
        found = find(session, invitation, data.scope_id, data.subscriber_id)
        if found is None:
            raise PageError.gone()
        inv_row, sub = found
        now = web.now()
        if action in ("yes", "no"):
            current = page(session, inv_row, sub, now)
            if current.reconfirm_year is None:
                raise PageError.from_status(404)
            answer_from_form(session, inv_row, sub, current.reconfirm_year, action, now)
            return "answered"
        if page(session, inv_row, sub, now).state is not PageState.open and \
                page(session, inv_row, sub, now).state is not PageState.waitlist:
            return ""
        result = register_from_form(session, inv_row, sub, now)
        if isinstance(result, SeatsFull):
            return "full"
        _confirm(web, session, invitation, inv_row, sub, result, now)
        return "registered"

    done = await db(request, act)
    return await _show(request, invitation, token, done=done)


def _confirm(web, session, slug, inv_row, sub, result, now) -> None:  # type: ignore[no-untyped-def]
    """Queue the confirmation (with the .ics) in the same transaction, if delivery exists."""
    try:
        from mailer.delivery.invitations import send_confirmation
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("mailer."):
            raise
        log.info("registration %s for %s: no delivery installed, no confirmation sent",
                 sub.email, slug)
        return
    send_confirmation(session, web.settings, slug, inv_row, sub, result.registration, now)
