"""``/api/invitations``: deadline, seats per organisation, sending the invitation,
registrations, reminders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.requests import Request

from mailer.domain.roles import Action
from mailer.services import invitations as service
from mailer.services.accounts import Principal
from mailer.web.admin.issues import issue_folder, list_issues, local_today
from mailer.web.api.deps import Paging, get_session, get_write_session, paging, require
from mailer.web.api.errors import ERROR_RESPONSES, ApiError, api_text
from mailer.web.api.schemas import Page

T = TypeVar("T")
router = APIRouter(responses=ERROR_RESPONSES, tags=["invitations"])
VIEW = Depends(require(Action.view))
MANAGE = Depends(require(Action.manage_invitations))
SESSION = Depends(get_session)
# Reading an invitation first syncs its folder's file into the database (a write).
SYNCING = Depends(get_write_session)


class InvitationOut(BaseModel):
    slug: str
    title: str
    deadline: datetime | None
    seconds_left: float | None
    invitees: int
    registered: int
    organisations: int
    problem: str = ""


class OrganisationSeats(BaseModel):
    organisation: str
    limit: int
    registered: int
    remaining: int
    waitlisted: int


class ReminderSlotOut(BaseModel):
    key: str
    at: datetime
    state: str
    ledger: dict[str, int]


class InvitationDetail(BaseModel):
    slug: str
    title: str
    deadline: datetime
    seconds_left: float
    seats_per_organisation: int
    invitees: int  # whose invitation was delivered or is on its way
    not_reached: int = 0  # invited, but the copy expired, was skipped or refused
    organisations: list[OrganisationSeats]
    reminders: list[ReminderSlotOut]


class RegistrationOut(BaseModel):
    email: str
    name: str
    organisation: str
    status: str
    how: str
    registered_at: datetime


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    name: str = Field("", max_length=200)
    organisation: str = Field("", max_length=200)
    late: bool = Field(False, description="Accept after the deadline.")


class Message(BaseModel):
    message: str


class DecisionOut(BaseModel):
    email: str
    name: str
    organisation: str
    remind: bool
    reason: str
    detail: str


class ReminderOut(BaseModel):
    key: str
    due: datetime
    dry_run: bool
    recipients: int
    decisions: list[DecisionOut]
    mailing_id: int | None = None


class ReminderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected: int | None = Field(None, ge=0, le=1_000_000, description=(
        "How many the dry run said would be reminded; if the number changed meanwhile, "
        "nothing is sent and the answer is 409."))


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    list_slug: str | None = Field(None, alias="list", max_length=100, description=(
        "One list to invite (default: every list of the invitation's lists:)."))
    where: list[str] = Field(default_factory=list, max_length=20, description=(
        "Conditions as `mailer invite --where` takes them (e.g. org.kind=region)."))
    expected: int | None = Field(None, ge=0, le=10_000_000, description=(
        "How many the preview said would be invited; if the number changed meanwhile, "
        "nothing is sent and the answer is 409."))


class InvitedOut(BaseModel):
    list: str
    people: int  # invited now, or (preview) who would be
    mailing_id: int | None = None


class InviteOut(BaseModel):
    dry_run: bool
    total: int
    lists: list[InvitedOut]


def _invite_out(invited: list[service.Invited], dry_run: bool) -> InviteOut:
    return InviteOut(dry_run=dry_run, total=sum(i.people for i in invited),
                     lists=[InvitedOut(list=i.list_slug, people=i.people,
                                       mailing_id=i.mailing_id or None) for i in invited])


def _undone(session: Session, work: Callable[[], T]) -> T:
    """``work()`` in a savepoint rolled back after it (a dry run inside the request's
    transaction)."""
    savepoint = session.begin_nested()
    try:
        return work()
    finally:
        savepoint.rollback()


def _invite_preview(session: Session, request: Request, slug: str, list_slug: str | None,
                    where: list[str]) -> list[service.Invited]:
    web = request.app.state.web
    return _undone(session, lambda: service.invite(
        session, web.settings, slug, list_slug=list_slug, now=web.now(), dry_run=True,
        where=where))


def _slug(request: Request, slug: str) -> str:
    issue_folder(request.app.state.web.settings, slug)
    return slug


@router.get("/invitations", response_model=list[InvitationOut])
def invitations(request: Request, me: Principal = VIEW,
                session: Session = SYNCING) -> list[InvitationOut]:
    """Every invitation folder with its deadline, invitees and registrations."""
    web = request.app.state.web
    slugs = [i.name for i in list_issues(web.settings, local_today(web.settings, web.now()))
             if i.kind == "invitation"]
    return [InvitationOut(slug=i.slug, title=i.title, deadline=i.deadline,
                          seconds_left=i.countdown.seconds if i.countdown else None,
                          invitees=i.invitees, registered=i.registered,
                          organisations=i.organisations, problem=api_text(i.problem))
            for i in service.overview(session, web.settings, slugs, web.now())]


@router.get("/invitations/{slug}", response_model=InvitationDetail)
def invitation(slug: str, request: Request, me: Principal = VIEW,
               session: Session = SYNCING) -> InvitationDetail:
    """Deadline, seats per organisation (registered and left) and the reminders' state."""
    web = request.app.state.web
    d = service.detail(session, web.settings, _slug(request, slug), web.now())
    return InvitationDetail(
        slug=slug, title=d.invitation.title, deadline=d.invitation.deadline,
        seconds_left=d.countdown.seconds, seats_per_organisation=d.row.seats_max,
        invitees=d.invitees, not_reached=d.not_reached,
        organisations=[OrganisationSeats(organisation=g.organisation, limit=g.limit,
                                         registered=len(g.registered), remaining=g.remaining,
                                         waitlisted=len(g.waitlisted)) for g in d.groups],
        reminders=[ReminderSlotOut(key=s.key, at=s.at, state=s.state, ledger=s.ledger)
                   for s in d.slots])


