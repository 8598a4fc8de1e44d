"""The dashboard: lists, recent mailings with their chart, failures, worker health."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services import mailings
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
    return render(request, "dashboard.html", lists=data.lists, mailings=data.mailings,
                  shown=data.shown, failures=data.failures, health=data.health, chart=chart,
                  now=web.now())
