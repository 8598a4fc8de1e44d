"""Reminder runs: what the scheduled job and ``mailer remind`` do at a given ``now``.

One run happens inside one transaction holding the invitation's row lock: sync the row
from issue.yaml, decide per slot (due / missed / superseded / skipped / upcoming), plan
one explicit-recipient mailing for the due slot through ``InvitationMailer`` and write
the ledger in the same transaction. Running twice sends nothing new.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.domain.invitation import Invitation, ReminderOffset, refuse_if_closed
from mailer.domain.reminders import (
    Decision,
    ReminderSlot,
    SlotState,
    current_slot,
    invitation_slots,
    slot_states,
)
from mailer.errors import MailerError
from mailer.store.invitations import sync_invitation
from mailer.store.models import InvitationRow
from mailer.store.reminders import record_decisions, record_missed, reminder_decisions


class InvitationMailer(Protocol):
    """The seam to delivery: plan one mailing to explicit recipients in ``session``."""

    def plan_reminder(self, session: Session, *, slug: str, invitation: Invitation,
                      row: InvitationRow, offset_key: str, subscriber_ids: list[int],
                      now: datetime) -> int:
        """Plan the reminder mailing and return its id (queued in the outbox)."""
        ...

    def plan_reconfirmation(self, session: Session, *, slug: str, invitation: Invitation,
                            row: InvitationRow, year: int, subscriber_ids: list[int],
                            now: datetime) -> int:
        """Plan the yearly "do you continue in <year>?" mailing; return its id."""
        ...


@dataclass
class SlotReport:
    """What one run did (or would do) for one reminder slot."""

    slot: ReminderSlot
    state: SlotState
    decisions: list[Decision] = field(default_factory=list)
    mailing_id: int | None = None
    missed: int = 0
    dry_run: bool = False

    @property
    def key(self) -> str:
        return self.slot.key

    @property
    def recipients(self) -> list[Decision]:
        return [d for d in self.decisions if d.remind]

    def counts(self) -> Counter[str]:
        return Counter(d.reason.value for d in self.decisions)


def _send(session: Session, slug: str, invitation: Invitation, row: InvitationRow,
          slot: ReminderSlot, state: SlotState, *, now: datetime, mailer: InvitationMailer | None,
          dry_run: bool) -> SlotReport:
    decisions = reminder_decisions(session, row, slot.key,
                                   closed=invitation.deadline_utc <= now)
    report = SlotReport(slot, state, decisions, dry_run=dry_run)
    ids = [d.invitee.subscriber_id for d in report.recipients]
    if dry_run:
        return report
    if ids:
        if mailer is None:
            raise MailerError("no delivery is configured to send reminders")
        report.mailing_id = mailer.plan_reminder(session, slug=slug, invitation=invitation,
                                                 row=row, offset_key=slot.key,
                                                 subscriber_ids=ids, now=now)
    record_decisions(session, row, slot.key, decisions, now=now, mailing_id=report.mailing_id)
    return report


def run_due_reminders(session: Session, slug: str, invitation: Invitation, *, now: datetime,
                      grace: timedelta, mailer: InvitationMailer | None,
                      dry_run: bool = False) -> list[SlotReport]:
    """The scheduled path: send the due slot, mark missed ones, leave upcoming ones."""
    row = sync_invitation(session, slug, invitation, now).row
    if row.first_invited_at is None:
        return []  # nobody invited yet: nothing to remind about
    out = []
    states = slot_states(invitation_slots(invitation), deadline=invitation.deadline_utc,
                         now=now, grace=grace, invited_at=row.first_invited_at)
    for slot, state in states:
        if state is SlotState.due:
            out.append(_send(session, slug, invitation, row, slot, state, now=now,
                             mailer=mailer, dry_run=dry_run))
        elif state in (SlotState.missed, SlotState.superseded):
            report = SlotReport(slot, state, dry_run=dry_run)
            if not dry_run:
                report.missed = record_missed(session, row, slot.key, now=now,
                                              why=state.value)
            out.append(report)
        else:
            out.append(SlotReport(slot, state, dry_run=dry_run))
    return out


def remind_now(session: Session, slug: str, invitation: Invitation, *, now: datetime,
               mailer: InvitationMailer | None, offset: str | None = None,
               dry_run: bool = False) -> SlotReport:
    """A coordinator's reminder: the current slot (or ``offset``) now, regardless of grace.

    Counts as that slot: people reminded now are not reminded again when it fires.
    """
    if not dry_run:
        refuse_if_closed(invitation, now, msg("send reminders"))
    slots = invitation_slots(invitation)
    if offset is not None:
        key = ReminderOffset.parse(offset).key
        slot = next((s for s in slots if s.key == key), None)
        if slot is None:
            known = ", ".join(s.key for s in slots) or "none"
            raise MailerError(f"{slug} has no reminder {key!r}; its reminders: {known} "
                              "(reminders: in issue.yaml)")
    else:
        slot = current_slot(slots, deadline=invitation.deadline_utc, now=now)
        if slot is None:
            if not slots:
                raise MailerError(f"{slug} has no reminders (reminders: [] in issue.yaml)")
            slot = slots[-1]  # after the deadline (dry run only): show the last one
    row = sync_invitation(session, slug, invitation, now).row
    state = SlotState.due if slot.at <= now else SlotState.upcoming
    return _send(session, slug, invitation, row, slot, state, now=now, mailer=mailer,
                 dry_run=dry_run)
