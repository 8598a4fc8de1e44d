"""Registrations: register, cancel, transfer a seat, and seats per organisation.

Every change takes the invitation row lock first (``get_invitation(lock=True)`` in the
caller's transaction), so two registrations from one organisation cannot both take the
last seat: on PostgreSQL the second waits on FOR UPDATE, on SQLite on BEGIN IMMEDIATE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.domain.addresses import email_key
from mailer.domain.findings import msg, msgn
from mailer.domain.organisations import canonical
from mailer.domain.registration import (
    RegistrationHow,
    RegistrationStatus,
    SeatOutcome,
    check_seat,
    seats_full_message,
)
from mailer.domain.subscriber_rows import guess_org_kind, organisation_key
from mailer.domain.text import clean_line
from mailer.errors import MailerError, NotFound
from mailer.store import webhooks
from mailer.store.models import (
    InvitationRow,
    Organisation,
    OrgKind,
    RegistrationRow,
    Subscriber,
)
from mailer.store.subscriptions import normalise_email


class SeatsFull(MailerError):
    """The organisation's seats are taken and the invitation has no wait list."""


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))


def get_subscriber(session: Session, email: str) -> Subscriber:
    sub = find_subscriber(session, email)
    if sub is None:
        raise NotFound(msg("no subscriber %(email)r; add them with --name and "
                           "--organisation, or import them first (mailer subscribers "
                           "import)", email=email).with_admin(msg(
            "no subscriber %(email)r; fill in the name and the organisation to add them, or "
            "import them to a list first", email=email)), field="email")
    return sub


def find_or_create_organisation(session: Session, name: str) -> Organisation:
    name = canonical(clean_line(name))
    if not name:
        raise MailerError(msg("an organisation name is empty"))
    key = organisation_key(name)
    org = session.scalar(select(Organisation).where(Organisation.name_key == key))
    if org is None:
        org = Organisation(name=name, name_key=key, kind=OrgKind(guess_org_kind(name)))
        session.add(org)
        session.flush()
    return org


def ensure_subscriber(session: Session, email: str, *, name: str = "",
                      organisation: str = "") -> Subscriber:
    """The subscriber with this e-mail, created (on no list) when name and organisation are
    given: a participant need not be on any list."""
    sub = find_subscriber(session, email)
    if sub is not None:
        return sub
    if not (name.strip() and organisation.strip()):
        raise NotFound(msg("no subscriber %(email)r; give --name and --organisation to add "
                           "them", email=email).with_admin(msg(
            "no subscriber %(email)r; fill in the name and the organisation to add them",
            email=email)).with_api(msg(
                "no subscriber %(email)r; give name and organisation to add them",
                email=email)), field="email")
    normal = normalise_email(email)
    org = find_or_create_organisation(session, organisation)
    sub = Subscriber(email=normal, email_key=email_key(normal), name=name.strip(),
                     organisation_id=org.id, attributes={})
    session.add(sub)
    session.flush()
    return sub


def holders(session: Session, invitation_id: int, organisation_id: int) -> list[RegistrationRow]:
    """The registrations holding the organisation's seats, first come first."""
    return list(session.scalars(
        select(RegistrationRow)
        .where(RegistrationRow.invitation_id == invitation_id,
               RegistrationRow.organisation_id == organisation_id,
               RegistrationRow.status == RegistrationStatus.registered)
        .order_by(RegistrationRow.registered_at, RegistrationRow.id)))


def registration_of(session: Session, invitation_id: int,
                    subscriber_id: int) -> RegistrationRow | None:
    """The person's registration row for the invitation, in any status."""
    return session.scalar(select(RegistrationRow).where(
        RegistrationRow.invitation_id == invitation_id,
        RegistrationRow.subscriber_id == subscriber_id))


def _label(sub: Subscriber) -> str:
    return f"{sub.name} <{sub.email}>" if sub.name else sub.email


@dataclass(frozen=True, slots=True)
class Registered:
    """What happened to one registration request."""

    registration: RegistrationRow
    outcome: SeatOutcome | None  # None: already registered, nothing changed
    message: str


