"""Invitation use cases: open an invitation, invite, remind, register, cancel, seats,
transfers, registration confirmations, and the coordinator's overview.

``open_invitation`` is the one way in: the invitation from ``issues/<slug>/issue.yaml``
and its database row, synced and locked for the caller's transaction. Every mail leaves
as a mailing through ``mailer.services.invitation_mail.InvitationMail`` (the outbox), in
the same transaction as the rows it belongs to: a registration and its confirmation
commit together.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.domain.findings import msg
from mailer.domain.invitation import Cost, Invitation, refuse_if_closed
from mailer.domain.registration import RegistrationHow, RegistrationStatus, SeatOutcome
from mailer.domain.reminders import SlotState, invitation_slots, slot_states
from mailer.errors import MailerError, NotFound
from mailer.invitation_files import load_invitation
from mailer.schedule.invitations import SweepReport as SweepReport
from mailer.schedule.invitations import sweep
from mailer.schedule.reminders import SlotReport as SlotReport
from mailer.schedule.reminders import remind_now
from mailer.services.invitation_mail import InvitationMail
from mailer.store.invitations import (
    SyncResult,
    get_invitation,
    invitee_count,
    invitee_counts,
    not_invited_count,
    sync_invitation,
)
from mailer.store.lists import get_list
from mailer.store.models import (
    InvitationRow,
    LedgerState,
    ReconfirmAnswer,
    RegistrationRow,
    Subscriber,
)
from mailer.store.reconfirmations import YearStatus, record_reconfirmation, year_status
from mailer.store.registrations import (
    Cancelled,
    OrgSeats,
    Registered,
    SeatsFull,
    cancel,
    ensure_subscriber,
    find_or_create_organisation,
    find_subscriber,
    get_subscriber,
    holders,
    register,
    registration_of,
    seats_by_organisation,
    transfer,
)
from mailer.store.reminders import NOT_REACHED, ON_ITS_WAY, ledger_summary

log = logging.getLogger(__name__)


# --- opening an invitation ----------------------------------------------------------------
def load(settings: Settings, slug: str) -> Invitation:
    """The validated invitation in ``issues/<slug>`` (no database)."""
    return load_invitation(settings.workspace, slug, timezone=settings.timezone,
                           reminder_time=settings.reminder_time)


def open_invitation(session: Session, settings: Settings, slug: str,
                    now: datetime) -> tuple[Invitation, InvitationRow]:
    """The invitation from issue.yaml and its row (synced, locked for this transaction)."""
    inv = load(settings, slug)
    sync_invitation(session, slug, inv, now)
    return inv, get_invitation(session, slug, lock=True)


def sync(session: Session, settings: Settings, slug: str,
         now: datetime) -> tuple[Invitation, SyncResult]:
    """Bring the row in line with issue.yaml (deadline, seats, reminders)."""
    inv = load(settings, slug)
    return inv, sync_invitation(session, slug, inv, now)


def invitation_mailer(settings: Settings) -> InvitationMail:
    """The outbox seam for invitation mail (invitations, reminders, confirmations)."""
    return InvitationMail(settings)


# --- invite -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Invited:
    list_slug: str
    people: int  # invited now, or (dry run) who would be
    mailing_id: int = 0


def _target_lists(inv: Invitation, slug: str, list_slug: str | None) -> list[str]:
    slugs = [list_slug] if list_slug else list(inv.lists)
    if not slugs:
        raise MailerError(msg("give --list SLUG (issues/%(slug)s/issue.yaml names no lists:)",
                              slug=slug).with_admin(msg(
            "issues/%(slug)s/issue.yaml names no lists: add the lists to invite under "
            "lists: in its issue.yaml", slug=slug)).with_api(msg(
                "issues/%(slug)s/issue.yaml names no lists: give \"list\", or add the lists "
                "to invite under lists: in its issue.yaml", slug=slug)), field="list")
    return slugs


def invite(session: Session, settings: Settings, slug: str, *, list_slug: str | None,
           now: datetime, dry_run: bool = False, where: Sequence[str] = ()) -> list[Invited]:
    """Invite every active subscriber of the list(s) not invited yet (who meets every
    ``where`` condition, e.g. ``org.kind=region`` or ``registered=no``): one mailing per
    list. A dry run only counts (the caller rolls back); a real one is refused after the
    deadline."""
    from mailer.services.segments import conditions as parse_conditions

    conds = parse_conditions(where)
    inv, row = open_invitation(session, settings, slug, now)
    slugs = _target_lists(inv, slug, list_slug)
    if not dry_run:
        refuse_if_closed(inv, now, msg("send the invitation"))
    if dry_run:
        return [Invited(ls, not_invited_count(session, row, get_list(session, ls).id, conds))
                for ls in slugs]
    mailer = invitation_mailer(settings)
    out = []
    for ls in slugs:
        mailing_id, n = mailer.plan_invitation(session, slug=slug, invitation=inv, row=row,
                                               list_slug=ls, now=now, conditions=conds)
        out.append(Invited(ls, n, mailing_id))
    return out


# --- reminders and due work ---------------------------------------------------------------
def remind(session: Session, settings: Settings, slug: str, now: datetime, *,
           dry_run: bool, offset: str | None = None) -> SlotReport:
    """``mailer remind [--dry-run]``: who gets (or would get) the current reminder and why
    the others would not. A dry run must be rolled back by the caller."""
    inv, _row = open_invitation(session, settings, slug, now)
    if not dry_run:
        refuse_if_closed(inv, now, msg("send reminders"))
    report = remind_now(session, slug, inv, now=now, offset=offset, dry_run=dry_run,
                        mailer=None if dry_run else invitation_mailer(settings))
    for d in report.decisions:
        _ = d.invitee.email  # loaded while the session is open
    return report


def run_due(engine: Engine, settings: Settings, *, now: datetime,
            dry_run: bool = False) -> SweepReport:
    """Every reminder and re-confirmation due at ``now``; missed ones are marked."""
    return sweep(engine, settings, now=now, dry_run=dry_run,
                 mailer=None if dry_run else invitation_mailer(settings))


# --- registrations ------------------------------------------------------------------------
def confirm_registration(session: Session, settings: Settings, slug: str,
                         invitation: Invitation, subscriber: Subscriber,
                         registration: RegistrationRow, now: datetime) -> int:
    """The one registration confirmation: a ``confirmation`` mailing to the person, in
    their language, with the meetings as .ics (unless wait-listed), planned in the
    caller's transaction. Returns the mailing id."""
    return invitation_mailer(settings).plan_confirmation(
        session, slug=slug, invitation=invitation, subscriber=subscriber,
        registration=registration, now=now)


