"""The dashboard: lists, recent mailings and their progress, failures, worker health."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.store.accounts import Principal
from mailer.store.lists import list_counts
from mailer.web.admin.auth import require
from mailer.web.admin.pages import render
from mailer.web.routes.common import db

router = APIRouter(dependencies=[Depends(require(Action.view))])


@router.get("/admin")
async def dashboard(request: Request, me: Principal = Depends(require(Action.view))) -> Response:
    lists = await db(request, list_counts)
    return render(request, "dashboard.html", lists=lists)
