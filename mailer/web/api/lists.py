"""``/api/lists`` and ``/api/subscribers``: counts, search, create (double opt-in), erase."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.errors import NotFound
from mailer.services.accounts import Principal
from mailer.services.lists import ListCounts, counts_of, get_list, list_counts
from mailer.store.models import Subscriber
from mailer.store.search import search_subscribers
from mailer.store.subscribers import erase_subscriber, personal_data
from mailer.store.subscriptions import (
    InvalidEmail,
    SubscribeOutcome,
    email_hash,
    normalise_email,
    subscribe,
)
from mailer.web.api.deps import Id, Paging, get_session, paging, require
from mailer.web.api.errors import ERROR_RESPONSES, ApiError
from mailer.web.api.schemas import (
    ListOut,
    Page,
    PersonalData,
    SubscribeIn,
    SubscribeOut,
    SubscriberOut,
)
from mailer.web.mail import SubscriptionMail, build_message, send_mail
from mailer.web.pages import client_ip

router = APIRouter(responses=ERROR_RESPONSES)
VIEW = Depends(require(Action.view))
MANAGE = Depends(require(Action.manage_subscribers))
SESSION = Depends(get_session)
STATUS = Query(None, pattern="^(active|unconfirmed|unsubscribed)$",
               description="Only subscriptions with this status (with list).")


def _list_out(c: ListCounts) -> ListOut:
    return ListOut(slug=c.slug, name=c.name, active=c.active, unconfirmed=c.unconfirmed,
                   unsubscribed=c.unsubscribed)


@router.get("/lists", response_model=list[ListOut], tags=["lists"])
def lists(me: Principal = VIEW, session: Session = SESSION) -> list[ListOut]:
    """Every list with its number of subscriptions per status."""
    return [_list_out(c) for c in list_counts(session)]


@router.get("/lists/{slug}", response_model=ListOut, tags=["lists"])
def one_list(slug: str, me: Principal = VIEW, session: Session = SESSION) -> ListOut:
    return _list_out(counts_of(session, slug))


def _page(session: Session, q: str, list_slug: str | None, status: str | None,
          pages: Paging) -> Page[SubscriberOut]:
    found = search_subscribers(session, q, list_slug=list_slug, status=status,
                               offset=pages.offset, limit=pages.per_page)
    return Page[SubscriberOut](
        items=[SubscriberOut(id=h.id, email=h.email, name=h.name, organisation=h.organisation,
                             language=h.language, lists=dict(h.lists)) for h in found.items],
        page=pages.page, per_page=pages.per_page, total=found.total)


@router.get("/lists/{slug}/subscribers", response_model=Page[SubscriberOut], tags=["lists"])
def list_subscribers(slug: str, q: str = Query("", max_length=200),
                     status: str | None = STATUS, pages: Paging = Depends(paging),
                     me: Principal = VIEW, session: Session = SESSION) -> Page[SubscriberOut]:
    """The list's subscribers, by address, optionally only one status."""
    return _page(session, q, slug, status, pages)


@router.get("/subscribers", response_model=Page[SubscriberOut], tags=["subscribers"])
def subscribers(q: str = Query("", max_length=200,
                               description="Part of the address, name or organisation."),
                pages: Paging = Depends(paging), me: Principal = VIEW,
                session: Session = SESSION) -> Page[SubscriberOut]:
    """Find subscribers (case ignored), ordered by address."""
    return _page(session, q, None, None, pages)


@router.post("/subscribers", response_model=SubscribeOut, status_code=202,
             tags=["subscribers"])
def create_subscriber(body: SubscribeIn, request: Request, background: BackgroundTasks,
                      me: Principal = MANAGE, session: Session = SESSION) -> SubscribeOut:
    """Sign someone up for a list with double opt-in: on a double opt-in list they get a
    confirmation e-mail and are subscribed when they follow its link (202 Accepted)."""
    web = request.app.state.web
    lst = get_list(session, body.list)
    wording = (f"Signed up through the API by {me.email} for {lst.name}; "
               + ("confirmed by the subscriber from the e-mail link." if lst.double_opt_in
                  else "single opt-in list."))
    try:
        address = normalise_email(body.email)
        result = subscribe(session, address, lst, now=web.now(), ip=client_ip(request),
                           wording=wording, language=body.language, name=body.name,
                           source=f"api:{me.email}")
    except InvalidEmail as exc:
        raise ApiError(422, exc.message, field="email") from None
    if web.per_address.hit(email_hash(address), web.monotonic()):
        links = web.links
        link = (links.confirm(result.subscriber_id, lst.id)
                if result.outcome == SubscribeOutcome.pending
                else links.preferences(result.subscriber_id))
        mail = SubscriptionMail(to=address, language=body.language,
                                list_name=lst.name, outcome=result.outcome, link=link,
                                unsubscribe_url=links.unsubscribe(result.subscriber_id, lst.id))
        background.add_task(send_mail, web.settings, build_message(web.settings, mail))
    return SubscribeOut(subscriber_id=result.subscriber_id, list=lst.slug,
                        outcome=result.outcome.value)


def _person(session: Session, subscriber_id: int) -> Subscriber:
    person = session.get(Subscriber, subscriber_id)
    if person is None:
        raise NotFound(f"no subscriber with id {subscriber_id}")
    return person


@router.get("/subscribers/{subscriber_id}", response_model=PersonalData,
            tags=["subscribers"])
def get_subscriber(subscriber_id: Id, me: Principal = MANAGE,
                   session: Session = SESSION) -> PersonalData:
    """Everything held on the person (the GDPR access report)."""
    return PersonalData.model_validate(personal_data(session, _person(session, subscriber_id)))


@router.delete("/subscribers/{subscriber_id}", status_code=204, tags=["subscribers"],
               response_class=Response)
def delete_subscriber(subscriber_id: Id, me: Principal = MANAGE,
                      session: Session = SESSION) -> Response:
    """Erase the person (GDPR erasure); the consent log keeps only a hash of the address."""
    erase_subscriber(session, _person(session, subscriber_id), source=f"api:{me.email}")
    return Response(status_code=204)
