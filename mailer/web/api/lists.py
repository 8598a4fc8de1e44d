"""``/api/lists`` and ``/api/subscribers``: counts, search, create (double opt-in), erase."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.errors import NotFound
from mailer.services import subscriptions
from mailer.services.accounts import Principal
from mailer.services.lists import ListCounts, counts_of, create_list, edit_list, list_counts
from mailer.services.subscriptions import InvalidEmail, normalise_email
from mailer.web.api.deps import Id, Paging, get_session, paging, require
from mailer.web.api.errors import ERROR_RESPONSES, ApiError
from mailer.web.api.schemas import (
    ListIn,
    ListOut,
    ListPatch,
    Page,
    PersonalData,
    SubscribeIn,
    SubscribeOut,
    SubscriberOut,
)
from mailer.web.pages import client_ip

router = APIRouter(responses=ERROR_RESPONSES)
VIEW = Depends(require(Action.view))
MANAGE = Depends(require(Action.manage_subscribers))
SESSION = Depends(get_session)
STATUS = Query(None, pattern="^(active|unconfirmed|unsubscribed)$",
               description="Only subscriptions with this status (with list).")


def _list_out(c: ListCounts) -> ListOut:
    return ListOut(slug=c.slug, name=c.name, active=c.active, unconfirmed=c.unconfirmed,
                   unsubscribed=c.unsubscribed, brand=c.brand)


@router.get("/lists", response_model=list[ListOut], tags=["lists"])
def lists(me: Principal = VIEW, session: Session = SESSION) -> list[ListOut]:
    """Every list with its number of subscriptions per status."""
    return [_list_out(c) for c in list_counts(session)]


@router.get("/lists/{slug}", response_model=ListOut, tags=["lists"])
def one_list(slug: str, me: Principal = VIEW, session: Session = SESSION) -> ListOut:
    return _list_out(counts_of(session, slug))


@router.post("/lists", response_model=ListOut, status_code=201, tags=["lists"])
def add_list(body: ListIn, request: Request, me: Principal = MANAGE,
             session: Session = SESSION) -> ListOut:
    """Create a list, optionally of a named newsletter (``brand``)."""
    create_list(session, body.slug, body.name, description=body.description,
                public=body.public, double_opt_in=body.double_opt_in, language=body.language,
                brand=body.brand, settings=request.app.state.web.settings)
    return _list_out(counts_of(session, body.slug))


@router.patch("/lists/{slug}", response_model=ListOut, tags=["lists"])
def change_list(slug: str, body: ListPatch, request: Request, me: Principal = MANAGE,
                session: Session = SESSION) -> ListOut:
    """Change a list's name, description or newsletter (``brand``); mailings already
    planned keep the brand they were planned with."""
    edit_list(session, request.app.state.web.settings, slug, name=body.name,
              description=body.description, brand=body.brand)
    return _list_out(counts_of(session, slug))


AFTER = Query(None, max_length=320,
              description="Only those whose address sorts after this one: the last address "
                          "of the page before. Each next page then costs the same however "
                          "deep (page=N skips the N-1 pages before it); not with page.")


def _page(session: Session, q: str, list_slug: str | None, status: str | None,
          pages: Paging, after: str | None) -> Page[SubscriberOut]:
    if after is not None and pages.page != 1:
        raise ApiError(422, f"give either after or page, not both (page={pages.page}): after "
                            "starts the page after that address", field="after")
    found = subscriptions.search_subscribers(session, q, list_slug=list_slug, status=status,
                                             offset=pages.offset, limit=pages.per_page,
                                             after=after)
    return Page[SubscriberOut](
        items=[SubscriberOut(id=h.id, email=h.email, name=h.name, organisation=h.organisation,
                             language=h.language, lists=dict(h.lists)) for h in found.items],
        page=pages.page, per_page=pages.per_page, total=found.total)


@router.get("/lists/{slug}/subscribers", response_model=Page[SubscriberOut], tags=["lists"])
def list_subscribers(slug: str, q: str = Query("", max_length=200),
                     status: str | None = STATUS, pages: Paging = Depends(paging),
                     after: str | None = AFTER, me: Principal = VIEW,
                     session: Session = SESSION) -> Page[SubscriberOut]:
    """The list's subscribers, by address, optionally only one status."""
    return _page(session, q, slug, status, pages, after)


@router.get("/subscribers", response_model=Page[SubscriberOut], tags=["subscribers"])
def subscribers(q: str = Query("", max_length=200,
                               description="Part of the address, name or organisation."),
                pages: Paging = Depends(paging), after: str | None = AFTER,
                me: Principal = VIEW, session: Session = SESSION) -> Page[SubscriberOut]:
    """Find subscribers (case ignored), ordered by address."""
    return _page(session, q, None, None, pages, after)


@router.post("/subscribers", response_model=SubscribeOut, status_code=202,
             tags=["subscribers"])
def create_subscriber(body: SubscribeIn, request: Request, me: Principal = MANAGE,
                      session: Session = SESSION) -> SubscribeOut:
    """Sign someone up for a list with double opt-in: on a double opt-in list they get a
    confirmation e-mail and are subscribed when they follow its link (202 Accepted).
    The e-mail is queued with the sign-up and sent by the worker."""
    web = request.app.state.web
    lst = subscriptions.list_info(session, body.list)
    wording = (f"Signed up through the API by {me.email} for {lst.name}; "
               + ("confirmed by the subscriber from the e-mail link." if lst.double_opt_in
                  else "single opt-in list."))
    try:
        address = normalise_email(body.email)
    except InvalidEmail as exc:
        raise ApiError(422, exc.message, field="email") from None
    result = subscriptions.subscribe(
        session, web.links, lst=lst, email=address, now=web.now(),
        ip=client_ip(request), wording=wording, language=body.language, name=body.name,
        source=f"api:{me.email}", sender=web.settings.sender, settings=web.settings,
        notify=web.may_mail(address))
    return SubscribeOut(subscriber_id=result.subscriber_id, list=lst.slug,
                        outcome=result.outcome.value)


@router.get("/subscribers/{subscriber_id}", response_model=PersonalData,
            tags=["subscribers"])
def get_subscriber(subscriber_id: Id, me: Principal = MANAGE,
                   session: Session = SESSION) -> PersonalData:
    """Everything held on the person (the GDPR access report)."""
    return PersonalData.model_validate(subscriptions.access_report(session, subscriber_id))


@router.delete("/subscribers/{subscriber_id}", status_code=204, tags=["subscribers"],
               response_class=Response)
def delete_subscriber(subscriber_id: Id, me: Principal = MANAGE,
                      session: Session = SESSION) -> Response:
    """Erase the person (GDPR erasure); the consent log keeps only a hash of the address."""
    if not subscriptions.erase(session, subscriber_id, source=f"api:{me.email}"):
        raise NotFound(f"no subscriber with id {subscriber_id}")
    return Response(status_code=204)