def register(session: Session, invitation: InvitationRow, subscriber: Subscriber, *,
             how: RegistrationHow, now: datetime, source: str = "", note: str = "",
             organisation: Organisation | None = None, late_ok: bool = False) -> Registered:
    """Register ``subscriber`` (caller holds the invitation lock). Refuses with
    ``SeatsFull`` when the organisation's seats are taken and there is no wait list."""
    if now >= invitation.deadline and not late_ok:
        local = invitation.deadline.astimezone(ZoneInfo(invitation.timezone))
        raise MailerError(msg(
            "registration for %(invitation)s closed at %(deadline)s (%(zone)s); a coordinator "
            "can still register someone on purpose ('mailer registrations add --late', or "
            "'after the deadline' in the admin)", invitation=invitation.slug,
            deadline=f"{local:%Y-%m-%d %H:%M}", zone=invitation.timezone).with_admin(msg(
                "registration for %(invitation)s closed at %(deadline)s (%(zone)s); tick "
                "'Accept after the deadline' to register someone on purpose",
                invitation=invitation.slug, deadline=f"{local:%Y-%m-%d %H:%M}",
                zone=invitation.timezone)).with_api(msg(
                    "registration for %(invitation)s closed at %(deadline)s (%(zone)s); send "
                    "\"late\": true to register someone on purpose",
                    invitation=invitation.slug, deadline=f"{local:%Y-%m-%d %H:%M}",
                    zone=invitation.timezone)))
    org = organisation or subscriber.organisation
    if org is None:
        raise MailerError(msg("%(email)s has no organisation, and seats are counted per "
                              "organisation; give one with --organisation",
                              email=subscriber.email).with_admin(msg(
            "%(email)s has no organisation, and seats are counted per organisation; fill in "
            "the organisation", email=subscriber.email)).with_api(msg(
                "%(email)s has no organisation, and seats are counted per organisation; give "
                "organisation", email=subscriber.email)), field="organisation")
    row = registration_of(session, invitation.id, subscriber.id)
    if row is not None and row.status in (RegistrationStatus.registered,
                                          RegistrationStatus.waitlisted):
        return Registered(row, None, msg("%(email)s is already %(status)s",
                                         email=subscriber.email,
                                         status=msg(row.status.value)))
    taken = holders(session, invitation.id, org.id)
    seat = check_seat(len(taken), invitation.seats_max, waitlist=invitation.waitlist)
    if seat.outcome is SeatOutcome.full:
        raise SeatsFull(seats_full_message(org.name, [_label(h.subscriber) for h in taken],
                                           invitation.seats_max))
    status = (RegistrationStatus.registered if seat.outcome is SeatOutcome.registered
              else RegistrationStatus.waitlisted)
    if row is None:
        row = RegistrationRow(invitation_id=invitation.id, subscriber_id=subscriber.id,
                              extra={})
        session.add(row)
    row.organisation_id = org.id
    row.status = status
    row.how = how
    row.source = source
    row.note = note
    row.transferred_to_id = None
    row.registered_at = now
    row.updated_at = now
    session.flush()
    if status is RegistrationStatus.waitlisted:
        said = seats_full_message(org.name, [_label(h.subscriber) for h in taken],
                                 invitation.seats_max, waitlist=True)
    else:
        said = msgn("registered %(email)s for %(organisation)s (%(taken)s of %(n)s seat)",
                    "registered %(email)s for %(organisation)s (%(taken)s of %(n)s seats)",
                    invitation.seats_max, email=subscriber.email, organisation=org.name,
                    taken=len(taken) + 1)
    webhooks.registration_changed(session, "registration.created", row, invitation, subscriber,
                                  now=now)
    return Registered(row, seat.outcome, said)


def _active_row(session: Session, invitation: InvitationRow,
                subscriber: Subscriber) -> RegistrationRow:
    row = registration_of(session, invitation.id, subscriber.id)
    if row is None or row.status not in (RegistrationStatus.registered,
                                         RegistrationStatus.waitlisted):
        if row is None:
            raise MailerError(msg("%(email)s has no registration for %(invitation)s; nothing "
                                  "to change", email=subscriber.email,
                                  invitation=invitation.slug))
        raise MailerError(msg("%(email)s is %(status)s for %(invitation)s; nothing to change",
                              email=subscriber.email, status=msg(row.status.value),
                              invitation=invitation.slug))
    return row


@dataclass(frozen=True, slots=True)
class Cancelled:
    registration: RegistrationRow
    promoted: RegistrationRow | None  # the first on the wait list, who got the seat


