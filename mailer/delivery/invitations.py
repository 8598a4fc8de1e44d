"""Invitation mail through the outbox: the invitation itself, reminders, confirmations and
the yearly re-confirmation, each rendered once and planned as one mailing.

This is the only module that knows both the invitation store and delivery's
``plan_mailing``; it runs inside the caller's transaction, so the ledger rows and the
outbox rows commit together (or not at all).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.domain.invitation import Invitation, RegistrationMode, refuse_if_closed
from mailer.links import Links
from mailer.render.documents import options_for
from mailer.render.engine import RenderOptions
from mailer.render.invitation import (
    render_confirmation,
    render_invitation,
    render_reconfirmation,
    render_reminder,
)
from mailer.render.types import RenderedMailing
from mailer.services.mailings import plan_mailing
from mailer.store.invitations import record_invitees
from mailer.store.lists import get_list
from mailer.store.models import (
    InvitationRow,
    Invitee,
    MailingKind,
    MailingList,
    RegistrationRow,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.outbox import PlannedRecipient
from mailer.tokens import Tokens


class DeliveryInvitationMailer:
    """``InvitationMailer`` on top of delivery's outbox (see mailer.schedule.reminders)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.links = Links(settings.base_url, Tokens(settings.signing_key()))

    def options(self, slug: str) -> RenderOptions:
        return options_for(self.settings, Path(self.settings.workspace) / "issues" / slug)

    def _recipients(self, session: Session, row: InvitationRow, slug: str,
                    subscriber_ids: list[int], *, personal_link: bool) -> list[PlannedRecipient]:
        """Explicit recipients; the list they were invited through is kept on the row so
        delivery re-checks consent at send time (unsubscribed meanwhile → skipped)."""
        rows = session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name, Invitee.list_id)
            .outerjoin(Invitee, (Invitee.subscriber_id == Subscriber.id)
                       & (Invitee.invitation_id == row.id))
            .where(Subscriber.id.in_(subscriber_ids))
            .order_by(Subscriber.id)).all()
        return [PlannedRecipient(
            email=email, name=name or "", subscriber_id=sid, list_id=list_id,
            fields={"register_url": self.links.register(slug, sid, row.id)}
            if personal_link else None) for sid, email, name, list_id in rows]

    def _plan(self, session: Session, rendered: RenderedMailing, kind: MailingKind, *,
              name: str, source: str, recipients: list[PlannedRecipient],
              now: datetime, expires_at: datetime | None = None) -> int:
        mailing, _ = plan_mailing(session, rendered, kind=kind, now=now, name=name,
                                  source=source, recipients=recipients, expires_at=expires_at)
        list_ids = sorted({r.list_id for r in recipients if r.list_id is not None})
        if list_ids:
            # The recipients are explicit (each with a personal link), but they got this
            # because of a list: mark the mailing as list mail so every copy carries
            # List-Id and RFC 8058 List-Unsubscribe for the list on its outbox row. The
            # mailing is sending already, so nothing re-plans these lists.
            first = session.get(MailingList, list_ids[0])
            mailing.list_ids = list_ids
            if first is not None:
                mailing.headers = {**(mailing.headers or {}), "list_slug": first.slug,
                                   "list_name": first.name}
            session.flush()
        return int(mailing.id)

    def plan_reminder(self, session: Session, *, slug: str, invitation: Invitation,
                      row: InvitationRow, offset_key: str, subscriber_ids: list[int],
                      now: datetime) -> int:
        rendered = render_reminder(invitation, offset_key, self.options(slug))
        form = invitation.registration.mode is RegistrationMode.form
        return self._plan(session, rendered, MailingKind.reminder,
                          name=f"{slug}: påminnelse {offset_key}",
                          source=f"invitation:{slug}:remind:{offset_key}",
                          recipients=self._recipients(session, row, slug, subscriber_ids,
                                                      personal_link=form),
                          # worthless after the deadline, even if SMTP was down until then
                          now=now, expires_at=row.deadline)

    def plan_reconfirmation(self, session: Session, *, slug: str, invitation: Invitation,
                            row: InvitationRow, year: int, subscriber_ids: list[int],
                            now: datetime) -> int:
        rendered = render_reconfirmation(invitation, year, self.options(slug))
        # The template's answer button is %%register_url%%; here it opens the yes/no page.
        recipients = [
            PlannedRecipient(email=r.email, name=r.name, subscriber_id=r.subscriber_id,
                             list_id=r.list_id, fields={"register_url": self.links.reconfirm(
                                 slug, year, r.subscriber_id or 0, row.id)})
            for r in self._recipients(session, row, slug, subscriber_ids, personal_link=False)]
        return self._plan(session, rendered, MailingKind.confirmation,
                          name=f"{slug}: bekräftelse {year}",
                          source=f"invitation:{slug}:reconfirm:{year}",
                          recipients=recipients, now=now)


def send_invitation(session: Session, settings: Settings, slug: str, invitation: Invitation,
                    row: InvitationRow, *, list_slug: str, now: datetime) -> tuple[int, int]:
    """Invite every active subscriber of ``list_slug`` not invited yet: one mailing, one
    outbox row each. Returns (mailing id, people invited)."""
    refuse_if_closed(invitation, now, "send the invitation")
    mailer = DeliveryInvitationMailer(settings)
    lst_id = get_list(session, list_slug).id
    already = set(session.scalars(select(Invitee.subscriber_id)
                                  .where(Invitee.invitation_id == row.id)))
    targets = [sid for sid in session.scalars(
        select(Subscription.subscriber_id).where(Subscription.list_id == lst_id,
                                                 Subscription.status == SubscriptionStatus.active)
    ) if sid not in already]
    if not targets:
        return 0, 0
    rendered = render_invitation(invitation, mailer.options(slug))
    form = invitation.registration.mode is RegistrationMode.form
    recipients = [PlannedRecipient(email=r.email, name=r.name, subscriber_id=r.subscriber_id,
                                   list_id=lst_id, fields=r.fields)
                  for r in mailer._recipients(session, row, slug, targets, personal_link=form)]
    mailing_id = mailer._plan(session, rendered, MailingKind.invitation,
                              name=f"{slug}: inbjudan", source=f"invitation:{slug}",
                              recipients=recipients, now=now, expires_at=row.deadline)
    invited = record_invitees(session, row, list_slug=list_slug, now=now, mailing_id=mailing_id)
    return mailing_id, invited


def send_confirmation(session: Session, settings: Settings, slug: str, row: InvitationRow,
                      subscriber: Subscriber, registration: RegistrationRow,
                      now: datetime) -> int:
    """The registration confirmation (with the meetings as .ics) to one person."""
    from mailer.domain.registration import RegistrationStatus
    from mailer.invitation_files import load_invitation

    invitation = load_invitation(settings.workspace, slug, timezone=settings.timezone)
    mailer = DeliveryInvitationMailer(settings)
    rendered = render_confirmation(
        invitation, slug, domain=settings.sender.domain, now=now,
        waitlisted=registration.status is RegistrationStatus.waitlisted,
        options=mailer.options(slug))
    recipients = [PlannedRecipient(email=subscriber.email, name=subscriber.name,
                                   subscriber_id=subscriber.id)]
    return mailer._plan(session, rendered, MailingKind.confirmation,
                        name=f"{slug}: bekräftelse till prenumerant {subscriber.id}",
                        source=f"invitation:{slug}:confirm", recipients=recipients, now=now)
