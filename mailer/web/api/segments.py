"""``/api/segments`` and ``/api/audience``: saved segments and who a target reaches now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services import segments as svc
from mailer.services.accounts import Principal
from mailer.web.api.deps import get_session, require
from mailer.web.api.errors import ERROR_RESPONSES, about
from mailer.web.api.schemas import AudienceOut, MatchOut, SegmentIn, SegmentOut

router = APIRouter(responses=ERROR_RESPONSES)
VIEW = Depends(require(Action.view))
SEND = Depends(require(Action.send_issues))
SESSION = Depends(get_session)


def checked_target(session: Session, *, lists: list[str], where: list[str],
                   segment: str) -> svc.Audience:
    """The target of a request, each part checked on its own so that a refusal names its
    field: ``where`` (a condition), ``segment`` (unknown, or of another list), ``list``."""
    with about("where"):
        svc.conditions(where)
    with about("segment" if segment else "lists"):
        svc.audience(session, list_slugs=lists, segment=segment)
    return svc.audience(session, list_slugs=lists, where=where, segment=segment)


def _out(info: svc.SegmentInfo) -> SegmentOut:
    return SegmentOut(name=info.name, list=info.list_slug, where=list(info.conditions),
                      matching=info.count)


@router.get("/segments", response_model=list[SegmentOut], tags=["segments"])
def segments(me: Principal = VIEW, session: Session = SESSION) -> list[SegmentOut]:
    """Every saved segment with how many active subscribers match now."""
    return [_out(i) for i in svc.segments(session)]


@router.get("/segments/{name}", response_model=SegmentOut, tags=["segments"])
def segment(name: str, me: Principal = VIEW, session: Session = SESSION) -> SegmentOut:
    return _out(svc.get(session, name))


@router.put("/segments/{name}", response_model=SegmentOut, tags=["segments"])
def save_segment(name: str, body: SegmentIn, me: Principal = SEND,
                 session: Session = SESSION) -> SegmentOut:
    """Add or change a segment: a list narrowed by conditions, evaluated at send time."""
    with about("where"):
        svc.conditions(body.where)
    with about("list"):
        svc.audience(session, list_slugs=[body.list])
    return _out(svc.save(session, name, body.list, body.where))


@router.delete("/segments/{name}", status_code=204, response_class=Response,
               tags=["segments"])
def delete_segment(name: str, me: Principal = SEND, session: Session = SESSION) -> Response:
    """Forget a segment; mailings planned with it keep their conditions."""
    svc.remove(session, name)
    return Response(status_code=204)


@router.get("/audience", response_model=AudienceOut, tags=["segments"])
def audience(lists: list[str] = Query([], alias="list", description="List slugs."),
             where: list[str] = Query([], max_length=300,
                                      description="Conditions (repeat the parameter)."),
             segment: str = Query("", max_length=100),
             sample: int = Query(10, ge=0, le=100),
             me: Principal = VIEW, session: Session = SESSION) -> AudienceOut:
    """How many active subscribers a target (lists and conditions, or a segment) reaches
    now, and the first ``sample`` of them by address."""
    target = checked_target(session, lists=lists, where=where, segment=segment)
    found = svc.preview(session, target, sample=sample)
    return AudienceOut(lists=list(target.list_slugs), where=[c.text for c in target.conditions],
                       segment=target.segment, matching=found.count,
                       sample=[MatchOut(email=m.email, name=m.name, organisation=m.organisation,
                                        role=m.role, language=m.language)
                               for m in found.sample])
