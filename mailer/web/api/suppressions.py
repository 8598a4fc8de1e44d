"""``/api/suppressions``: the addresses no mailing goes to (bounced, complained, by hand)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services import deliverability as svc
from mailer.services.accounts import Principal
from mailer.web.api.deps import Paging, get_session, paging, require
from mailer.web.api.errors import ERROR_RESPONSES
from mailer.web.api.schemas import Page, SuppressionIn, SuppressionOut

router = APIRouter(responses=ERROR_RESPONSES)
VIEW = Depends(require(Action.view))
MANAGE = Depends(require(Action.manage_subscribers))
SESSION = Depends(get_session)


def _out(x: svc.SuppressionInfo) -> SuppressionOut:
    return SuppressionOut(email=x.email, reason=x.reason, detail=x.detail, source=x.source,
                          created_at=x.created_at, signup_attempts=x.signup_attempts,
                          last_signup_at=x.last_signup_at, last_signup=x.last_signup)


@router.get("/suppressions", response_model=Page[SuppressionOut], tags=["suppressions"])
def suppressions(q: str = Query("", max_length=320, description="Address part or reason."),
                 pages: Paging = Depends(paging), me: Principal = VIEW,
                 session: Session = SESSION) -> Page[SuppressionOut]:
    """Suppressed addresses, newest first."""
    found = svc.suppressions(session, q=q, limit=pages.per_page, offset=pages.offset)
    total = svc.suppressions_matching(session, q=q)
    return Page[SuppressionOut](items=[_out(x) for x in found],
                                page=pages.page, per_page=pages.per_page, total=total)


@router.post("/suppressions", response_model=SuppressionOut, status_code=201,
             tags=["suppressions"])
def add(body: SuppressionIn, response: Response, me: Principal = MANAGE,
        session: Session = SESSION) -> SuppressionOut:
    """Suppress an address (200 with the existing entry when it is suppressed already)."""
    if not svc.add_suppression(session, body.email, now=datetime.now(UTC),
                               reason=body.reason, detail=body.note,
                               source=f"api:{me.email}"[:100]):
        response.status_code = 200
    found = svc.is_suppressed(session, body.email)
    assert found is not None
    return _out(found)


@router.delete("/suppressions/{email}", status_code=204, tags=["suppressions"])
def remove(email: str, request: Request, me: Principal = MANAGE,
           session: Session = SESSION) -> Response:
    """Allow mail to the address again; sign-ups that waited meanwhile are sent their
    confirmation link."""
    web = request.app.state.web
    svc.remove_suppression(session, email, links=web.links, now=web.now(),
                           settings=web.settings)
    return Response(status_code=204)
