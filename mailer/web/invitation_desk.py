"""``RegistrationDesk`` over ``mailer.services.invitations``: what the registration pages use
in production.

Each call is one transaction; the page's look-ups read (never waiting for SQLite's write
lock), registering locks the invitation row (the seat rule holds under concurrent form
posts) and queues the confirmation mailing in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from mailer.config import Settings
from mailer.services import invitations as service
from mailer.store.db import reading, transaction
from mailer.web.registration import InvitationFacts, Registrant, RegistrationResult


class StoreDesk:
    """The registration pages' seam, implemented on the database and issues/ folder."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def facts(self, invitation_id: int) -> InvitationFacts | None:
        with reading(self.engine) as s:
            return service.form_facts(s, self.settings, invitation_id)

    def registrant(self, invitation_id: int, subscriber_id: int) -> Registrant | None:
        with reading(self.engine) as s:
            return service.form_registrant(s, invitation_id, subscriber_id)

    def register(self, invitation_id: int, subscriber_id: int, *, name: str,
                 organisation: str, now: datetime) -> RegistrationResult:
        with transaction(self.engine) as s:
            return service.register_by_form(s, self.settings, invitation_id, subscriber_id,
                                             name=name, organisation=organisation, now=now)
