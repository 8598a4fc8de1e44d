"""Invitation mail through the outbox: the invitation itself, reminders, registration
confirmations and the yearly re-confirmation, each rendered once and planned as one mailing.

The only place that knows both the invitation store and ``plan_mailing``; it runs inside
the caller's transaction, so the ledger or registration rows and the outbox rows commit
together (or not at all). ``InvitationMail`` is what ``mailer.schedule.reminders`` calls
through its ``InvitationMailer`` seam; this module imports nothing from ``schedule/``, so
the scheduler can use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.domain.invitation import Invitation, RegistrationMode
from mailer.domain.registration import RegistrationStatus
from mailer.domain.segments import Condition
from mailer.errors import MailerError
from mailer.links import Links
from mailer.render.documents import options_for
from mailer.render.engine import RenderOptions
from mailer.render.i18n import N_, Translator
from mailer.render.invitation import (
    render_confirmation,
    render_invitation,
    render_reconfirmation,
    render_reminder,
)
from mailer.render.types import RenderedMailing
from mailer.services.brands import Signature, for_send, list_signature
from mailer.services.mailings import plan_mailing
from mailer.store.invitations import invitee_addresses, not_invited_ids, record_invitees
from mailer.store.lists import brands_of, get_list
from mailer.store.mailings import latest_brand
from mailer.store.models import (
    InvitationRow,
    MailingKind,
    MailingList,
    RegistrationRow,
    Subscriber,
)
from mailer.store.outbox import PlannedRecipient


def render_problems(settings: Settings, slug: str, invitation: Invitation) -> list[str]:
    """The invitation and each of its reminders rendered as they would go out (the
    workspace's templates, its [brand] look), for 'mailer invitations check': a file the
    checks pass could still make a template fail, and the admin's send then answered
    500. One line per mail that does not render, naming it and the error."""
    options = options_for(settings, Path(settings.workspace) / "issues" / slug)
    mails: list[tuple[str, str | None]] = [("the invitation", None)]
    mails += [(f"reminder {key}", key) for key in invitation.reminders]
    problems = []
    for what, key in mails:
        try:
            if key is None:
                render_invitation(invitation, options)
            else:
                render_reminder(invitation, key, options)
        except MailerError as exc:  # names the template, its line and what is wrong
            problems.append(f"{what} does not render: {exc}")
        except Exception as exc:  # whatever else a template raises is the check's finding
            problems.append(f"{what} does not render: {type(exc).__name__}: {exc}")
    return problems


def _name(invitation: Invitation, message: str, **values: object) -> str:
    """A mailing's name on the admin's list, in the invitation's language."""
    return Translator(invitation.language).gettext(message) % values


class InvitationMail:
    """Plans invitation mail as mailings in the outbox (``InvitationMailer``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.links = Links.of(settings)

    def signature(self, session: Session, invitation: Invitation, slug: str,
                  list_slugs: Sequence[str] = (),
                  invited: Callable[[], Sequence[PlannedRecipient]] = tuple) -> Signature:
        """How the invitation's mail signs and looks: its own ``brand:``, else the brand
        of its ``lists:`` (and ``list_slugs``, the list invited now), else [brand].
        Inviting lists of different brands is refused (name the brand in issue.yaml), so
        the invitation, its reminders and its confirmations sign alike.

        Should ``lists:`` be edited later to span two newsletters, the follow-ups (no
        ``list_slugs``: a reminder, a registration's confirmation) are not refused with
        it, a person who registers still gets their confirmation: they sign as the
        newsletter of the list their recipients (``invited``, asked only then) were
        invited through when that is one, else as the invitation that went out last,
        else as [brand]."""
        lists = list(dict.fromkeys([*invitation.lists, *list_slugs]))
        try:
            return for_send(session, self.settings, issue_brand=invitation.brand,
                            issue=f"issues/{slug}", list_slugs=lists, test=True)
        except MailerError:
            if list_slugs:
                raise
        brands = brands_of(session, (r.list_id for r in invited() if r.list_id is not None))
        if len(brands) != 1:
            brands = {latest_brand(session, f"invitation:{slug}", MailingKind.invitation) or ""}
        return list_signature(self.settings, brands.pop())

    def options(self, slug: str, signature: Signature | None = None) -> RenderOptions:
        return options_for(self.settings, Path(self.settings.workspace) / "issues" / slug,
                           brand=signature.brand if signature else "")

    def recipients(self, session: Session, row: InvitationRow, slug: str,
                   subscriber_ids: list[int], *, personal_link: bool) -> list[PlannedRecipient]:
        """Explicit recipients; the list they were invited through is kept on the row so
        delivery re-checks consent at send time (unsubscribed meanwhile → skipped)."""
        return [PlannedRecipient(
            email=a.email, name=a.name, subscriber_id=a.subscriber_id, list_id=a.list_id,
            fields={"register_url": self.links.register(slug, a.subscriber_id, row.id)}
            if personal_link else None)
            for a in invitee_addresses(session, row, subscriber_ids)]

    def plan(self, session: Session, rendered: RenderedMailing, kind: MailingKind, *,
             name: str, source: str, recipients: list[PlannedRecipient],
             now: datetime, signature: Signature,
             expires_at: datetime | None = None) -> int:
        """Plan one mailing to ``recipients``, signed as ``signature``; returns its id."""
        mailing, _ = plan_mailing(session, rendered, kind=kind, now=now, name=name,
                                  source=source, recipients=recipients, expires_at=expires_at,
                                  signature=signature)
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

    def plan_invitation(self, session: Session, *, slug: str, invitation: Invitation,
                        row: InvitationRow, list_slug: str, now: datetime,
                        conditions: Sequence[Condition] = ()) -> tuple[int, int]:
        """Invite every active subscriber of ``list_slug`` not invited yet (who meets every
        one of ``conditions``): one mailing, one outbox row each, and the invitee rows.
        Returns (mailing id, people invited)."""
        list_id = get_list(session, list_slug).id
        targets = not_invited_ids(session, row, list_id, conditions)
        if not targets:
            return 0, 0
        signed = self.signature(session, invitation, slug, [list_slug])
        rendered = render_invitation(invitation, self.options(slug, signed))
        form = invitation.registration.mode is RegistrationMode.form
        recipients = [PlannedRecipient(email=r.email, name=r.name,
                                       subscriber_id=r.subscriber_id, list_id=list_id,
                                       fields=r.fields)
                      for r in self.recipients(session, row, slug, targets, personal_link=form)]
        mailing_id = self.plan(session, rendered, MailingKind.invitation,
                               name=_name(invitation, N_("%(slug)s: invitation"), slug=slug),
                               source=f"invitation:{slug}",
                               recipients=recipients, now=now, signature=signed,
                               expires_at=row.deadline)
        invited = record_invitees(session, row, list_slug=list_slug, now=now,
                                  mailing_id=mailing_id, conditions=conditions)
        return mailing_id, invited

    def plan_reminder(self, session: Session, *, slug: str, invitation: Invitation,
                      row: InvitationRow, offset_key: str, subscriber_ids: list[int],
                      now: datetime) -> int:
        form = invitation.registration.mode is RegistrationMode.form
        recipients = self.recipients(session, row, slug, subscriber_ids, personal_link=form)
        signed = self.signature(session, invitation, slug, invited=lambda: recipients)
        rendered = render_reminder(invitation, offset_key, self.options(slug, signed))
        return self.plan(session, rendered, MailingKind.reminder,
                         name=_name(invitation, N_("%(slug)s: reminder %(offset)s"),
                                    slug=slug, offset=offset_key),
                         source=f"invitation:{slug}:remind:{offset_key}",
                         recipients=recipients,
                         # worthless after the deadline, even if SMTP was down until then
                         now=now, signature=signed, expires_at=row.deadline)

    def plan_reconfirmation(self, session: Session, *, slug: str, invitation: Invitation,
                            row: InvitationRow, year: int, subscriber_ids: list[int],
                            now: datetime) -> int:
        # The template's answer button is %%register_url%%; here it opens the yes/no page.
        recipients = [
            PlannedRecipient(email=r.email, name=r.name, subscriber_id=r.subscriber_id,
                             list_id=r.list_id, fields={"register_url": self.links.reconfirm(
                                 slug, year, r.subscriber_id or 0, row.id)})
            for r in self.recipients(session, row, slug, subscriber_ids, personal_link=False)]
        signed = self.signature(session, invitation, slug, invited=lambda: recipients)
        rendered = render_reconfirmation(invitation, year, self.options(slug, signed))
        return self.plan(session, rendered, MailingKind.confirmation,
                         name=_name(invitation, N_("%(slug)s: confirmation %(year)s"),
                                    slug=slug, year=year),
                         source=f"invitation:{slug}:reconfirm:{year}",
                         recipients=recipients, now=now, signature=signed)

    def plan_confirmation(self, session: Session, *, slug: str, invitation: Invitation,
                          subscriber: Subscriber, registration: RegistrationRow,
                          now: datetime) -> int:
        """The registration confirmation to one person, in their language, with the
        meetings as .ics (not for the wait list). Returns the mailing id."""
        row = session.get(InvitationRow, registration.invitation_id)
        signed = self.signature(session, invitation, slug, invited=lambda: self.recipients(
            session, row, slug, [subscriber.id], personal_link=False) if row else [])
        # "Unsubscribe" does what the newsletter's does: it leaves the list the person was
        # invited through. The copy itself is not list mail (a confirmation goes out even
        # to someone who left the list since). Invited through no list: no such link.
        invited_through = next((a.list_id for a in invitee_addresses(
            session, row, [subscriber.id]) if a.list_id is not None), None) if row else None
        rendered = render_confirmation(
            invitation, slug, domain=self.settings.sender.domain, now=now,
            waitlisted=registration.status is RegistrationStatus.waitlisted,
            options=self.options(slug, signed), language=subscriber.language or None,
            unsubscribe_link=invited_through is not None)
        recipients = [PlannedRecipient(
            email=subscriber.email, name=subscriber.name or "", subscriber_id=subscriber.id,
            fields=None if invited_through is None else {
                "unsubscribe_url": self.links.unsubscribe(subscriber.id, invited_through)})]
        return self.plan(session, rendered, MailingKind.confirmation,
                         name=_name(invitation, N_("%(slug)s: confirmation to subscriber "
                                                   "%(id)s"), slug=slug, id=subscriber.id),
                         source=f"invitation:{slug}:confirm", recipients=recipients, now=now,
                         signature=signed)
