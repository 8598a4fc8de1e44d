"""Reminder jobs in APScheduler's SQLAlchemy job store: ids, a moved deadline, removal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from mailer.domain.invitation import parse_invitation
from mailer.schedule.invitations import sync_schedule
from tests.invite_helpers import SLUG, invitation_data, officials

NOW = datetime(2023, 1, 20, 9, tzinfo=UTC)


@pytest.fixture
def scheduler(engine: Engine) -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine)},
                                timezone=UTC)
    sched.start(paused=True)  # jobs are stored, nothing runs
    yield sched
    # The test dates lie in the real past: clear the store before the scheduler can wake.
    sched.remove_all_jobs()
    sched.shutdown(wait=True)


def _jobs(s: BackgroundScheduler) -> dict[str, datetime]:
    return {j.id: j.next_run_time.astimezone(UTC) for j in s.get_jobs()}


def test_one_job_per_reminder_and_year(scheduler: BackgroundScheduler) -> None:
    sync_schedule(scheduler, SLUG, officials(), now=NOW, grace_seconds=3600)
    assert _jobs(scheduler) == {
        "remind:2023-natverk-tjanstepersoner:7d": datetime(2023, 2, 8, 8, 0, tzinfo=UTC),  # 09:00
        "remind:2023-natverk-tjanstepersoner:1d": datetime(2023, 2, 14, 8, 0, tzinfo=UTC),
        "reconfirm:2023-natverk-tjanstepersoner:2024": datetime(2023, 11, 15, 8, tzinfo=UTC),
        "reconfirm:2023-natverk-tjanstepersoner:2025": datetime(2024, 11, 15, 8, tzinfo=UTC),
        "reconfirm:2023-natverk-tjanstepersoner:2026": datetime(2025, 11, 15, 8, tzinfo=UTC),
    }
    job = scheduler.get_job("remind:2023-natverk-tjanstepersoner:7d")
    assert job.args == (SLUG, "7d") and job.misfire_grace_time == 3600


def test_moving_the_deadline_reschedules_and_dropped_offsets_go(
        scheduler: BackgroundScheduler) -> None:
    sync_schedule(scheduler, SLUG, officials(), now=NOW, grace_seconds=3600)
    data = invitation_data()
    data["registration"]["deadline"] = "2023-02-22 12:00"
    data["reminders"] = ["3d"]
    sync_schedule(scheduler, SLUG, parse_invitation(data), now=NOW, grace_seconds=3600)
    reminders = {k: v for k, v in _jobs(scheduler).items() if k.startswith("remind:")}
    assert reminders == {"remind:2023-natverk-tjanstepersoner:3d":
                         datetime(2023, 2, 19, 11, 0, tzinfo=UTC)}


def test_past_times_get_no_job(scheduler: BackgroundScheduler) -> None:
    sync_schedule(scheduler, SLUG, officials(), now=datetime(2023, 2, 10, tzinfo=UTC),
                  grace_seconds=3600)
    assert "remind:2023-natverk-tjanstepersoner:7d" not in _jobs(scheduler)
    sync_schedule(scheduler, SLUG, officials(), now=datetime(2023, 2, 16, tzinfo=UTC),
                  grace_seconds=3600)
    assert not [k for k in _jobs(scheduler) if k.startswith("remind:")]
