"""The dashboard: lists, recent mailings with their chart, failures, worker health."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services import mailings, webhooks
from mailer.services.accounts import Principal
from mailer.web.admin.auth import require
from mailer.web.admin.pages import render
from mailer.web.admin.routes.mailings import chart_for
from mailer.web.pages import web_of
from mailer.web.routes.common import read

router = APIRouter(dependencies=[Depends(require(Action.view))])


@router.get("/admin")
async def dashboard(request: Request, me: Principal = Depends(require(Action.view))) -> Response:
    web = web_of(request)
    data = await read(request, mailings.dashboard, web.now())
    chart = chart_for(request, data.points, data.shown.name) if data.shown else ""
    # Endpoints the worker switched off after failing for days: whoever may fix them (the
    # webhooks page is the admins') sees it here, not only in the worker's log.
    switched_off = (await read(request, webhooks.switched_off)
                    if me.can(Action.manage_users) else [])
    return render(request, "dashboard.html", lists=data.lists, mailings=data.mailings,
                  shown=data.shown, failures=data.failures, health=data.health, chart=chart,
                  now=web.now(), switched_off=switched_off)