@dataclass(frozen=True, slots=True)
class AddResult:
    registered: Registered
    mailing_id: int | None = None

    @property
    def message(self) -> str:
        if not self.mailing_id:
            return self.registered.message
        return msg("%(done)s; confirmation queued in mailing %(id)s",
                   done=self.registered.message, id=self.mailing_id)


def add_registration(session: Session, settings: Settings, slug: str, *, email: str,
                     now: datetime, name: str = "", organisation: str = "", late: bool = False,
                     send_confirmation: bool = False) -> AddResult:
    """A coordinator marks someone as registered (adding them when name and organisation
    are given); with ``send_confirmation``, the confirmation goes out through the outbox."""
    inv, row = open_invitation(session, settings, slug, now)
    sub = ensure_subscriber(session, email, name=name, organisation=organisation)
    result = register(session, row, sub, how=RegistrationHow.coordinator, now=now,
                      late_ok=late)
    mailing = None
    if send_confirmation and result.outcome is not None:
        mailing = confirm_registration(session, settings, slug, inv, sub, result.registration,
                                       now)
    return AddResult(result, mailing)


def cancel_registration(session: Session, settings: Settings, slug: str, email: str,
                        now: datetime) -> Cancelled:
    """Cancel a registration; the seat goes to the organisation's first on the wait list."""
    _, row = open_invitation(session, settings, slug, now)
    return cancel(session, row, get_subscriber(session, email), now=now)


