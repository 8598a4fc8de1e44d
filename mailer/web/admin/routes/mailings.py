"""Mailings: progress of each, its chart over time, failures with SMTP replies, and
pause / resume / cancel (``mailer.services.mailings``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.findings import msg
from mailer.domain.outcomes import note_message
from mailer.domain.roles import Action
from mailer.errors import NotFound
from mailer.render.i18n import Translator
from mailer.services import clicks
from mailer.services import mailings as svc
from mailer.services.accounts import Principal
from mailer.services.clicks import ClickReport
from mailer.services.mailings import Failure, MailingProgress, TimelinePoint
from mailer.web.admin.auth import Forbidden, checked_form, require
from mailer.web.admin.chart import Bar, Point, bar_chart, line_chart
from mailer.web.admin.pages import redirect, render, translator
from mailer.web.api.deps import Id
from mailer.web.i18n import N_
from mailer.web.pages import web_of
from mailer.web.routes.clicks import csv_response
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
ACTIONS = ("pause", "resume", "cancel")
CANCEL_UNCONFIRMED = N_("Tick the box to confirm the cancel: nothing was cancelled.")


def chart_for(request: Request, points: list[TimelinePoint], title: str) -> str:
    from mailer.web.admin.pages import admin_language

    _ = translator(admin_language(request))
    return line_chart([Point(p.at, p.values) for p in points],
                      tz=web_of(request).settings.tz, title=title,
                      labels={k: _(k) for k in ("sent", "queued", "failed", "skipped")})


@router.get("/admin/mailings")
async def mailings_page(request: Request, me: Principal = VIEW) -> Response:
    mailings = await read(request, svc.progress, reasons=False)  # the list shows none
    return render(request, "mailings.html", mailings=mailings)


def _detail(s: Session, mailing_id: int
            ) -> tuple[MailingProgress, list[TimelinePoint], list[Failure], ClickReport]:
    found = svc.progress(s, [mailing_id])
    if not found:
        raise NotFound(msg("no mailing %(ref)r; see 'mailer mailings' for the list",
                           ref=mailing_id))
    return (found[0], svc.timeline(s, mailing_id),
            svc.recent_failures(s, limit=50, mailing_id=mailing_id),
            clicks.report(s, mailing_id))


def click_chart(request: Request, report: ClickReport) -> str:
    """Clicks per link as horizontal bars (the unique clickers in brackets)."""
    from mailer.web.admin.pages import admin_language

    lang = admin_language(request)
    tr = Translator(lang)
    return bar_chart([Bar(link.url, link.clicks,
                          tr.ngettext("%(n)s unique clicker", "%(n)s unique clickers",
                                      link.clickers) % {"n": link.clickers})
                      for link in report.links],
                     title=translator(lang)("Clicks per link"))


@router.get("/admin/mailings/{mailing_id}")
async def mailing_page(request: Request, mailing_id: Id, me: Principal = VIEW) -> Response:
    return await _mailing_page(request, mailing_id, me)


async def _mailing_page(request: Request, mailing_id: int, me: Principal, *,
                        status: int = 200, cancel_error: str = "") -> Response:
    """The mailing's page; ``cancel_error`` beside the cancel button's tick (400)."""
    mailing, points, failures, report = await read(request, _detail, mailing_id)
    chart = chart_for(request, points, mailing.name)
    return render(request, "mailing.html", status=status, m=mailing,
                  note=note_message(mailing.note), chart=chart, failures=failures,
                  clicks=report, click_chart=click_chart(request, report),
                  can_control=me.can(_needed(mailing.kind)), cancel_error=cancel_error)


@router.get("/admin/mailings/{mailing_id}/clicks.csv")
async def clicks_csv(request: Request, mailing_id: Id, me: Principal = VIEW) -> Response:
    return csv_response(await read(request, clicks.report, mailing_id))


def _needed(kind: str) -> Action:
    return (Action.manage_invitations if kind in ("invitation", "reminder")
            else Action.send_issues)


@router.post("/admin/mailings/{mailing_id}/{action}")
async def control(request: Request, mailing_id: Id, action: str,
                  me: Principal = VIEW) -> Response:
    form = await checked_form(request)
    if action not in ACTIONS:
        raise NotFound(f"no action {action!r}; use pause, resume or cancel")
    kind = await db(request, svc.mailing_kind, mailing_id)
    if not me.can(_needed(kind)):
        raise Forbidden(_needed(kind))
    if action == "cancel" and form.get("confirm") != "1":
        # A cancel cannot be undone (what is not sent is skipped) and its button sits
        # beside "Pause": one click alone does not stop a send.
        return await _mailing_page(request, mailing_id, me, status=400,
                                   cancel_error=CANCEL_UNCONFIRMED)
    await db(request, svc.control, mailing_id, action, web_of(request).now())
    return redirect(f"/admin/mailings/{mailing_id}", {"pause": "paused", "resume": "resumed",
                                                      "cancel": "cancelled"}[action])
