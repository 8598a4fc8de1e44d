"""Reminder selection and the ledger: who gets the reminder for one offset, recorded once.

``reminder_decisions`` reads the facts at ``now`` (registrations, consent, the
suppression list, the ledger, seats) and the pure rules in ``mailer.domain.reminders``
decide. ``record_sent`` writes the ledger rows in the same transaction that plans the
mailing, so a person is never reminded twice for one (invitation, offset):
UNIQUE(invitation_id, subscriber_id, offset_key) is the last guard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from mailer.domain.registration import RegistrationStatus
from mailer.domain.reminders import Decision, InviteeState, Reason, classify
from mailer.store.invitations import copy_reached
from mailer.store.models import (
    InvitationRow,
    Invitee,
    LedgerState,
    Organisation,
    RegistrationRow,
    ReminderLedger,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)


def taken_by_org(session: Session, invitation: InvitationRow) -> dict[int, int]:
    rows = session.execute(
        select(RegistrationRow.organisation_id, func.count())
        .where(RegistrationRow.invitation_id == invitation.id,
               RegistrationRow.status == RegistrationStatus.registered)
        .group_by(RegistrationRow.organisation_id)).all()
    return {org: n for org, n in rows}


def invitee_states(session: Session, invitation: InvitationRow,
                   offset_key: str) -> list[InviteeState]:
    """Every invitee with what the rules need, in one query, ordered by e-mail."""
    sub_on_list = aliased(Subscription)
    any_sub = aliased(Subscription)
    active_on_list = exists().where(
        sub_on_list.subscriber_id == Invitee.subscriber_id,
        sub_on_list.list_id == Invitee.list_id,
        sub_on_list.status == SubscriptionStatus.active)
    # Invited without a list: still "subscribed" unless every subscription they have ended.
    active_anywhere = exists().where(any_sub.subscriber_id == Invitee.subscriber_id,
                                     any_sub.status != SubscriptionStatus.unsubscribed)
    no_subscriptions = ~exists().where(any_sub.subscriber_id == Invitee.subscriber_id)
    sent = exists().where(ReminderLedger.invitation_id == invitation.id,
                          ReminderLedger.subscriber_id == Invitee.subscriber_id,
                          ReminderLedger.offset_key == offset_key,
                          ReminderLedger.state == LedgerState.sent)
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    q = (
        select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.organisation_id,
               Organisation.name, Invitee.list_id, active_on_list,
               active_anywhere | no_subscriptions, suppressed, RegistrationRow.status, sent)
        .select_from(Invitee)
        .join(Subscriber, Subscriber.id == Invitee.subscriber_id)
        .outerjoin(Organisation, Organisation.id == Subscriber.organisation_id)
        .outerjoin(RegistrationRow, and_(RegistrationRow.invitation_id == invitation.id,
                                         RegistrationRow.subscriber_id == Subscriber.id))
        # Only people invited by the honest count (``invitee_count``): an invitation copy
        # that expired, was skipped or refused did not invite them, so no reminder of it
        # is planned or counted for them (they are invited afresh by the next invite).
        .where(Invitee.invitation_id == invitation.id, copy_reached())
        .order_by(Subscriber.email_key)
    )
    out = []
    for (sid, email, name, org_id, org_name, list_id, on_list, anywhere, blocked, status,
         reminded) in session.execute(q):
        out.append(InviteeState(
            subscriber_id=sid, email=email, name=name or "", organisation_id=org_id,
            organisation=org_name or "",
            subscribed=bool(on_list) if list_id is not None else bool(anywhere),
            suppressed=bool(blocked),
            registration=RegistrationStatus(status) if status else None,
            reminded=bool(reminded)))
    return out


def reminder_decisions(session: Session, invitation: InvitationRow,
                       offset_key: str, *, closed: bool = False) -> list[Decision]:
    """Who would get the reminder for ``offset_key`` now, and why each other person not
    (``closed``: the registration deadline has passed; see ``classify``)."""
    return classify(invitee_states(session, invitation, offset_key),
                    seats_max=invitation.seats_max,
                    taken_by_org=taken_by_org(session, invitation), closed=closed)


def _upsert(session: Session, invitation: InvitationRow, subscriber_id: int, offset_key: str,
            state: LedgerState, reason: str, now: datetime, mailing_id: int | None) -> None:
    row = session.scalar(select(ReminderLedger).where(
        ReminderLedger.invitation_id == invitation.id,
        ReminderLedger.subscriber_id == subscriber_id,
        ReminderLedger.offset_key == offset_key))
    if row is None:
        session.add(ReminderLedger(invitation_id=invitation.id, subscriber_id=subscriber_id,
                                   offset_key=offset_key, state=state, reason=reason,
                                   mailing_id=mailing_id, at=now))
    elif row.state is not LedgerState.sent:  # a sent row is final
        row.state, row.reason, row.mailing_id, row.at = state, reason, mailing_id, now


def record_decisions(session: Session, invitation: InvitationRow, offset_key: str,
                     decisions: Iterable[Decision], *, now: datetime,
                     mailing_id: int | None) -> Counter[str]:
    """Write the ledger for one run: sent for the reminded, skipped with the reason for the
    rest (an existing sent row is never touched). Returns counts per reason."""
    counts: Counter[str] = Counter()
    for d in decisions:
        counts[d.reason.name] += 1
        if d.reason is Reason.already_reminded:
            continue
        if d.remind:
            _upsert(session, invitation, d.invitee.subscriber_id, offset_key, LedgerState.sent,
                    "", now, mailing_id)
        else:
            _upsert(session, invitation, d.invitee.subscriber_id, offset_key,
                    LedgerState.skipped, d.reason.name, now, None)
    session.flush()
    return counts


def record_missed(session: Session, invitation: InvitationRow, offset_key: str, *,
                  now: datetime, why: str = "missed") -> int:
    """Mark the reminder missed for everyone who would have got it; returns how many."""
    n = 0
    for d in reminder_decisions(session, invitation, offset_key):
        if d.remind:
            _upsert(session, invitation, d.invitee.subscriber_id, offset_key,
                    LedgerState.missed, why, now, None)
            n += 1
    session.flush()
    return n


#: A reminder recorded as sent whose copy expired, was skipped or failed: it did not reach
#: the person, so it is not counted as sent (the ledger row still keeps them from a second
#: reminder for that offset).
NOT_REACHED = "not reached"
#: A reminder recorded as sent whose copy is still in the outbox (queued, retrying, being
#: sent): not "sent" yet, which would promise what has not happened.
ON_ITS_WAY = "on its way"


def ledger_summary(session: Session, invitation: InvitationRow) -> dict[str, Counter[str]]:
    """Per offset: how many rows in each state (for ``mailer invitations show``), a sent
    reminder whose copy did not reach the person counted as ``NOT_REACHED``, one whose
    copy is still in the outbox as ``ON_ITS_WAY``: "sent" only once it went."""
    from mailer.store.models import OutboxRow
    from mailer.store.outbox import OPEN

    out: dict[str, Counter[str]] = {}
    reached = copy_reached(ReminderLedger)
    waiting = exists().where(OutboxRow.mailing_id == ReminderLedger.mailing_id,
                             OutboxRow.subscriber_id == ReminderLedger.subscriber_id,
                             OutboxRow.status.in_(OPEN))
    for key, state, got, open_, n in session.execute(
            select(ReminderLedger.offset_key, ReminderLedger.state, reached, waiting,
                   func.count())
            .where(ReminderLedger.invitation_id == invitation.id)
            .group_by(ReminderLedger.offset_key, ReminderLedger.state, reached, waiting)):
        label = LedgerState(state).value
        if label == LedgerState.sent.value and not got:
            label = NOT_REACHED
        elif label == LedgerState.sent.value and open_:
            label = ON_ITS_WAY
        out.setdefault(key, Counter())[label] += n
    return out