@dataclass(frozen=True, slots=True)
class Transferred:
    """A seat given to a colleague: their organisation, and whether it was recorded for
    them now (they had none on file)."""

    organisation: str
    organisation_recorded: bool = False


def transfer_seat(session: Session, settings: Settings, slug: str, *, from_email: str,
                  to_email: str, now: datetime, name: str = "") -> Transferred:
    """Give a seat to a colleague in the same organisation (a known person with no
    organisation on file is recorded in it)."""
    _, row = open_invitation(session, settings, slug, now)
    giver = get_subscriber(session, from_email)
    known = find_subscriber(session, to_email)
    if known is None and not name.strip():
        raise NotFound(msg("no subscriber %(email)r; give --name to add them as a colleague "
                           "in the seat's organisation", email=to_email))
    taker = known or ensure_subscriber(session, to_email, name=name,
                                       organisation=giver.organisation.name
                                       if giver.organisation else "")
    had_none = taker.organisation_id is None
    seat = transfer(session, row, giver, taker, now=now)
    return Transferred(seat.organisation.name, had_none)


def seats(session: Session, settings: Settings, slug: str,
          now: datetime) -> tuple[Invitation, list[OrgSeats]]:
    """Registrations grouped per organisation, with the seats left."""
    inv, row = open_invitation(session, settings, slug, now)
    return inv, seats_by_organisation(session, row)


# --- yearly re-confirmation ---------------------------------------------------------------
def reconfirmation_status(session: Session, settings: Settings, slug: str, year: int,
                          now: datetime) -> list[YearStatus]:
    _, row = open_invitation(session, settings, slug, now)
    return year_status(session, row, year)


def answer_reconfirmation(session: Session, settings: Settings, slug: str, *, email: str,
                          year: int, answer: ReconfirmAnswer, now: datetime,
                          comment: str = "") -> None:
    """A participant's answer given by phone or e-mail, recorded by a coordinator."""
    _, row = open_invitation(session, settings, slug, now)
    record_reconfirmation(session, row, get_subscriber(session, email), year, answer,
                          now=now, via="coordinator", comment=comment)