def cancel(session: Session, invitation: InvitationRow, subscriber: Subscriber, *,
           now: datetime, note: str = "") -> Cancelled:
    """Cancel a registration; a freed seat goes to the organisation's first wait-listed."""
    row = _active_row(session, invitation, subscriber)
    held_seat = row.status is RegistrationStatus.registered
    row.status = RegistrationStatus.cancelled
    row.updated_at = now
    if note:
        row.note = note
    promoted = None
    if held_seat:
        promoted = session.scalar(
            select(RegistrationRow)
            .where(RegistrationRow.invitation_id == invitation.id,
                   RegistrationRow.organisation_id == row.organisation_id,
                   RegistrationRow.status == RegistrationStatus.waitlisted)
            .order_by(RegistrationRow.registered_at, RegistrationRow.id).limit(1))
        if promoted is not None:
            promoted.status = RegistrationStatus.registered
            promoted.updated_at = now
    session.flush()
    webhooks.registration_changed(session, "registration.cancelled", row, invitation,
                                  subscriber, now=now, promoted=promoted)
    return Cancelled(row, promoted)


def transfer(session: Session, invitation: InvitationRow, giver: Subscriber,
             taker: Subscriber, *, now: datetime, how: RegistrationHow = RegistrationHow.coordinator
             ) -> RegistrationRow:
    """Move a seat to a colleague in the same organisation; the seat count does not change.
    A taker with no organisation on file is recorded in the seat's."""
    if not invitation.transferable:
        raise MailerError(f"seats in {invitation.slug} cannot be transferred (the invitation "
                          "does not allow it); cancel and register instead")
    row = _active_row(session, invitation, giver)
    if row.status is not RegistrationStatus.registered:
        raise MailerError(f"{giver.email} is {row.status.value}, not holding a seat to transfer")
    if taker.id == giver.id:
        raise MailerError("a seat cannot be transferred to the same person")
    org = row.organisation
    if taker.organisation_id is None:
        # A known person with no organisation on file: the coordinator names them as the
        # colleague, so they are recorded in the seat's organisation (the caller says so).
        taker.organisation_id = org.id
        taker.organisation = org
    elif taker.organisation_id != org.id:
        theirs = taker.organisation.name if taker.organisation else "no organisation"
        raise MailerError(f"{taker.email} belongs to {theirs}, not {org.name}; a seat can only "
                          "be transferred to a colleague in the same organisation")
    other = registration_of(session, invitation.id, taker.id)
    if other is not None and other.status in (RegistrationStatus.registered,
                                              RegistrationStatus.waitlisted):
        raise MailerError(f"{taker.email} is already {other.status.value}; transfer refused")
    row.status = RegistrationStatus.transferred
    row.transferred_to_id = taker.id
    row.updated_at = now
    if other is None:
        other = RegistrationRow(invitation_id=invitation.id, subscriber_id=taker.id, extra={})
        session.add(other)
    other.organisation_id = org.id
    other.status = RegistrationStatus.registered
    other.how = how
    other.source = f"transfer from {giver.email}"
    other.transferred_to_id = None
    other.registered_at = now
    other.updated_at = now
    session.flush()
    # For other systems a transfer is the giver's seat ending and the taker's beginning.
    webhooks.registration_changed(session, "registration.cancelled", row, invitation, giver,
                                  now=now, transferred_to=taker)
    webhooks.registration_changed(session, "registration.created", other, invitation, taker,
                                  now=now)
    return other


@dataclass
class OrgSeats:
    """One organisation's seats in an invitation, for ``mailer registrations list``."""

    organisation: str
    limit: int
    registered: list[RegistrationRow] = field(default_factory=list)
    waitlisted: list[RegistrationRow] = field(default_factory=list)
    other: list[RegistrationRow] = field(default_factory=list)  # cancelled, transferred

    @property
    def remaining(self) -> int:
        return max(self.limit - len(self.registered), 0)


def seats_by_organisation(session: Session, invitation: InvitationRow) -> list[OrgSeats]:
    rows = session.scalars(
        select(RegistrationRow).where(RegistrationRow.invitation_id == invitation.id)
        .order_by(RegistrationRow.registered_at, RegistrationRow.id)).all()
    groups: dict[int, OrgSeats] = {}
    for r in rows:
        g = groups.setdefault(r.organisation_id, OrgSeats(r.organisation.name,
                                                          invitation.seats_max))
        {RegistrationStatus.registered: g.registered,
         RegistrationStatus.waitlisted: g.waitlisted}.get(r.status, g.other).append(r)
    return sorted(groups.values(), key=lambda g: g.organisation.casefold())
