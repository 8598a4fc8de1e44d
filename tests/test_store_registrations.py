"""Registrations on both databases: seats per organisation, wait list, cancel, transfer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from mailer.domain.registration import RegistrationHow, RegistrationStatus, SeatOutcome
from mailer.errors import MailerError, NotFound
from mailer.store.db import transaction
from mailer.store.invitations import get_invitation, invitee_count, sync_invitation
from mailer.store.models import InvitationRow, RegistrationRow
from mailer.store.registrations import (
    SeatsFull,
    cancel,
    ensure_subscriber,
    register,
    seats_by_organisation,
    transfer,
)
from tests.invite_helpers import SLUG, invitation_data, invited, officials

NOW = datetime(2023, 2, 1, 10, 0, tzinfo=UTC)
HOW = RegistrationHow.coordinator


def test_a_third_from_a_two_seat_municipality_is_refused(engine: Engine) -> None:
    with transaction(engine) as s:
        row, subs = invited(s)
        assert invitee_count(s, row) == 8
        for email in ("anna.andersson@hylte.se", "bengt.berg@hylte.se"):
            r = register(s, get_invitation(s, SLUG, lock=True), subs[email], how=HOW, now=NOW)
            assert r.outcome is SeatOutcome.registered
    with pytest.raises(SeatsFull) as info, transaction(engine) as s:
        inv = get_invitation(s, SLUG, lock=True)
        register(s, inv, ensure_subscriber(s, "cecilia.claesson@hylte.se"), how=HOW, now=NOW)
    assert str(info.value) == (
        "Hylte kommun already has 2 of 2 seats (held by Anna Andersson "
        "<anna.andersson@hylte.se>, Bengt Berg <bengt.berg@hylte.se>); cancel or transfer one "
        "of those registrations first (mailer registrations cancel / transfer)")
    with transaction(engine) as s:
        (hylte,) = seats_by_organisation(s, get_invitation(s, SLUG))
        assert (hylte.organisation, len(hylte.registered)) == ("Hylte kommun", 2)
        assert hylte.remaining == 0
        # registering again is harmless
        anna = ensure_subscriber(s, "anna.andersson@hylte.se")
        again = register(s, get_invitation(s, SLUG), anna, how=HOW, now=NOW)
        assert again.outcome is None and "already registered" in again.message


def test_a_department_takes_a_seat_of_its_municipality(engine: Engine) -> None:
    """ "Hylte kommun, IT-avdelningen" is Hylte kommun: its third person is refused."""
    with transaction(engine) as s:
        row, subs = invited(s)
        for email in ("anna.andersson@hylte.se", "bengt.berg@hylte.se"):
            register(s, get_invitation(s, SLUG, lock=True), subs[email], how=HOW, now=NOW)
        newcomer = ensure_subscriber(s, "it.chef@hylte.se", name="Ida It",
                                     organisation="Hylte kommun, IT-avdelningen")
        assert newcomer.organisation is not None
        assert newcomer.organisation.name == "Hylte kommun"
    with pytest.raises(SeatsFull), transaction(engine) as s:
        register(s, get_invitation(s, SLUG, lock=True), ensure_subscriber(s, "it.chef@hylte.se"),
                 how=HOW, now=NOW)


def test_wait_list_and_promotion_on_cancel(engine: Engine) -> None:
    data = invitation_data()
    data["seats"]["waitlist"] = True
    from mailer.domain.invitation import parse_invitation

    with transaction(engine) as s:
        row, subs = invited(s, inv=parse_invitation(data))
        a, b, c = (subs[e] for e in ("anna.andersson@hylte.se", "bengt.berg@hylte.se",
                                     "cecilia.claesson@hylte.se"))
        register(s, row, a, how=HOW, now=NOW)
        register(s, row, b, how=HOW, now=NOW + timedelta(minutes=1))
        third = register(s, row, c, how=HOW, now=NOW + timedelta(minutes=2))
        assert third.outcome is SeatOutcome.waitlisted
        assert "put on the wait list" in third.message
        done = cancel(s, row, a, now=NOW + timedelta(hours=1))
        assert done.promoted is not None and done.promoted.subscriber_id == c.id
        statuses = {r.subscriber.email: r.status for r in s.scalars(select(RegistrationRow))}
        assert statuses == {a.email: RegistrationStatus.cancelled,
                            b.email: RegistrationStatus.registered,
                            c.email: RegistrationStatus.registered}
        # a cancelled person may register again when a seat is free
        with pytest.raises(MailerError, match="has no registration|is cancelled"):
            cancel(s, row, a, now=NOW)


def test_transfer_keeps_the_seat_within_the_organisation(engine: Engine) -> None:
    with transaction(engine) as s:
        row, subs = invited(s)
        a, b, c = (subs[e] for e in ("anna.andersson@hylte.se", "bengt.berg@hylte.se",
                                     "cecilia.claesson@hylte.se"))
        register(s, row, a, how=HOW, now=NOW)
        register(s, row, b, how=HOW, now=NOW)
        new = transfer(s, row, a, c, now=NOW + timedelta(days=1))
        assert new.status is RegistrationStatus.registered and new.source.endswith(a.email)
        (hylte,) = seats_by_organisation(s, row)
        assert sorted(r.subscriber.email for r in hylte.registered) == [b.email, c.email]
        assert hylte.other[0].transferred_to_id == c.id
        with pytest.raises(MailerError, match="belongs to Uppsala kommun, not Hylte kommun"):
            transfer(s, row, b, subs["david.dahl@uppsala.se"], now=NOW)
        with pytest.raises(MailerError, match="already registered"):
            transfer(s, row, b, c, now=NOW)


def test_transfer_refused_when_not_transferable(engine: Engine) -> None:
    data = invitation_data()
    data["seats"]["transferable"] = False
    from mailer.domain.invitation import parse_invitation

    with transaction(engine) as s:
        row, subs = invited(s, inv=parse_invitation(data))
        register(s, row, subs["anna.andersson@hylte.se"], how=HOW, now=NOW)
        with pytest.raises(MailerError, match="cannot be transferred"):
            transfer(s, row, subs["anna.andersson@hylte.se"], subs["bengt.berg@hylte.se"],
                     now=NOW)


def test_deadline_and_missing_organisation(engine: Engine) -> None:
    with transaction(engine) as s:
        row, subs = invited(s)
        late = datetime(2023, 2, 16, tzinfo=UTC)
        # the deadline as the coordinator wrote it (23:59 in Stockholm), not 22:59 UTC
        with pytest.raises(MailerError, match=r"closed at 2023-02-15 23:59 \(Europe/Stockholm\)"):
            register(s, row, subs["eva.ek@uppsala.se"], how=RegistrationHow.form, now=late)
        assert register(s, row, subs["eva.ek@uppsala.se"], how=HOW, now=late,
                        late_ok=True).outcome is SeatOutcome.registered
        loner = ensure_subscriber(s, "x@example.org", name="X", organisation="Ö kommun")
        loner.organisation_id = None
        s.flush()
        s.expire(loner)
        with pytest.raises(MailerError, match="has no organisation"):
            register(s, row, loner, how=HOW, now=NOW)
        with pytest.raises(NotFound, match="give --name and --organisation"):
            ensure_subscriber(s, "nobody@example.org")


def test_sync_detects_a_moved_deadline(engine: Engine) -> None:
    from mailer.render.types import RenderedMailing
    from mailer.services.mailings import PlannedRecipient, plan_mailing
    from mailer.store.models import Mailing

    with transaction(engine) as s:
        first = sync_invitation(s, SLUG, officials(), NOW)
        assert first.created and not first.deadline_moved
        # a reminder still waiting to be delivered expires at the deadline...
        plan_mailing(s, RenderedMailing("Påminnelse", "<p>x</p>", "x"), kind="reminder",
                     now=NOW, source=f"invitation:{SLUG}:remind:7d",
                     recipients=[PlannedRecipient("a@example.org")],
                     expires_at=first.row.deadline)
        same = sync_invitation(s, SLUG, officials(), NOW)
        assert not same.changed and not same.deadline_moved
        data = invitation_data()
        data["registration"]["deadline"] = "2023-02-20"
        from mailer.domain.invitation import parse_invitation

        moved = sync_invitation(s, SLUG, parse_invitation(data), NOW)
        assert moved.deadline_moved and moved.old_deadline == datetime(2023, 2, 15, 22, 59,
                                                                        tzinfo=UTC)
        assert s.scalar(select(InvitationRow.deadline)) == datetime(2023, 2, 20, 22, 59,
                                                                    tzinfo=UTC)
        # ...and at the new deadline once it moves
        assert s.scalar(select(Mailing.expires_at)) == datetime(2023, 2, 20, 22, 59, tzinfo=UTC)
    with pytest.raises(NotFound, match="known: 2023-natverk-tjanstepersoner"), \
            transaction(engine) as s:
        get_invitation(s, "2023-natverk")


def test_gdpr_access_and_erasure(engine: Engine) -> None:
    import mailer.store.invitations  # noqa: F401  (registers the GDPR section)
    from mailer.store.subscribers import erase_subscriber, personal_data

    with transaction(engine) as s:
        row, subs = invited(s)
        eva = subs["eva.ek@uppsala.se"]
        register(s, row, eva, how=HOW, now=NOW)
        (entry,) = personal_data(s, eva)["invitations"]
        assert entry["invitation"] == SLUG and entry["registration"]["status"] == "registered"
        assert entry["registration"]["organisation"] == "Uppsala kommun"
    with transaction(engine) as s:
        erase_subscriber(s, ensure_subscriber(s, "eva.ek@uppsala.se"))
    with transaction(engine) as s:
        assert s.scalars(select(RegistrationRow)).all() == []