@router.get("/invitations/{slug}/registrations", response_model=Page[RegistrationOut])
def registrations(slug: str, request: Request, pages: Paging = Depends(paging),
                  me: Principal = VIEW, session: Session = SYNCING) -> Page[RegistrationOut]:
    """Every registration (any status), by organisation, then time."""
    web = request.app.state.web
    d = service.detail(session, web.settings, _slug(request, slug), web.now())
    rows = [RegistrationOut(email=r.subscriber.email, name=r.subscriber.name,
                            organisation=g.organisation, status=r.status.value,
                            how=r.how.value, registered_at=r.registered_at)
            for g in d.groups for r in (*g.registered, *g.waitlisted, *g.other)]
    return Page[RegistrationOut](items=rows[pages.offset:pages.offset + pages.per_page],
                                 page=pages.page, per_page=pages.per_page, total=len(rows))


@router.post("/invitations/{slug}/registrations", response_model=Message, status_code=201)
def register(slug: str, body: RegistrationIn, request: Request, me: Principal = MANAGE,
             session: Session = SESSION) -> Message:
    """Register someone (as a coordinator would); refused when their organisation's seats
    are taken or the deadline has passed (unless ``late``)."""
    web = request.app.state.web
    return Message(message=service.add_registration(
        session, web.settings, _slug(request, slug), email=body.email, name=body.name,
        organisation=body.organisation, late=body.late, now=web.now()).message)


@router.get("/invitations/{slug}/invite/preview", response_model=InviteOut)
def invite_preview(slug: str, request: Request,
                   list_slug: str | None = Query(None, alias="list", max_length=100),
                   where: list[str] = Query(default_factory=list, max_length=20),
                   me: Principal = VIEW,
                   session: Session = Depends(get_write_session)) -> InviteOut:
    """Who the invitation would go to now, per list (``mailer invite --dry-run``): active
    subscribers not invited yet (someone whose copy expired or was refused counts again),
    suppressed addresses left out."""
    # A write transaction: the folder is synced and the count made in a savepoint.
    return _invite_out(_invite_preview(session, request, _slug(request, slug), list_slug,
                                       where), True)


@router.post("/invitations/{slug}/invite", response_model=InviteOut)
def invite(slug: str, body: InviteIn, request: Request, me: Principal = MANAGE,
           session: Session = SESSION) -> InviteOut:
    """Send the invitation to everyone on its lists not invited yet (``mailer invite``):
    one mailing per list, queued for the worker; refused after the deadline."""
    web = request.app.state.web
    _slug(request, slug)
    if body.expected is not None:
        preview = _invite_preview(session, request, slug, body.list_slug, body.where)
        total = sum(i.people for i in preview)
        if total != body.expected:
            raise ApiError(409, f"{total} would be invited now, not {body.expected}; check "
                           "the preview again", field="expected")
    return _invite_out(service.invite(session, web.settings, slug, list_slug=body.list_slug,
                                      now=web.now(), where=body.where), False)


def _reminder(report: service.SlotReport, dry_run: bool) -> ReminderOut:
    return ReminderOut(
        key=report.key, due=report.slot.at, dry_run=dry_run, recipients=len(report.recipients),
        mailing_id=report.mailing_id,
        decisions=[DecisionOut(email=d.invitee.email, name=d.invitee.name,
                               organisation=d.invitee.organisation, remind=d.remind,
                               reason=d.reason.value, detail=d.detail)
                   for d in report.decisions])


def _dry_run(session: Session, request: Request, slug: str) -> service.SlotReport:
    web = request.app.state.web
    return _undone(session, lambda: service.remind(session, web.settings, slug, web.now(),
                                                   dry_run=True))


@router.get("/invitations/{slug}/reminders/preview", response_model=ReminderOut)
def reminder_preview(slug: str, request: Request, me: Principal = VIEW,
                     session: Session = Depends(get_write_session)) -> ReminderOut:
    """The dry run: who would get the current reminder now, and why the others would not."""
    # A write transaction: the dry run plans in a savepoint and rolls it back.
    return _reminder(_dry_run(session, request, _slug(request, slug)), True)


@router.post("/invitations/{slug}/reminders", response_model=ReminderOut)
def reminder_send(slug: str, body: ReminderIn, request: Request, me: Principal = MANAGE,
                  session: Session = SESSION) -> ReminderOut:
    """Send the current reminder now (it counts as that reminder: nobody gets it twice)."""
    web = request.app.state.web
    _slug(request, slug)
    if body.expected is not None:
        preview = _dry_run(session, request, slug)
        if len(preview.recipients) != body.expected:
            raise ApiError(409, f"{len(preview.recipients)} would be reminded now, not "
                           f"{body.expected}; check the dry run again", field="expected")
    report = service.remind(session, web.settings, slug, web.now(), dry_run=False)
    return _reminder(report, False)
