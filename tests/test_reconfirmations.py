"""Yearly re-confirmation: asked once per person and year, answers recorded, "no" frees a seat."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.errors import MailerError, NotFound
from mailer.schedule.reconfirm import reconfirmation_schedule, run_due_reconfirmations
from mailer.store.db import transaction
from mailer.store.invitations import get_invitation
from mailer.store.models import ReconfirmAnswer, RegistrationRow
from mailer.store.reconfirmations import record_reconfirmation, year_status
from mailer.store.registrations import get_subscriber, register
from tests.invite_helpers import ROOT, SLUG, RecordingMailer, invited, officials
from tests.test_cli_invitations import run


def test_schedule_of_the_2023_network() -> None:
    sched = reconfirmation_schedule(officials())
    assert [(y, at.isoformat()) for y, at, _ in sched] == [
        (2024, "2023-11-15T09:00:00+01:00"), (2025, "2024-11-15T09:00:00+01:00"),
        (2026, "2025-11-15T09:00:00+01:00")]


def test_ask_answer_and_never_ask_twice(engine: Engine) -> None:
    with transaction(engine) as s:
        row, subs = invited(s)
        for e in ("anna.andersson@hylte.se", "bengt.berg@hylte.se", "eva.ek@uppsala.se"):
            register(s, row, subs[e], how=RegistrationHow.coordinator,
                     now=datetime(2023, 2, 1, tzinfo=UTC))
    rec = RecordingMailer()
    asked_on = datetime(2023, 11, 15, 9, 30, tzinfo=UTC)
    with transaction(engine) as s:
        early = run_due_reconfirmations(s, SLUG, officials(), now=datetime(2023, 11, 1,
                                                                           tzinfo=UTC),
                                        mailer=rec)
        assert [r.state for r in early] == ["upcoming"] * 3 and rec.planned == []
        reports = run_due_reconfirmations(s, SLUG, officials(), now=asked_on, mailer=rec)
        assert (reports[0].year, reports[0].state, len(reports[0].asked)) == (2024, "due", 3)
        assert reports[0].mailing_id == 101
    with transaction(engine) as s:
        again = run_due_reconfirmations(s, SLUG, officials(), now=asked_on, mailer=rec)
        assert again[0].asked == [] and len(rec.planned) == 1
        row = get_invitation(s, SLUG)
        anna = get_subscriber(s, "anna.andersson@hylte.se")
        record_reconfirmation(s, row, anna, 2024, "no", now=asked_on, comment="Slutar")
        record_reconfirmation(s, row, get_subscriber(s, "eva.ek@uppsala.se"), 2024,
                              ReconfirmAnswer.yes, now=asked_on)
        status = {y.email: y.answer for y in year_status(s, row, 2024)}
        assert status == {"anna.andersson@hylte.se": ReconfirmAnswer.no,
                          "bengt.berg@hylte.se": None,
                          "eva.ek@uppsala.se": ReconfirmAnswer.yes}
        reg = s.scalar(select(RegistrationRow).where(RegistrationRow.subscriber_id == anna.id))
        assert reg is not None and reg.status is RegistrationStatus.cancelled
        # she changes her mind while the seat is still free
        record_reconfirmation(s, row, anna, 2024, "yes", now=asked_on)
        assert reg.status is RegistrationStatus.registered
        with pytest.raises(NotFound, match="not a participant"):
            record_reconfirmation(s, row, get_subscriber(s, "hanna.holm@karlskoga.se"), 2024,
                                  "yes", now=asked_on)
        with pytest.raises(MailerError, match="years are 2024–2026"):
            record_reconfirmation(s, row, anna, 2023, "yes", now=asked_on)
    with transaction(engine) as s:  # after the answer-by date the question is not sent
        late = run_due_reconfirmations(s, SLUG, officials(),
                                       now=datetime(2023, 12, 20, tzinfo=UTC), mailer=rec)
        assert late[0].state == "closed"


def test_dry_run_counts_whom_the_real_run_asks(tmp_path: Path) -> None:
    """`invitations run-due --dry-run` said "0 asked" where the real run then asked 1."""
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    shutil.copytree(ROOT / "issues" / SLUG, ws / "issues" / SLUG)
    for args in (["init"], ["lists", "create", "demo", "--name", "Demo", "--single-opt-in"],
                 ["subscribers", "import", str(ROOT / "subscribers" / "demo.csv"), "--list",
                  "demo"],
                 ["registrations", "add", SLUG, "maria.holm@uppsala.example",
                  "--now", "2023-02-06 10:00"]):
        r = run(ws, *args)
        assert r.returncode == 0, r.stderr
    dry = run(ws, "invitations", "run-due", "--dry-run", "--now", "2023-11-15 09:30")
    assert dry.returncode == 0, dry.stderr
    assert f"{SLUG} re-confirmation 2024: 1 would be asked" in dry.stdout
    real = run(ws, "invitations", "run-due", "--now", "2023-11-15 09:30")
    assert f"{SLUG} re-confirmation 2024: 1 asked" in real.stdout
    again = run(ws, "invitations", "run-due", "--dry-run", "--now", "2023-11-15 09:40")
    assert f"{SLUG} re-confirmation 2024: 0 would be asked" in again.stdout
