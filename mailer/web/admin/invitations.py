"""The coordinator's view of invitations, on the invitations layer's own services.

Each function runs in the caller's session and only composes what ``mailer invitations``,
``mailer registrations`` and ``mailer remind`` call: load the invitation from its folder,
sync its row, group registrations per organisation, decide reminders. Until that layer is
installed in this build, ``available()`` is False and the pages say so.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailer.config import Settings
from mailer.errors import MailerError


def available() -> bool:
    return importlib.util.find_spec("mailer.store.registrations") is not None


def _require() -> None:
    if not available():
        raise MailerError("invitations and registrations are not installed in this build "
                          "yet; use the command line when they are")


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


def _open(session: Any, settings: Settings, slug: str, now: datetime) -> tuple[Any, Any]:
    """The invitation from its file and its row, synced (as the CLI's ``_open``)."""
    _require()
    from mailer.invitation_files import load_invitation
    from mailer.store.invitations import get_invitation, sync_invitation

    inv = load_invitation(settings.workspace, slug, timezone=settings.timezone)
    sync_invitation(session, slug, inv, now)
    return inv, get_invitation(session, slug, lock=True)


def overview(session: Any, settings: Settings, slugs: list[str],
             now: datetime) -> list[InvitationSummary]:
    """Every invitation folder with its deadline countdown, invitees and registrations."""
    _require()
    from mailer.store.invitations import invitee_count
    from mailer.store.registrations import seats_by_organisation

    out = []
    for slug in slugs:
        try:
            inv, row = _open(session, settings, slug, now)
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
    state: str
    ledger: dict[str, int] = field(default_factory=dict)


@dataclass
class InvitationDetail:
    slug: str
    invitation: Any
    row: Any
    countdown: Countdown
    groups: list[Any]
    invitees: int
    slots: list[SlotView]


def detail(session: Any, settings: Settings, slug: str, now: datetime) -> InvitationDetail:
    from mailer.domain.reminders import invitation_slots, slot_states
    from mailer.store.invitations import invitee_count
    from mailer.store.registrations import seats_by_organisation
    from mailer.store.reminders import ledger_summary

    inv, row = _open(session, settings, slug, now)
    ledger = ledger_summary(session, row)
    grace = timedelta(seconds=settings.misfire_grace_seconds)
    slots = [SlotView(slot.key, slot.at, state.value if row.first_invited_at else "not invited",
                      dict(ledger.get(slot.key, {})))
             for slot, state in slot_states(invitation_slots(inv), deadline=inv.deadline_utc,
                                            now=now, grace=grace,
                                            invited_at=row.first_invited_at)]
    # Touch what the template reads while the session is open.
    groups = seats_by_organisation(session, row)
    for g in groups:
        for r in (*g.registered, *g.waitlisted, *g.other):
            _ = (r.subscriber.email, r.subscriber.name)
    return InvitationDetail(slug, inv, row, Countdown((inv.deadline_utc - now).total_seconds()),
                            groups, invitee_count(session, row), slots)


def reminder_run(session: Any, settings: Settings, slug: str, now: datetime, *,
                 dry_run: bool, mailer: Any = None) -> Any:
    """``mailer remind [--dry-run]``: who would get (or got) the current reminder and why
    the others would not. A dry run must be rolled back by the caller."""
    from mailer.domain.invitation import refuse_if_closed
    from mailer.schedule.reminders import remind_now

    inv, _row = _open(session, settings, slug, now)
    if not dry_run:
        refuse_if_closed(inv, now, "send reminders")
    report = remind_now(session, slug, inv, now=now, mailer=mailer, dry_run=dry_run)
    for d in report.decisions:
        _ = d.invitee.email
    return report


def invitation_mailer(settings: Settings) -> Any:
    """The delivery seam the CLI uses for reminders (``DeliveryInvitationMailer``)."""
    try:
        from mailer.delivery.invitations import DeliveryInvitationMailer
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("mailer."):
            raise
        raise MailerError("sending reminders needs the delivery module, which this build "
                          "lacks; the dry run shows who would be reminded") from None
    return DeliveryInvitationMailer(settings)


def import_registrations(session: Any, settings: Settings, slug: str, data: bytes, *,
                         filename: str, create_unknown: bool, now: datetime) -> Any:
    """``mailer registrations import``: the report (lines, rejected rows)."""
    from mailer.store.registration_import import import_registrations as run

    inv, row = _open(session, settings, slug, now)
    return run(session, row, data, accepted_ids={slug, inv.registration.external_id},
               tz=inv.tz, now=now, source=filename, create_unknown=create_unknown)


def add_registration(session: Any, settings: Settings, slug: str, *, email: str, name: str,
                     organisation: str, late: bool, now: datetime) -> str:
    """``mailer registrations add``: a coordinator marks someone as registered."""
    from mailer.domain.registration import RegistrationHow
    from mailer.store.registrations import ensure_subscriber, register

    _inv, row = _open(session, settings, slug, now)
    subscriber = ensure_subscriber(session, email, name=name, organisation=organisation)
    result = register(session, row, subscriber, how=RegistrationHow.coordinator, now=now,
                      late_ok=late)
    return str(result.message)
