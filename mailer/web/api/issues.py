"""``/api/issues`` (the workspace's issue folders, checked) and ``/api/mailings``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from mailer.authoring import load_document
from mailer.domain.content import Issue
from mailer.domain.media import MAX_UPLOAD_BYTES
from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.render.documents import options_for, render_document
from mailer.services import brands, clicks, test_sends
from mailer.services import mailings as svc
from mailer.services.accounts import Principal
from mailer.services.issues import check_issue
from mailer.services.mailings import MailingProgress
from mailer.services.media import add_file
from mailer.services.test_sends import IssueTest
from mailer.web.admin.issues import IssueSummary, issue_folder, list_issues, local_today, summarise
from mailer.web.api.deps import Id, Paging, get_session, paging, require
from mailer.web.api.errors import ERROR_RESPONSES, ApiError, about, api_text
from mailer.web.api.schemas import (
    ClicksOut,
    CopyStateOut,
    DryRunIn,
    DryRunOut,
    FileOut,
    IssueDetail,
    IssueOut,
    IssueTestIn,
    IssueTestOut,
    LinkClicksOut,
    ListPlanOut,
    MailingIn,
    MailingOut,
    Page,
    ProblemOut,
    ReasonOut,
    SenderHealthOut,
)
from mailer.web.api.segments import checked_target
from mailer.web.routes.clicks import csv_response

router = APIRouter(responses=ERROR_RESPONSES)
mailings_router = APIRouter(responses=ERROR_RESPONSES)
VIEW = Depends(require(Action.view))
SEND = Depends(require(Action.send_issues))
EDIT = Depends(require(Action.edit_issues))
SESSION = Depends(get_session)


def _issue(s: IssueSummary) -> IssueOut:
    return IssueOut(name=s.name, kind=s.kind, title=s.title, number=s.number, year=s.year,
                    errors=s.errors, warnings=s.warnings, lists=list(s.lists))


@router.get("/issues", response_model=list[IssueOut], tags=["issues"])
def issues(request: Request, me: Principal = VIEW) -> list[IssueOut]:
    """Every issue folder in the workspace, checked (errors must be fixed before sending)."""
    web = request.app.state.web
    return [_issue(s) for s in list_issues(web.settings, local_today(web.settings, web.now()),
                                           web.engine)]


@router.get("/issues/{name}", response_model=IssueDetail, tags=["issues"])
def issue(name: str, request: Request, me: Principal = VIEW) -> IssueDetail:
    """One issue with every problem the checks find (file, line, field)."""
    web = request.app.state.web
    loaded = check_issue(issue_folder(web.settings, name),
                         today=local_today(web.settings, web.now()), settings=web.settings,
                         engine=web.engine)
    base = _issue(summarise(loaded))
    return IssueDetail(**base.model_dump(), problems=[
        ProblemOut(message=api_text(p.message), file=p.file, line=p.line, field=p.field,
                   severity=p.severity) for p in loaded.problems])


@router.post("/issues/{name}/files", response_model=FileOut, status_code=201, tags=["issues"])
async def upload_file(name: str, request: Request, me: Principal = EDIT) -> FileOut:
    """Add a PDF or an image to the issue (multipart field ``file``; ``replace=1`` to put
    it in place of a file of the same name). Its URL is public once the issue is sent."""
    web = request.app.state.web
    folder = issue_folder(web.settings, name)
    async with request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ApiError(422, "send the file as multipart form field 'file'", field="file")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        added = await run_in_threadpool(add_file, folder, upload.filename, data,
                                        replace=form.get("replace") == "1")
    return FileOut(name=added.name, content_type=added.content_type, size=added.size,
                   url=f"{web.settings.base_url}/media/{name}/{added.name}")


def _mailing(m: MailingProgress) -> MailingOut:
    return MailingOut(id=m.id, kind=m.kind, name=m.name, status=m.status,
                      scheduled_at=m.scheduled_at, started_at=m.started_at,
                      finished_at=m.finished_at, counts=dict(m.counts), total=m.total,
                      note=m.note, health=SenderHealthOut.model_validate(m.health.as_dict())
                      if m.health is not None else None,
                      where=list(m.audience), segment=m.segment,
                      send_window=m.send_window,
                      reasons=[ReasonOut(status=r.status, reason=r.key, label=r.label,
                                         count=r.count, example=r.example)
                               for r in m.reasons])


@mailings_router.get("/mailings", response_model=Page[MailingOut], tags=["mailings"])
def mailings(pages: Paging = Depends(paging), me: Principal = VIEW,
             session: Session = SESSION) -> Page[MailingOut]:
    """Mailings, newest first, with their messages per status."""
    chosen = svc.progress(session, limit=pages.per_page, offset=pages.offset)
    return Page[MailingOut](items=[_mailing(m) for m in chosen], page=pages.page,
                            per_page=pages.per_page, total=svc.count_mailings(session))


@mailings_router.get("/mailings/{mailing_id}", response_model=MailingOut, tags=["mailings"])
def mailing(mailing_id: Id, me: Principal = VIEW, session: Session = SESSION) -> MailingOut:
    found = svc.progress(session, [mailing_id])
    if not found:
        raise ApiError(404, f"no mailing {mailing_id}")
    return _mailing(found[0])


@mailings_router.get("/mailings/{mailing_id}/clicks", response_model=ClicksOut,
                     tags=["mailings"])
def mailing_clicks(mailing_id: Id, me: Principal = VIEW,
                   session: Session = SESSION) -> ClicksOut:
    """Clicks per link and unique clickers of a mailing (never who, unless the workspace
    records clicks per person: then GET /mailings/{id}/clicks.csv has them)."""
    r = clicks.report(session, mailing_id)
    return ClicksOut(mailing_id=r.mailing_id, tracked=r.tracked, per_person=r.per_person,
                     sent=r.sent, clicks=r.clicks, unique_clickers=r.unique_clickers,
                     links=[LinkClicksOut(position=x.position + 1, url=x.url, clicks=x.clicks,
                                          unique_clickers=x.clickers) for x in r.links])


@mailings_router.get("/mailings/{mailing_id}/clicks.csv", tags=["mailings"])
def mailing_clicks_csv(mailing_id: Id, me: Principal = VIEW,
                       session: Session = SESSION) -> Response:
    """The click statistics as CSV (UTF-8)."""
    return csv_response(clicks.report(session, mailing_id))


@mailings_router.post("/mailings", response_model=MailingOut, status_code=201,
                      tags=["mailings"])
def create_mailing(body: MailingIn, request: Request, me: Principal = SEND,
                   session: Session = SESSION) -> MailingOut:
    """Send an issue to lists now, or schedule it (``at``). The issue must have no errors."""
    web = request.app.state.web
    folder = issue_folder(web.settings, body.issue)
    loaded = load_document(folder)
    if not loaded.ok:
        raise MailerError(f"issues/{body.issue} has problems; fix them first", loaded.errors)
    if not isinstance(loaded.document, Issue):
        raise ApiError(422, f"issues/{body.issue} is not a newsletter issue (its kind is "
                       f"{loaded.kind}); send an invitation with POST "
                       f"/api/invitations/{body.issue}/invite (it records its invitees, for "
                       "the reminders)", field="issue")
    lists = (body.lists if body.lists is not None
             else [] if body.segment else list(loaded.document.lists))
    if not lists and not body.segment:
        raise ApiError(422, "no lists: give lists, or add lists: to the issue", field="lists")
    if body.at is not None and body.at.tzinfo is None:
        raise ApiError(422, "give the time with a zone, e.g. 2023-06-15T08:00:00+02:00",
                       field="at")
    checked_target(session, lists=lists, where=body.where, segment=body.segment or "")
    with about("send_window"):
        svc.check_window(body.send_window)
    signature = brands.for_send(session, web.settings, issue_brand=loaded.document.brand,
                                issue=f"issues/{body.issue}/issue.yaml",
                                list_slugs=lists, segment=body.segment or "")
    rendered = render_document(loaded.document, loaded.kind,
                               options_for(web.settings, folder, brand=signature.brand))
    try:
        planned = svc.plan_issue(session, rendered, source=f"issues/{body.issue}",
                                 list_slugs=lists, at=body.at, now=web.now(),
                                 where=body.where, segment=body.segment or "",
                                 send_window=body.send_window, again=body.again,
                                 include_received=body.include_received,
                                 track_clicks=svc.TrackClicks.of(web.settings)
                                 if body.track_clicks else None, signature=signature,
                                 tz=web.settings.tz)
    except svc.AlreadySent as exc:
        raise ApiError(409, api_text(exc.message), field="again") from None
    return _mailing(svc.progress(session, [planned.mailing_id])[0])


def _test_out(test: IssueTest, worker: bool) -> IssueTestOut:
    return IssueTestOut(mailing_id=test.mailing_id, open=test.open, worker_running=worker,
                        state=f"/api/mailings/{test.mailing_id}/copies",
                        copies=[CopyStateOut(email=c.email, state=c.state,
                                             at=c.at, attempts=c.attempts, reply=c.reply,
                                             reason=c.reason) for c in test.copies])


@router.post("/issues/{name}/test", response_model=IssueTestOut, status_code=202,
             tags=["issues"])
def send_test(name: str, body: IssueTestIn, request: Request, me: Principal = SEND,
              session: Session = SESSION) -> IssueTestOut:
    """Queue a test copy of the issue (subject marked [TEST]) for each address: 202, not
    sent yet. A worker sends it (or the web server itself while no worker runs), and the
    server may refuse it: GET ``state`` until ``open`` is false to see each copy sent or
    refused with the server's reply."""
    web = request.app.state.web
    with about("addresses"):
        addresses = svc.test_addresses(",".join(body.addresses))
    folder = issue_folder(web.settings, name)
    loaded = load_document(folder)
    if not loaded.ok:
        raise MailerError(f"issues/{name} has problems; fix them before sending a test",
                          loaded.errors)
    with about("addresses"):
        signature = brands.for_send(
            session, web.settings, issue_brand=str(getattr(loaded.document, "brand", "") or ""),
            issue=f"issues/{name}/issue.yaml",
            list_slugs=[str(x) for x in getattr(loaded.document, "lists", [])], test=True)
    rendered = render_document(loaded.document, loaded.kind,
                               options_for(web.settings, folder, brand=signature.brand))
    with about("addresses"):
        planned = svc.plan_test(session, rendered, addresses, base_url=web.settings.base_url,
                                source=f"issues/{name}", now=web.now(), signature=signature)
    session.flush()
    found = test_sends.find_test(session, planned.mailing_id)
    assert found is not None
    return _test_out(found, test_sends.worker_running(session, web.now()))


