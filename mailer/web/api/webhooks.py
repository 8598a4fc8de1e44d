"""``/api/webhooks``: the endpoints that receive signed events, and their delivery log
(admins only, as in the admin: the events carry personal data to another system)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services import webhooks
from mailer.services.accounts import Principal
from mailer.web.api.deps import Id, get_session, require
from mailer.web.api.errors import ERROR_RESPONSES
from mailer.web.api.schemas import WebhookAttemptOut, WebhookCreated, WebhookIn, WebhookOut

router = APIRouter(responses=ERROR_RESPONSES, tags=["webhooks"])
ADMIN = Depends(require(Action.manage_users))
SESSION = Depends(get_session)


def _out(ep: webhooks.EndpointInfo) -> WebhookOut:
    return WebhookOut(id=ep.id, url=ep.url, events=ep.events, description=ep.description,
                      enabled=ep.enabled, failing_since=ep.failing_since,
                      disabled_reason=ep.disabled_reason, delivered=ep.delivered,
                      waiting=ep.pending)


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(me: Principal = ADMIN, session: Session = SESSION) -> list[WebhookOut]:
    """Every endpoint with its state and deliveries."""
    return [_out(ep) for ep in webhooks.endpoints(session)]


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
def create_webhook(body: WebhookIn, me: Principal = ADMIN,
                   session: Session = SESSION) -> WebhookCreated:
    """Add an endpoint; the answer holds its signing secret (shown only here)."""
    ep, secret = webhooks.add_endpoint(session, body.url, body.events, secret=body.secret,
                                       description=body.description)
    return WebhookCreated(**_out(ep).model_dump(), secret=secret)


@router.get("/webhooks/{endpoint_id}", response_model=WebhookOut)
def get_webhook(endpoint_id: Id, me: Principal = ADMIN,
                session: Session = SESSION) -> WebhookOut:
    return _out(webhooks.get_endpoint(session, endpoint_id))


@router.get("/webhooks/{endpoint_id}/log", response_model=list[WebhookAttemptOut])
def webhook_log(endpoint_id: Id, limit: int = Query(100, ge=1, le=1000),
                me: Principal = ADMIN, session: Session = SESSION) -> list[WebhookAttemptOut]:
    """The endpoint's delivery attempts, newest first."""
    return [WebhookAttemptOut(at=ln.at, event_id=ln.event_id, type=ln.type, attempt=ln.attempt,
                              status=ln.status, ok=ln.ok, error=ln.error,
                              milliseconds=ln.milliseconds)
            for ln in webhooks.endpoint_log(session, endpoint_id, limit)]


@router.post("/webhooks/{endpoint_id}/enable", response_model=WebhookOut)
def enable_webhook(endpoint_id: Id, me: Principal = ADMIN,
                   session: Session = SESSION) -> WebhookOut:
    """Switch an endpoint on again; its waiting events go out in order."""
    return _out(webhooks.enable_endpoint(session, endpoint_id))


@router.delete("/webhooks/{endpoint_id}", status_code=204, response_class=Response)
def delete_webhook(endpoint_id: Id, me: Principal = ADMIN,
                   session: Session = SESSION) -> Response:
    """Remove an endpoint with its waiting events and its log."""
    webhooks.remove_endpoint(session, endpoint_id)
    return Response(status_code=204)
