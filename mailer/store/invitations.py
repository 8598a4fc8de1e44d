"""Invitations in the database: sync from issue.yaml, find by slug, record who was invited."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from mailer.domain.findings import msg
from mailer.domain.invitation import Invitation
from mailer.domain.segments import Condition
from mailer.errors import NotFound
from mailer.store import segments
from mailer.store.models import (
    InvitationRow,
    Invitee,
    Mailing,
    MailingKind,
    MailingList,
    OutboxRow,
    ReminderLedger,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from mailer.typing import JSON, JSONValue


@dataclass(frozen=True, slots=True)
class SyncResult:
    row: InvitationRow
    created: bool
    changed: bool
    old_deadline: datetime | None  # set when the deadline moved: reminders need rescheduling

    @property
    def deadline_moved(self) -> bool:
        return self.old_deadline is not None


def content_hash(invitation: Invitation) -> str:
    return hashlib.sha256(
        json.dumps(invitation.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()


def sync_invitation(session: Session, slug: str, invitation: Invitation,
                    now: datetime) -> SyncResult:
    """Create or update the row of ``issues/<slug>`` from its validated content."""
    row = session.scalar(select(InvitationRow).where(InvitationRow.slug == slug))
    created = row is None
    if row is None:
        row = InvitationRow(slug=slug, created_at=now)
        session.add(row)
    old_deadline = None if created else row.deadline
    digest = content_hash(invitation)
    changed = created or row.content_hash != digest
    row.title = invitation.title
    row.language = invitation.language
    row.timezone = invitation.timezone
    row.deadline = invitation.deadline_utc
    row.seats_min = invitation.seats.min
    row.seats_max = invitation.seats.max
    row.transferable = invitation.seats.transferable
    row.waitlist = invitation.seats.waitlist
    row.reminder_offsets = [o.key for o in invitation.reminder_offsets]
    row.period_start = invitation.period.start if invitation.period else None
    row.period_end = invitation.period.end if invitation.period else None
    row.reconfirm = bool(invitation.period and invitation.period.reconfirm)
    row.content_hash = digest
    if changed:
        row.synced_at = now
    session.flush()
    moved = old_deadline if old_deadline is not None and old_deadline != row.deadline else None
    if moved is not None:
        # Invitation and reminder copies still waiting (e.g. SMTP was down) now expire at
        # the new deadline, later or earlier, not the one they were planned with.
        session.execute(
            update(Mailing)
            .where(or_(Mailing.source == f"invitation:{slug}",
                       Mailing.source.startswith(f"invitation:{slug}:")),
                   Mailing.kind.in_((MailingKind.invitation, MailingKind.reminder)),
                   Mailing.expires_at.is_not(None))
            .values(expires_at=row.deadline)
            .execution_options(synchronize_session=False))
    return SyncResult(row, created, changed, moved)


def get_invitation(session: Session, slug: str, *, lock: bool = False) -> InvitationRow:
    """The invitation row for ``slug``; with ``lock``, held until the transaction ends
    (PostgreSQL: FOR UPDATE; SQLite's BEGIN IMMEDIATE already serialises writers)."""
    stmt = select(InvitationRow).where(InvitationRow.slug == slug)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        known = ", ".join(invitation_slugs(session))
        raise NotFound(msg(
            "no invitation %(slug)r in the database; known: %(known)s. The id is the folder "
            "name under issues/ (e.g. 2023-natverk-tjanstepersoner); an invitation is added "
            "when it is sent (mailer invite ID --list SLUG) or synced (mailer invitations "
            "sync ID)", slug=slug, known=known or "–"))
    return row


def copy_reached(inv: type[Invitee] | type[ReminderLedger] = Invitee) -> ColumnElement[bool]:
    """An invitee row counts when its invitation copy was delivered or is still on its way
    (or it was recorded without a mailing): a copy that expired, was skipped or failed
    does not make the person invited. The same holds for a reminder ledger row's copy."""
    from mailer.store.outbox import RECEIVED

    return or_(inv.mailing_id.is_(None), exists().where(
        OutboxRow.mailing_id == inv.mailing_id,
        OutboxRow.subscriber_id == inv.subscriber_id,
        OutboxRow.status.in_(RECEIVED)))


def _not_invited_yet(session: Session, invitation_id: int, list_id: int,
                     conditions: Sequence[Condition] = ()) -> ColumnElement[bool]:
    """The one "not invited yet" rule: an active subscriber of the list without an
    invitee row for this invitation whose copy reached them (or still will), whose address
    is not suppressed (planning leaves it out: counting them would promise mail that never
    goes), and meeting every one of ``conditions``."""
    inv = aliased(Invitee)  # never correlated with an enclosing statement on invitees
    # NOT EXISTS, not NOT IN: PostgreSQL hashes a NOT IN list only while it fits in
    # work_mem; 500,000 invitees did not, and each member was compared with the list:
    # 24 s for a million (README, Admin pages at a million). An anti-join is linear.
    already = exists().where(inv.invitation_id == invitation_id,
                             inv.subscriber_id == Subscription.subscriber_id,
                             copy_reached(inv))
    suppressed = (select(Subscriber.id)
                  .join(Suppression, Suppression.email_key == Subscriber.email_key))
    rule = and_(Subscription.list_id == list_id,
                Subscription.status == SubscriptionStatus.active,
                ~already,
                Subscription.subscriber_id.not_in(suppressed))
    if conditions:
        rule = and_(rule, Subscription.subscriber_id.in_(
            segments.subscriber_ids(session, conditions, invitation_id)))
    return rule


def not_invited_ids(session: Session, invitation: InvitationRow, list_id: int,
                    conditions: Sequence[Condition] = ()) -> list[int]:
    """Active subscribers of the list not invited yet, by subscriber id."""
    return list(session.scalars(select(Subscription.subscriber_id)
                                .where(_not_invited_yet(session, invitation.id, list_id,
                                                        conditions))
                                .order_by(Subscription.subscriber_id)))


def not_invited_count(session: Session, invitation: InvitationRow, list_id: int,
                      conditions: Sequence[Condition] = ()) -> int:
    """How many active subscribers of the list are not invited yet (a dry run's count)."""
    return int(session.scalar(select(func.count()).select_from(Subscription)
                              .where(_not_invited_yet(session, invitation.id, list_id,
                                                      conditions))) or 0)


@dataclass(frozen=True, slots=True)
class InviteeAddress:
    """Where invitation mail to one person goes, and the list they were invited through."""

    subscriber_id: int
    email: str
    name: str
    list_id: int | None


def invitee_addresses(session: Session, invitation: InvitationRow,
                      subscriber_ids: Sequence[int]) -> list[InviteeAddress]:
    """The subscribers ``subscriber_ids`` with the list each was invited through (None when
    not invited, or invited without a list), ordered by id."""
    rows = session.execute(
        select(Subscriber.id, Subscriber.email, Subscriber.name, Invitee.list_id)
        .outerjoin(Invitee, (Invitee.subscriber_id == Subscriber.id)
                   & (Invitee.invitation_id == invitation.id))
        .where(Subscriber.id.in_(subscriber_ids))
        .order_by(Subscriber.id)).all()
    return [InviteeAddress(sid, email, name or "", list_id) for sid, email, name, list_id in rows]


def invitation_slugs(session: Session) -> list[str]:
    """Every invitation in the database, by slug."""
    return list(session.scalars(select(InvitationRow.slug).order_by(InvitationRow.slug)))


def record_invitees(session: Session, invitation: InvitationRow, *, list_slug: str,
                    now: datetime, mailing_id: int | None = None,
                    conditions: Sequence[Condition] = ()) -> int:
    """Record every active subscriber of ``list_slug`` as invited (set-based); returns how
    many were new. Someone invited before keeps their first invitation."""
    lst = session.scalar(select(MailingList).where(MailingList.slug == list_slug))
    if lst is None:
        raise NotFound(msg("no list %(slug)r; see mailer lists", slug=list_slug))
    chosen = (
        select(literal(invitation.id), Subscription.subscriber_id, literal(lst.id),
               literal(mailing_id), literal(now, type_=Invitee.__table__.c.invited_at.type))
        .where(_not_invited_yet(session, invitation.id, lst.id, conditions))
    )
    # People whose earlier copy never reached them (expired, skipped, failed) are invited
    # afresh: their stale row gives way to the new one.
    session.execute(delete(Invitee).where(
        Invitee.invitation_id == invitation.id, ~copy_reached(),
        Invitee.subscriber_id.in_(select(Subscription.subscriber_id)
                                  .where(_not_invited_yet(session, invitation.id, lst.id,
                                                          conditions))))
        .execution_options(synchronize_session=False))
    before = invitee_count(session, invitation)
    session.execute(
        insert(Invitee).from_select(
            ["invitation_id", "subscriber_id", "list_id", "mailing_id", "invited_at"], chosen)
    )
    if invitation.first_invited_at is None:
        invitation.first_invited_at = now
    session.flush()
    # Counted, not rowcount: drivers disagree on rowcount for INSERT … SELECT.
    return invitee_count(session, invitation) - before


def add_invitee(session: Session, invitation: InvitationRow, subscriber: Subscriber, *,
                now: datetime, mailing_id: int | None = None) -> bool:
    """Invite one person explicitly (no list); False if they were invited already."""
    exists = session.scalar(select(Invitee.id).where(
        Invitee.invitation_id == invitation.id, Invitee.subscriber_id == subscriber.id))
    if exists:
        return False
    session.add(Invitee(invitation_id=invitation.id, subscriber_id=subscriber.id,
                        mailing_id=mailing_id, invited_at=now))
    if invitation.first_invited_at is None:
        invitation.first_invited_at = now
    session.flush()
    return True


def invitee_count(session: Session, invitation: InvitationRow) -> int:
    """People invited whose copy was delivered or is still on its way (honest: an expired
    or refused copy does not count)."""
    return int(session.scalar(select(func.count()).select_from(Invitee)
                              .where(Invitee.invitation_id == invitation.id,
                                     copy_reached())) or 0)


def invitee_counts(session: Session, invitation: InvitationRow) -> tuple[int, int]:
    """(``invitee_count``, invitee rows whose copy expired, was skipped or failed: they
    can be invited again) in one pass over the invitees: each row's copy is looked up
    once (two counts cost two look-ups of every copy, about a second each for 500,000
    invitees on SQLite; README, Admin pages at a million)."""
    reached = case((copy_reached(), 1), else_=0)
    counts = {int(key): int(n) for key, n in session.execute(
        select(reached, func.count()).where(Invitee.invitation_id == invitation.id)
        .group_by(reached))}
    return int(counts.get(1, 0)), int(counts.get(0, 0))


# --- GDPR: what invitations hold on a person (mailer subscribers show) -----------------------
def _personal_data(session: Session, subscriber: Subscriber) -> list[JSONValue]:
    from mailer.store.models import Reconfirmation, RegistrationRow, ReminderLedger

    out: list[JSONValue] = []
    for inv in session.scalars(select(InvitationRow).order_by(InvitationRow.slug)):
        invited = session.scalar(select(Invitee).where(
            Invitee.invitation_id == inv.id, Invitee.subscriber_id == subscriber.id))
        reg = session.scalar(select(RegistrationRow).where(
            RegistrationRow.invitation_id == inv.id,
            RegistrationRow.subscriber_id == subscriber.id))
        reminders = session.scalars(select(ReminderLedger).where(
            ReminderLedger.invitation_id == inv.id, ReminderLedger.subscriber_id == subscriber.id)
            .order_by(ReminderLedger.at, ReminderLedger.id))
        answers = session.scalars(select(Reconfirmation).where(
            Reconfirmation.invitation_id == inv.id, Reconfirmation.subscriber_id == subscriber.id)
            .order_by(Reconfirmation.year))
        entry: JSON = {
            "invitation": inv.slug,
            "invited_at": invited.invited_at.isoformat() if invited else None,
            "registration": None if reg is None else {
                "status": reg.status.value, "how": reg.how.value, "source": reg.source,
                "organisation": reg.organisation.name, "at": reg.registered_at.isoformat()},
            "reminders": [{"offset": r.offset_key, "state": r.state.value,
                           "at": r.at.isoformat()} for r in reminders],
            "reconfirmations": [{"year": a.year, "answer": a.answer.value if a.answer else None}
                                for a in answers],
        }
        if invited or reg or entry["reminders"] or entry["reconfirmations"]:
            out.append(entry)
    return out


def _register_gdpr() -> None:
    from mailer.store.subscribers import personal_data_section

    personal_data_section("invitations")(_personal_data)


_register_gdpr()
