"""Invitation jobs: one APScheduler date job per reminder and per yearly re-confirmation.

Job ids are ``remind:<slug>:<offset>`` and ``reconfirm:<slug>:<year>``; jobs carry only
those ids, and running one twice is harmless (the ledger and the re-confirmation rows
say who got what). ``sync_schedule`` adds, moves (a moved deadline) and removes jobs;
``sweep`` is the safety net the worker runs on every pass: it does whatever is due for
every invitation at ``now``, so a lost or missed job changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.domain.invitation import Invitation, people
from mailer.domain.reminders import invitation_slots
from mailer.domain.reminders import job_id as remind_job_id
from mailer.errors import MailerError
from mailer.schedule.reconfirm import YearReport, reconfirmation_schedule, run_due_reconfirmations
from mailer.schedule.reconfirm import job_id as reconfirm_job_id
from mailer.schedule.reminders import InvitationMailer, SlotReport, run_due_reminders
from mailer.services.invitation_mail import InvitationMail
from mailer.store.db import transaction
from mailer.store.invitations import invitation_slugs

log = logging.getLogger(__name__)

REMIND_JOB = "mailer.schedule.invitations:reminder_job"
RECONFIRM_JOB = "mailer.schedule.invitations:reconfirmation_job"


def _owned(job_id: str, slug: str) -> bool:
    return job_id.startswith((f"remind:{slug}:", f"reconfirm:{slug}:"))


def sync_schedule(scheduler: BaseScheduler, slug: str, invitation: Invitation, *, now: datetime,
                  grace_seconds: int) -> dict[str, datetime]:
    """Make the scheduler's jobs for ``slug`` match the invitation; returns id → run time.

    Reminders whose time has passed get no job (the sweep marks them missed); a job
    whose offset left issue.yaml is removed; a moved deadline moves every job
    (``replace_existing``).
    """
    wanted: dict[str, tuple[datetime, str, list[str | int]]] = {}
    if now < invitation.deadline_utc:
        for slot in invitation_slots(invitation):
            if slot.at > now:
                wanted[remind_job_id(slug, slot.key)] = (slot.at, REMIND_JOB, [slug, slot.key])
    for year, at, _ in reconfirmation_schedule(invitation):
        if at > now:
            wanted[reconfirm_job_id(slug, year)] = (at.astimezone(UTC), RECONFIRM_JOB,
                                                    [slug, year])
    for job in scheduler.get_jobs():
        if _owned(job.id, slug) and job.id not in wanted:
            scheduler.remove_job(job.id)
    for jid, (at, func, args) in wanted.items():
        scheduler.add_job(func, "date", run_date=at, id=jid, args=args, replace_existing=True,
                          misfire_grace_time=grace_seconds, coalesce=True)
    return {jid: at for jid, (at, _, _) in wanted.items()}


@dataclass
class SweepReport:
    reminders: dict[str, list[SlotReport]] = field(default_factory=dict)
    reconfirmations: dict[str, list[YearReport]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # slug → why it was skipped

    @property
    def reminded(self) -> int:
        return sum(len(r.recipients) for reps in self.reminders.values() for r in reps
                   if not r.dry_run)


def sweep(engine: Engine, settings: Settings, *, now: datetime,
          mailer: InvitationMailer | None, scheduler: BaseScheduler | None = None,
          slugs: list[str] | None = None, dry_run: bool = False) -> SweepReport:
    """Do what is due for every invitation at ``now`` (each in its own transaction)."""
    from mailer.invitation_files import load_invitation

    report = SweepReport()
    grace = timedelta(seconds=settings.misfire_grace_seconds)
    if slugs is None:
        with transaction(engine) as s:
            slugs = invitation_slugs(s)
    for slug in slugs:
        try:
            inv = load_invitation(settings.workspace, slug, timezone=settings.timezone,
                                  reminder_time=settings.reminder_time)
        except MailerError as exc:
            # A broken issue.yaml must not stop the other invitations' reminders.
            report.problems[slug] = str(exc)
            log.warning("invitation %s skipped: %s", slug, exc)
            continue
        with transaction(engine) as s:
            report.reminders[slug] = run_due_reminders(s, slug, inv, now=now, grace=grace,
                                                       mailer=mailer, dry_run=dry_run)
            report.reconfirmations[slug] = run_due_reconfirmations(s, slug, inv, now=now,
                                                                   mailer=mailer,
                                                                   dry_run=dry_run)
            if dry_run:
                s.rollback()
        if scheduler is not None and not dry_run:
            sync_schedule(scheduler, slug, inv, now=now,
                          grace_seconds=settings.misfire_grace_seconds)
    return report


def worker_pass(engine: Engine, settings: Settings, *, now: datetime | None = None,
                scheduler: BaseScheduler | None = None) -> SweepReport:
    """What the worker does for invitations on start and then every minute (and what
    ``mailer worker --drain [--now …]`` does before draining): the sweep at ``now`` with
    delivery's outbox, keeping the scheduler's invitation jobs in line with issue.yaml."""
    report = sweep(engine, settings, now=now or datetime.now(UTC),
                   mailer=_delivery_mailer(settings), scheduler=scheduler)
    for slug, reps in report.reminders.items():
        for r in reps:
            if r.recipients:
                log.info("invitation %s: reminder %s to %s (mailing %s)", slug, r.key,
                         people(len(r.recipients)), r.mailing_id)
            elif r.missed:
                log.warning("invitation %s: reminder %s %s for %s", slug, r.key,
                            r.state.value, people(r.missed))
    return report


def _job(slug: str) -> None:
    """What a fired job does: the sweep for one invitation, with the real clock. Inside a
    running worker it uses the worker's engine and wakes its delivery loop."""
    from mailer.schedule import runner

    ctx = runner._context
    if ctx is not None:
        sweep(ctx.engine, ctx.settings, now=datetime.now(UTC),
              mailer=_delivery_mailer(ctx.settings), slugs=[slug])
        ctx.wake.set()
        return
    from mailer.config import load_settings
    from mailer.store.db import make_engine

    settings = load_settings()
    engine = make_engine(settings.db_url)
    try:
        sweep(engine, settings, now=datetime.now(UTC), mailer=_delivery_mailer(settings),
              slugs=[slug])
    finally:
        engine.dispose()


def reminder_job(slug: str, offset_key: str) -> None:
    """APScheduler entry point for ``remind:<slug>:<offset>``."""
    log.info("reminder job %s %s", slug, offset_key)
    _job(slug)


def reconfirmation_job(slug: str, year: int) -> None:
    """APScheduler entry point for ``reconfirm:<slug>:<year>``."""
    log.info("re-confirmation job %s %s", slug, year)
    _job(slug)


def _delivery_mailer(settings: Settings) -> InvitationMailer:
    return InvitationMail(settings)
