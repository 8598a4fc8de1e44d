"""Built-in registration for invitations: ``/register/{invitation}/{token}``.

Integration point: the form belongs to the invitations model (invite branch). Until that
is merged this route checks the signed link (tampered -> 400) and answers that the
registration is not open (404), so links in mail never break with a server error.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mailer.tokens import Purpose
from mailer.web.i18n import N_
from mailer.web.pages import PageError
from mailer.web.routes.common import read_token

router = APIRouter()


@router.get("/register/{invitation}/{token}")
async def register_page(request: Request, invitation: str, token: str) -> Response:
    read_token(request, Purpose.register, token)
    raise PageError(404, N_("Registration is not open"),
                    N_("This invitation has no registration form here. Use the registration "
                       "link or e-mail address given in the invitation."), "/")
