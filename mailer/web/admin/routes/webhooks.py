"""Webhook endpoints (admins only: they send personal data to other systems): add, switch
on and off, remove, and each endpoint's delivery log."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.services import webhooks
from mailer.services.accounts import Principal
from mailer.web.admin.auth import checked_form, require
from mailer.web.admin.pages import redirect, render
from mailer.web.api.deps import Id
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.manage_users))])
ADMIN = Depends(require(Action.manage_users))


async def _page(request: Request, *, status: int = 200, **extra: object) -> Response:
    context: dict[str, object] = {"values": {}, "errors": {}, "new_secret": None, **extra}
    eps = await read(request, webhooks.endpoints)
    return render(request, "webhooks.html", status=status, endpoints=eps,
                  events=webhooks.EVENTS, labels=webhooks.EVENT_LABELS, **context)


@router.get("/admin/webhooks")
async def webhooks_page(request: Request, me: Principal = ADMIN) -> Response:
    return await _page(request)


@router.post("/admin/webhooks")
async def add_endpoint(request: Request, me: Principal = ADMIN) -> Response:
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("url", "description", "secret")}
    chosen = [str(e) for e in form.getlist("events")]
    try:
        ep, secret = await db(request, lambda s: webhooks.add_endpoint(
            s, values["url"], chosen, secret=values["secret"],
            description=values["description"]))
    except MailerError as exc:
        field = exc.field or "url"
        return await _page(request, status=422, values={**values, "events": chosen},
                           errors={field: exc.message})
    # The secret is shown once, right here, to hand over to the receiver.
    return await _page(request, new_secret=(ep.url, secret))


@router.post("/admin/webhooks/{endpoint_id}")
async def change_endpoint(request: Request, endpoint_id: Id, me: Principal = ADMIN) -> Response:
    form = await checked_form(request)
    action = form.get("action")
    if action == "enable":
        await db(request, webhooks.enable_endpoint, endpoint_id)
    elif action == "disable":
        await db(request, webhooks.disable_endpoint, endpoint_id)
    elif action == "remove":
        await db(request, webhooks.remove_endpoint, endpoint_id)
        return redirect("/admin/webhooks", "deleted")
    return redirect(f"/admin/webhooks/{endpoint_id}", "saved")


@router.get("/admin/webhooks/{endpoint_id}")
async def endpoint_page(request: Request, endpoint_id: Id, me: Principal = ADMIN) -> Response:
    ep = await read(request, webhooks.get_endpoint, endpoint_id)
    log = await read(request, webhooks.endpoint_log, endpoint_id, 200)
    return render(request, "webhook.html", ep=ep, log=log,
                  disable_days=f"{web_of(request).settings.webhook_disable_after_days:g}")
