"""Reminder runs against the database: due, missed, ledger, never twice, moved deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from mailer.domain.invitation import parse_invitation
from mailer.domain.registration import RegistrationHow
from mailer.domain.reminders import Reason, SlotState
from mailer.errors import MailerError
from mailer.schedule.reminders import remind_now, run_due_reminders
from mailer.store.db import transaction
from mailer.store.models import (
    InvitationRow,
    LedgerState,
    ReminderLedger,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.registrations import register
from tests.invite_helpers import SLUG, RecordingMailer, invitation_data, invited, officials

GRACE = timedelta(hours=1)
SEVEN_DAYS_BEFORE = datetime(2023, 2, 8, 8, 0, tzinfo=UTC)  # 09:00 in Stockholm




def _setup(engine: Engine) -> dict[str, int]:
    with transaction(engine) as s:
        row, subs = invited(s)
        now = datetime(2023, 2, 1, tzinfo=UTC)
        for email in ("anna.andersson@hylte.se", "bengt.berg@hylte.se", "david.dahl@uppsala.se"):
            register(s, row, subs[email], how=RegistrationHow.coordinator, now=now)
        s.execute(update(Subscription).where(
            Subscription.subscriber_id == subs["gun.gustafsson@rvn.se"].id)
            .values(status=SubscriptionStatus.unsubscribed))
        return {e: sub.id for e, sub in subs.items()}


def test_the_7_day_reminder_goes_once_to_the_right_people(engine: Engine) -> None:
    ids = _setup(engine)
    mailer = RecordingMailer()
    inv = officials()
    with transaction(engine) as s:
        early = run_due_reminders(s, SLUG, inv, now=SEVEN_DAYS_BEFORE - timedelta(hours=1),
                                  grace=GRACE, mailer=mailer)
        assert [r.state for r in early] == [SlotState.upcoming, SlotState.upcoming]
    with transaction(engine) as s:
        reports = run_due_reminders(s, SLUG, inv, now=SEVEN_DAYS_BEFORE, grace=GRACE,
                                    mailer=mailer)
    r7 = reports[0]
    assert (r7.key, r7.state, r7.mailing_id) == ("7d", SlotState.due, 1)
    reasons = {d.invitee.email: d.reason for d in r7.decisions}
    assert reasons == {
        "anna.andersson@hylte.se": Reason.registered,
        "bengt.berg@hylte.se": Reason.registered,
        "cecilia.claesson@hylte.se": Reason.seats_full,
        "david.dahl@uppsala.se": Reason.registered,
        "eva.ek@uppsala.se": Reason.remind,
        "fredrik.falk@ornskoldsvik.se": Reason.remind,
        "gun.gustafsson@rvn.se": Reason.unsubscribed,
        "hanna.holm@karlskoga.se": Reason.remind,
    }
    expected = sorted(ids[e] for e in ("eva.ek@uppsala.se", "fredrik.falk@ornskoldsvik.se",
                                       "hanna.holm@karlskoga.se"))
    assert mailer.planned == [("7d", expected)]
    # a second run (the job fired twice, or the sweep after it) sends nothing new
    with transaction(engine) as s:
        again = run_due_reminders(s, SLUG, inv, now=SEVEN_DAYS_BEFORE + timedelta(minutes=5),
                                  grace=GRACE, mailer=mailer)
        assert again[0].recipients == [] and len(mailer.planned) == 1
        assert {d.reason for d in again[0].decisions} >= {Reason.already_reminded}
        states = dict(s.execute(select(ReminderLedger.subscriber_id, ReminderLedger.state)
                                .where(ReminderLedger.offset_key == "7d")).all())
    assert states[ids["eva.ek@uppsala.se"]] is LedgerState.sent
    assert states[ids["gun.gustafsson@rvn.se"]] is LedgerState.skipped
    # the 1-day reminder: the same three, reminded for the second and last time
    with transaction(engine) as s:
        r1 = run_due_reminders(s, SLUG, inv, now=datetime(2023, 2, 14, 8, 0, tzinfo=UTC),
                               grace=GRACE, mailer=mailer)[1]
    assert (r1.key, r1.state) == ("1d", SlotState.due)
    assert mailer.planned[-1] == ("1d", expected)
    # after the deadline nothing goes out
    with transaction(engine) as s:
        late = run_due_reminders(s, SLUG, inv, now=datetime(2023, 2, 16, tzinfo=UTC),
                                 grace=timedelta(days=30), mailer=mailer)
    assert [r.state for r in late] == [SlotState.missed, SlotState.missed]
    assert len(mailer.planned) == 2


def test_a_slot_past_its_grace_is_marked_missed_not_sent_late(engine: Engine) -> None:
    ids = _setup(engine)
    mailer = RecordingMailer()
    with transaction(engine) as s:
        reports = run_due_reminders(s, SLUG, officials(), now=SEVEN_DAYS_BEFORE + GRACE * 3,
                                    grace=GRACE, mailer=mailer)
        assert reports[0].state is SlotState.missed and reports[0].missed == 3
        missed = s.scalars(select(ReminderLedger.subscriber_id)
                           .where(ReminderLedger.state == LedgerState.missed)).all()
    assert sorted(missed) == sorted(ids[e] for e in ("eva.ek@uppsala.se",
                                                     "fredrik.falk@ornskoldsvik.se",
                                                     "hanna.holm@karlskoga.se"))
    assert mailer.planned == []


def test_moving_the_deadline_moves_the_reminders(engine: Engine) -> None:
    _setup(engine)
    data = invitation_data()
    data["registration"]["deadline"] = "2023-02-22"
    later = parse_invitation(data)
    mailer = RecordingMailer()
    with transaction(engine) as s:  # was the 7-day time; with the new deadline it is not yet
        reports = run_due_reminders(s, SLUG, later, now=SEVEN_DAYS_BEFORE, grace=GRACE,
                                    mailer=mailer)
        assert [r.state for r in reports] == [SlotState.upcoming, SlotState.upcoming]
        assert s.scalar(select(InvitationRow.deadline)) == datetime(2023, 2, 22, 22, 59,
                                                                    tzinfo=UTC)
    with transaction(engine) as s:
        reports = run_due_reminders(s, SLUG, later, now=SEVEN_DAYS_BEFORE + timedelta(days=7),
                                    grace=GRACE, mailer=mailer)
    assert reports[0].state is SlotState.due and len(mailer.planned) == 1


def test_coordinator_remind_dry_run_changes_nothing_and_send_counts_as_the_slot(
        engine: Engine) -> None:
    _setup(engine)
    mailer = RecordingMailer()
    inv = officials()
    now = datetime(2023, 2, 3, 9, tzinfo=UTC)  # before the 7-day time: sent early as "7d"
    with transaction(engine) as s:
        dry = remind_now(s, SLUG, inv, now=now, mailer=mailer, dry_run=True)
        assert dry.key == "7d" and len(dry.recipients) == 3 and mailer.planned == []
        assert s.scalar(select(ReminderLedger.id)) is None
    with transaction(engine) as s:
        sent = remind_now(s, SLUG, inv, now=now, mailer=mailer)
        assert sent.mailing_id == 1
    with transaction(engine) as s:
        fired = run_due_reminders(s, SLUG, inv, now=SEVEN_DAYS_BEFORE, grace=GRACE,
                                  mailer=mailer)
        assert fired[0].recipients == [] and len(mailer.planned) == 1
    with pytest.raises(MailerError, match="has no reminder '3d'"), transaction(engine) as s:
        remind_now(s, SLUG, inv, now=now, mailer=mailer, offset="3d")
    with pytest.raises(MailerError, match="deadline 2023-02-15 23:59 .* has passed"), \
            transaction(engine) as s:
        remind_now(s, SLUG, inv, now=datetime(2023, 3, 1, tzinfo=UTC), mailer=mailer)
