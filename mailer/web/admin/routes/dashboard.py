"""The dashboard: lists, recent mailings with their chart, failures, worker health."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services.accounts import Principal
from mailer.services.lists import list_counts
from mailer.web.admin import delivery
from mailer.web.admin.auth import require
from mailer.web.admin.pages import render
from mailer.web.admin.routes.mailings import chart_for
from mailer.web.pages import web_of
from mailer.web.routes.common import db

router = APIRouter(dependencies=[Depends(require(Action.view))])
RECENT = 5


def _data(s, now):  # type: ignore[no-untyped-def]
    mailings = delivery.progress(s)[:RECENT]
    # The chart follows the newest mailing that has started (a test or a real send).
    shown = next((m for m in mailings if m.total and m.started_at), None)
    return {
        "lists": list_counts(s),
        "mailings": mailings,
        "shown": shown,
        "points": delivery.timeline(s, shown.id) if shown else [],
        "failures": delivery.recent_failures(s, limit=10),
        "health": delivery.health(s, now),
    }


@router.get("/admin")
async def dashboard(request: Request, me: Principal = Depends(require(Action.view))) -> Response:
    web = web_of(request)
    data = await db(request, _data, web.now())
    chart = chart_for(request, data["points"], data["shown"].name) if data["shown"] else ""
    return render(request, "dashboard.html", **data, chart=chart,
                  delivery=delivery.available(), now=web.now())
