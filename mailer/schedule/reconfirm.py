"""Yearly re-confirmation runs: ask every participant before each new year of the network."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from mailer.domain.invitation import Invitation
from mailer.schedule.reminders import InvitationMailer
from mailer.store.invitations import sync_invitation
from mailer.store.reconfirmations import ask_for_year, set_mailing, to_ask


def job_id(slug: str, year: int) -> str:
    return f"reconfirm:{slug}:{year}"


@dataclass
class YearReport:
    year: int
    at: datetime
    state: str  # upcoming | due | closed
    asked: list[int] = field(default_factory=list)
    mailing_id: int | None = None


def reconfirmation_schedule(invitation: Invitation) -> list[tuple[int, datetime, datetime]]:
    """(year, when to ask, answer-by end of day) for every year after the first."""
    p = invitation.period
    if p is None:
        return []
    tz = invitation.tz
    return [(y, p.reconfirmation_date(y, tz), p.reconfirmation_closes(y, tz))
            for y in p.reconfirmation_years()]


def run_due_reconfirmations(session: Session, slug: str, invitation: Invitation, *,
                            now: datetime, mailer: InvitationMailer | None,
                            dry_run: bool = False) -> list[YearReport]:
    """Ask for each year whose time has come. Unlike a reminder, a late question is still
    useful, so it goes out until the answer-by date; asking twice is impossible (one row per
    person and year)."""
    row = sync_invitation(session, slug, invitation, now).row
    out = []
    for year, at, answer_by in reconfirmation_schedule(invitation):
        if now < at:
            out.append(YearReport(year, at, "upcoming"))
            continue
        if now > answer_by:
            out.append(YearReport(year, at, "closed"))
            continue
        report = YearReport(year, at, "due")
        if dry_run:
            report.asked = to_ask(session, row, year)
        else:
            report.asked = ask_for_year(session, row, year, now=now)
            if report.asked and mailer is not None:
                report.mailing_id = mailer.plan_reconfirmation(
                    session, slug=slug, invitation=invitation, row=row, year=year,
                    subscriber_ids=report.asked, now=now)
                set_mailing(session, row, year, report.asked, report.mailing_id)
        out.append(report)
    return out