@mailings_router.get("/mailings/{mailing_id}/copies", response_model=IssueTestOut,
                     tags=["mailings"])
def mailing_copies(mailing_id: Id, request: Request, me: Principal = VIEW,
                session: Session = SESSION) -> IssueTestOut:
    """A test mailing's copies, one per address, each in its state in the outbox (a
    newsletter's copies are counted per state by GET /mailings/{id})."""
    found = test_sends.find_test(session, mailing_id)
    if found is None:
        raise ApiError(404, f"no test mailing {mailing_id}; GET /api/mailings/{mailing_id} "
                       "counts any mailing's copies per state")
    return _test_out(found, test_sends.worker_running(session, request.app.state.web.now()))


@mailings_router.post("/mailings/dry-run", response_model=DryRunOut, tags=["mailings"])
def dry_run_mailing(body: DryRunIn, request: Request, me: Principal = SEND,
                    session: Session = SESSION) -> DryRunOut:
    """What POST /mailings with the same issue, lists, conditions or segment would queue
    now, per list with who is left out and why; changes nothing."""
    web = request.app.state.web
    loaded = load_document(issue_folder(web.settings, body.issue))
    if not isinstance(loaded.document, Issue):
        raise ApiError(422, f"issues/{body.issue} is not a newsletter issue that loads",
                       field="issue")
    lists = (body.lists if body.lists is not None
             else [] if body.segment else list(loaded.document.lists))
    if not lists and not body.segment:
        raise ApiError(422, "no lists: give lists, or add lists: to the issue", field="lists")
    checked_target(session, lists=lists, where=body.where, segment=body.segment or "")
    report = svc.dry_run(session, source=f"issues/{body.issue}", list_slugs=lists,
                         where=body.where, segment=body.segment or "", again=body.again,
                         include_received=body.include_received, tz=web.settings.tz)
    return DryRunOut(
        total=report.total, conditions=list(report.conditions), segment=report.segment,
        refused=api_text(report.refusal) or None,
        lists=[ListPlanOut(slug=p.slug, name=p.name, would_get=p.would_get,
                           not_matching=p.not_matching, already_received=p.already_received,
                           on_other_list=p.on_other_list, suppressed=p.suppressed,
                           unconfirmed=p.unconfirmed, unsubscribed=p.unsubscribed)
               for p in report.lists])


@mailings_router.post("/mailings/{mailing_id}/{action}", response_model=MailingOut,
                      tags=["mailings"])
def control(mailing_id: Id, action: str, request: Request, me: Principal = VIEW,
            session: Session = SESSION) -> MailingOut | Response:
    """``pause``, ``resume`` or ``cancel`` a mailing. Newsletters need the right to send
    issues; invitations and reminders the right to manage invitations."""
    if action not in ("pause", "resume", "cancel"):
        raise ApiError(404, "the action is pause, resume or cancel", field="action")
    found = svc.progress(session, [mailing_id])
    if not found:
        raise ApiError(404, f"no mailing {mailing_id}")
    needed = (Action.manage_invitations if found[0].kind in ("invitation", "reminder")
              else Action.send_issues)
    if not me.can(needed):
        raise ApiError(403, f"the role {me.role} may not {action} this mailing")
    svc.control(session, mailing_id, action, request.app.state.web.now())
    session.flush()
    return _mailing(svc.progress(session, [mailing_id])[0])
