"""The suppression list: who no mailing goes to, why; add and remove by hand."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.services import deliverability as svc
from mailer.services.accounts import Principal
from mailer.web.admin.auth import Forbidden, checked_form, require
from mailer.web.admin.pages import redirect, render
from mailer.web.admin.routes.lists import PER_PAGE, page_number
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
REASONS = ("manual", "hard_bounce", "soft_bounces", "complaint", "erased")


async def _page(request: Request, me: Principal, *, status: int = 200,
                **extra: object) -> Response:
    q = request.query_params.get("q", "")[:320]
    page = page_number(request)
    rows, total, counts = await read(request, lambda s: (
        svc.suppressions(s, q=q, limit=PER_PAGE, offset=(page - 1) * PER_PAGE),
        svc.suppressions_matching(s, q=q), svc.suppression_counts(s)))
    context = {"values": {}, "errors": {}, **extra}
    return render(request, "suppressions.html", status=status, rows=rows, counts=counts, q=q,
                  hits={"total": total}, page=page, per_page=PER_PAGE,
                  reasons=REASONS, can_manage=me.can(Action.manage_subscribers), **context)


@router.get("/admin/suppressions")
async def suppressions_page(request: Request, me: Principal = VIEW) -> Response:
    return await _page(request, me)


@router.post("/admin/suppressions")
async def add(request: Request, me: Principal = VIEW) -> Response:
    form = await checked_form(request)
    if not me.can(Action.manage_subscribers):
        raise Forbidden(Action.manage_subscribers)
    values = {k: str(form.get(k) or "").strip() for k in ("email", "note")}
    try:
        added = await db(request, lambda s: svc.add_suppression(
            s, values["email"], now=web_of(request).now(), detail=values["note"],
            source=f"admin:{me.email}"[:100]))
    except MailerError as exc:
        return await _page(request, me, status=422, values=values,
                           errors={"email": exc.message})
    return redirect("/admin/suppressions", "suppressed" if added else "already-suppressed")


@router.post("/admin/suppressions/remove")
async def remove(request: Request, me: Principal = VIEW) -> Response:
    form = await checked_form(request)
    if not me.can(Action.manage_subscribers):
        raise Forbidden(Action.manage_subscribers)
    email = str(form.get("email") or "").strip()
    web = web_of(request)
    sent = await db(request, lambda s: svc.remove_suppression(
        s, email, links=web.links, now=web.now(), settings=web.settings))
    return redirect("/admin/suppressions", "unsuppressed-confirm" if sent else "unsuppressed")