# --- the coordinator's overview -----------------------------------------------------------
@dataclass
class Countdown:
    """Time left until a deadline, for "3 days 4 hours left" and a colour when close."""

    seconds: float

    @property
    def passed(self) -> bool:
        return self.seconds <= 0

    @property
    def days(self) -> int:
        return int(max(self.seconds, 0) // 86400)

    @property
    def hours(self) -> int:
        return int(max(self.seconds, 0) % 86400 // 3600)

    @property
    def soon(self) -> bool:
        return 0 < self.seconds < 3 * 86400


@dataclass
class InvitationSummary:
    slug: str
    title: str
    deadline: datetime | None
    countdown: Countdown | None
    invitees: int = 0
    registered: int = 0
    organisations: int = 0
    problem: str = ""


def overview(session: Session, settings: Settings, slugs: list[str],
             now: datetime) -> list[InvitationSummary]:
    """Every invitation folder with its deadline countdown, invitees and registrations."""
    out = []
    for slug in slugs:
        try:
            inv, row = open_invitation(session, settings, slug, now)
        except MailerError as exc:
            out.append(InvitationSummary(slug, slug, None, None, problem=exc.message))
            continue
        groups = seats_by_organisation(session, row)
        out.append(InvitationSummary(
            slug, inv.title, inv.deadline,
            Countdown((inv.deadline_utc - now).total_seconds()),
            invitees=invitee_count(session, row),
            registered=sum(len(g.registered) for g in groups),
            organisations=sum(1 for g in groups if g.registered)))
    return out


@dataclass
class SlotView:
    key: str
    at: datetime
    # a SlotState value, "done" once it went out, or "not invited" before the invitation
    state: str
    ledger: dict[str, int] = field(default_factory=dict)


@dataclass
class InvitationDetail:
    slug: str
    invitation: Invitation
    row: InvitationRow
    countdown: Countdown
    groups: list[OrgSeats]
    invitees: int  # copies delivered or still on their way
    slots: list[SlotView]
    not_reached: int = 0  # invited, but the copy expired, was skipped or failed


NOT_INVITED = "not invited"


#: A reminder that went out (at its time or early, by the worker or 'mailer remind').
DONE = "done"


def _slot_state(by_time: SlotState, ledger: Mapping[str, int]) -> str:
    """What a reminder's state is: "done" once it was decided for the invitees (someone
    reminded, or everyone skipped), else what the clock says; "missed" or "due" for a
    reminder that was sent would not be true."""
    decided = any(ledger.get(s) for s in (LedgerState.sent.value, LedgerState.skipped.value,
                                          NOT_REACHED, ON_ITS_WAY))
    return DONE if decided else by_time.value


def detail(session: Session, settings: Settings, slug: str, now: datetime) -> InvitationDetail:
    """Deadline, reminders with their state and ledger, invitees, seats per organisation."""
    inv, row = open_invitation(session, settings, slug, now)
    ledger = ledger_summary(session, row)
    grace = timedelta(seconds=settings.misfire_grace_seconds)
    slots = [SlotView(slot.key, slot.at, _slot_state(state, ledger.get(slot.key, {}))
                      if row.first_invited_at else NOT_INVITED,
                      dict(ledger.get(slot.key, {})))
             for slot, state in slot_states(invitation_slots(inv), deadline=inv.deadline_utc,
                                            now=now, grace=grace,
                                            invited_at=row.first_invited_at)]
    # Touch what the pages read while the session is open.
    groups = seats_by_organisation(session, row)
    for g in groups:
        for r in (*g.registered, *g.waitlisted, *g.other):
            _ = (r.subscriber.email, r.subscriber.name)
    reached, not_reached = invitee_counts(session, row)
    return InvitationDetail(slug, inv, row, Countdown((inv.deadline_utc - now).total_seconds()),
                            groups, reached, slots, not_reached)


# --- the built-in registration form -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MeetingFact:
    day: date
    start: time | None = None
    end: time | None = None
    place: str = ""
    online: bool = False
    platform: str = ""
    title: str = ""
    tentative: bool = False  # "preliminary", as the invitation's mail says


@dataclass(frozen=True, slots=True)
class InvitationFacts:
    """The key facts shown above the form."""

    invitation_id: int
    slug: str
    title: str
    deadline: datetime  # aware, UTC
    seats_max: int
    meetings: tuple[MeetingFact, ...] = ()
    cost: Cost = field(default_factory=Cost)  # as issue.yaml has it
    transferable: bool = False
    waitlist: bool = False
    brand: str = ""  # the newsletter whose look the page wears, as the invitation's mail


@dataclass(frozen=True, slots=True)
class Registrant:
    """The person behind the link, as the form is pre-filled."""

    subscriber_id: int
    email: str
    name: str
    organisation: str
    language: str
    seats_taken: int  # registered seats of their organisation for this invitation
    registered: bool  # already holds a seat (or a wait-list place)

    @property
    def masked_email(self) -> str:
        local, _, domain = self.email.partition("@")
        return f"{local[:2]}…@{domain}"


class Outcome(enum.StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    already = "already"
    seats_full = "seats_full"
    closed = "closed"


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    outcome: Outcome
    seats_taken: int = 0
    holders: tuple[str, ...] = ()  # who holds the organisation's seats (for "full")
    mailing_id: int | None = None  # the confirmation mailing (registered or wait-listed)


def _form_invitation(settings: Settings, slug: str) -> Invitation | None:
    try:
        return load(settings, slug)
    except MailerError as exc:  # a broken or removed folder: the form is not open
        log.warning("registration page for %s: %s", slug, exc)
        return None


def form_facts(session: Session, settings: Settings,
               invitation_id: int) -> InvitationFacts | None:
    """What the registration page shows, or None when the invitation has no open form."""
    row = session.get(InvitationRow, invitation_id)
    if row is None:
        return None
    inv = _form_invitation(settings, row.slug)
    if inv is None:
        return None
    return InvitationFacts(
        invitation_id=invitation_id, slug=row.slug, title=inv.title, deadline=row.deadline,
        seats_max=row.seats_max,
        meetings=tuple(MeetingFact(m.date, m.start, m.end, m.place, m.is_online,
                                   m.platform, m.title, m.tentative) for m in inv.meetings),
        cost=inv.cost,
        transferable=inv.seats.transferable, waitlist=inv.seats.waitlist,
        brand=_form_brand(session, settings, inv, row.slug))


def _form_brand(session: Session, settings: Settings, inv: Invitation, slug: str) -> str:
    """The brand the invitation's mail signs as; a page never fails over it ([brand])."""
    try:
        return InvitationMail(settings).signature(session, inv, slug).brand
    except MailerError as exc:
        log.warning("registration page for %s: %s", slug, exc)
        return ""


def _seats_taken(session: Session, invitation_id: int, organisation_id: int | None) -> int:
    return 0 if organisation_id is None else len(holders(session, invitation_id,
                                                         organisation_id))


def form_registrant(session: Session, invitation_id: int,
                    subscriber_id: int) -> Registrant | None:
    """The person behind a registration link, with their organisation's seats taken: the
    organisation their registration counts in once they hold one (the form lets them name
    another than ours), else the one we hold for them."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None or session.get(InvitationRow, invitation_id) is None:
        return None
    reg = registration_of(session, invitation_id, subscriber_id)
    holds = reg is not None and reg.status in (RegistrationStatus.registered,
                                               RegistrationStatus.waitlisted)
    org = reg.organisation if reg is not None and holds else sub.organisation
    return Registrant(
        subscriber_id=sub.id, email=sub.email, name=sub.name,
        organisation=org.name if org else "", language=sub.language,
        seats_taken=_seats_taken(session, invitation_id, org.id if org else None),
        registered=holds)


def register_by_form(session: Session, settings: Settings, invitation_id: int,
                     subscriber_id: int, *, name: str, organisation: str,
                     now: datetime) -> RegistrationResult:
    """Register the person behind the link (the invitation row locked, so the seat rule
    holds under concurrent posts) and plan their confirmation in the same transaction."""
    found = session.get(InvitationRow, invitation_id)
    sub = session.get(Subscriber, subscriber_id)
    if found is None or sub is None:
        return RegistrationResult(Outcome.closed)
    inv = _form_invitation(settings, found.slug)
    if inv is None:
        return RegistrationResult(Outcome.closed)
    row = get_invitation(session, found.slug, lock=True)
    if name and not sub.name:
        sub.name = name  # fill a gap; a form never overwrites a known name
    org = find_or_create_organisation(session, organisation)
    if sub.organisation_id is None:
        sub.organisation_id = org.id
    try:
        result = register(session, row, sub, how=RegistrationHow.form, now=now,
                          source="web form", organisation=org)
    except SeatsFull:
        names = tuple(h.subscriber.name for h in holders(session, invitation_id, org.id))
        return RegistrationResult(Outcome.seats_full, len(names), names)
    except MailerError:  # closed at the deadline
        return RegistrationResult(Outcome.closed)
    taken = _seats_taken(session, invitation_id, org.id)
    if result.outcome is None:
        return RegistrationResult(Outcome.already, taken)
    mailing = confirm_registration(session, settings, row.slug, inv, sub, result.registration,
                                   now)
    outcome = (Outcome.waitlisted if result.outcome is SeatOutcome.waitlisted
               else Outcome.registered)
    return RegistrationResult(outcome, taken, mailing_id=mailing)
