"""Send windows applied by the worker: copies due outside the window wait for its next
opening (weekends and Swedish holidays closed), reminders never move past their deadline,
and a mailing's own window (or "off") overrides the workspace's — with real delivery to an
SMTP server on loopback, the worker's clock set to the moments under test."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from mailer.cli import _register, app
from mailer.config import Settings, load_settings
from mailer.delivery.worker import deliver_due
from mailer.errors import ConfigError, MailerError
from mailer.services.mailings import PlannedRecipient, plan_mailing
from mailer.store.db import transaction
from mailer.store.models import Mailing, OutboxRow
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer

SE = ZoneInfo("Europe/Stockholm")
UTC = ZoneInfo("UTC")
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=SE)
MONDAY_0800 = datetime(2026, 12, 7, 8, 0, tzinfo=SE)
ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "issues" / "2023-06-nyhetsbrev-6"


def windowed(settings: Settings, window: str = "Mon-Fri 08:00-17:00") -> Settings:
    return settings.model_copy(update={"send_window": window})


def plan(engine: Engine, at: datetime, *, kind: str = "newsletter", window: str = "",
         expires_at: datetime | None = None, lists: bool = True) -> int:
    with transaction(engine) as s:
        m, _ = plan_mailing(
            s, synthetic_rendered(2000), kind=kind, now=at.astimezone(UTC),
            list_slugs=["medborgardialog"] if lists else [],
            recipients=None if lists else [PlannedRecipient("test@example.org")],
            send_window=window, expires_at=expires_at)
        return m.id


def due_times(engine: Engine, mailing_id: int) -> set[datetime]:
    with transaction(engine) as s:
        return set(s.scalars(select(OutboxRow.next_attempt_at)
                             .where(OutboxRow.mailing_id == mailing_id)))


def test_weekend_copies_wait_for_monday_morning(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 30)
    mid = plan(engine, SATURDAY_NOON)
    s = windowed(settings)
    report = deliver_due(engine, s, clock=lambda: SATURDAY_NOON.astimezone(UTC))
    assert report.sent == 0 and smtp_server.received == [] and report.deferred == 30
    assert due_times(engine, mid) == {MONDAY_0800.astimezone(UTC)}  # one set-based move
    # Sunday evening: still closed
    report = deliver_due(engine, s, clock=lambda: datetime(2026, 12, 6, 22, tzinfo=SE))
    assert report.sent == 0
    report = deliver_due(engine, s, clock=lambda: MONDAY_0800 + timedelta(seconds=1))
    assert report.sent == 30 and len(smtp_server.received) == 30


def test_after_hours_and_holidays_are_closed(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 3)
    s = windowed(settings)
    # Friday 17:30 -> Monday 08:00
    friday = datetime(2026, 12, 4, 17, 30, tzinfo=SE)
    mid = plan(engine, friday)
    assert deliver_due(engine, s, clock=lambda: friday).sent == 0
    assert due_times(engine, mid) == {MONDAY_0800.astimezone(UTC)}
    # Julafton (de facto), juldagen, annandag jul, a weekend: Monday 28 December
    christmas_eve = datetime(2026, 12, 24, 9, 0, tzinfo=SE)
    mid2 = plan(engine, christmas_eve)
    assert deliver_due(engine, s, clock=lambda: christmas_eve).sent == 0
    assert due_times(engine, mid2) == {datetime(2026, 12, 28, 8, 0, tzinfo=SE)
                                       .astimezone(UTC)}
    assert smtp_server.received == []


def test_reminders_never_move_past_their_deadline(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 4)
    s = windowed(settings)
    # Deadline on Sunday: waiting for Monday would be too late -> goes on Saturday.
    sunday_deadline = datetime(2026, 12, 6, 23, 59, tzinfo=SE)
    urgent = plan(engine, SATURDAY_NOON, kind="reminder", expires_at=sunday_deadline)
    # Deadline on Tuesday: Monday morning is in time -> waits for the window.
    calm = plan(engine, SATURDAY_NOON, kind="reminder",
                expires_at=datetime(2026, 12, 8, 12, 0, tzinfo=SE))
    report = deliver_due(engine, s, clock=lambda: SATURDAY_NOON.astimezone(UTC))
    assert report.sent == 4
    with transaction(engine) as ss:
        sent_for = dict(ss.execute(select(OutboxRow.mailing_id, func.count())
                                   .where(OutboxRow.sent_at.is_not(None))
                                   .group_by(OutboxRow.mailing_id)).all())
    assert sent_for == {urgent: 4}
    assert due_times(engine, calm) == {MONDAY_0800.astimezone(UTC)}


def test_a_mailings_own_window_wins_and_tests_go_at_once(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 2)
    s = windowed(settings)
    off = plan(engine, SATURDAY_NOON, window="off")
    weekend = plan(engine, SATURDAY_NOON, window="Sat-Sun 10:00-14:00")
    weekday = plan(engine, SATURDAY_NOON, window="mån-fre 09:00-12:00")
    test_send = plan(engine, SATURDAY_NOON, kind="test", lists=False)
    report = deliver_due(engine, s, clock=lambda: SATURDAY_NOON.astimezone(UTC))
    # off: 2, the weekend window: 2, the test: 1; the weekday window waits till 09:00
    assert report.sent == 5
    assert due_times(engine, weekday) == {datetime(2026, 12, 7, 9, 0, tzinfo=SE)
                                          .astimezone(UTC)}
    with transaction(engine) as ss:
        windows = dict(ss.execute(select(Mailing.id, Mailing.send_window)).all())
    assert windows == {off: "off", weekend: "Sat-Sun 10:00-14:00",
                       weekday: "mån-fre 09:00-12:00", test_send: ""}
    # With no workspace window, a mailing without its own goes at once.
    other = plan(engine, SATURDAY_NOON)
    report = deliver_due(engine, settings, clock=lambda: SATURDAY_NOON.astimezone(UTC))
    assert report.sent == 2 and due_times(engine, other) == {SATURDAY_NOON.astimezone(UTC)}


def test_bad_windows_are_refused_with_the_fix(engine: Engine, workspace: Path) -> None:
    add_subscribers(engine, 1)
    with pytest.raises(MailerError, match="write days and hours such as"):
        plan(engine, SATURDAY_NOON, window="weekdays")
    with pytest.raises(ConfigError, match="MAILER_SEND_WINDOW.*must end after it starts"):
        load_settings(workspace, send_window="Mon-Fri 17:00-08:00")
    (workspace / "mailer.toml").write_text('send_window = "Mon-Fri 08:00-17:00"\n')
    assert load_settings(workspace).send_window == "Mon-Fri 08:00-17:00"


def _cli(workspace: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The command line on this workspace and database: its leading arguments."""
    monkeypatch.setenv("MAILER_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("MAILER_SMTP_URL", settings.smtp_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    _register()
    return ["--workspace", str(workspace)]


def test_cli_send_window(workspace: Path, settings: Settings, engine: Engine,
                         smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    add_subscribers(engine, 3)
    ws = _cli(workspace, settings, monkeypatch)
    r = CliRunner().invoke(app, [*ws, "send", str(FLAGSHIP), "--list", "medborgardialog",
                                 "--window", "Mon-Fri 08:00-17:00"])
    assert r.exit_code == 0, r.output
    with transaction(engine) as s:
        assert s.scalar(select(Mailing.send_window)) == "Mon-Fri 08:00-17:00"
    # A Saturday noon after today: the copies are due by then (queued now), and the
    # Mon-Fri window is closed then, whatever the date the suite runs on.
    today = datetime.now(ZoneInfo("Europe/Stockholm")).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    r = CliRunner().invoke(app, [*ws, "worker", "--drain", "--now", f"{saturday} 12:00"])
    assert r.exit_code == 0, r.output
    assert "sent 0," in r.output
    assert "3 messages wait for the next opening of their send window" in r.output
    assert smtp_server.received == []
    r = CliRunner().invoke(app, [*ws, "send", str(FLAGSHIP), "--list", "medborgardialog",
                                 "--window", "Mon-Fri 8-5", "--again"])
    assert isinstance(r.exception, MailerError)
    assert "must end after it starts" in str(r.exception)


def test_mailings_says_when_the_window_opens_next(workspace: Path, settings: Settings,
                                                  engine: Engine,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # 'worker --drain' says the copies wait for the next opening "('mailer mailings'
    # shows it)": it must show it. A one-hour window on a day 2 to 6 days ahead (not a
    # holiday or de facto day off) is closed now whatever the hour, and opens on that day.
    from mailer.domain.sendwindow import _holidays

    add_subscribers(engine, 2)
    ws = _cli(workspace, settings, monkeypatch)
    today = datetime.now(SE).date()
    day = next(d for d in (today + timedelta(n) for n in range(2, 7))
               if d not in _holidays("SE", d.year))
    name = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day.weekday()]
    r = CliRunner().invoke(app, [*ws, "send", str(FLAGSHIP), "--list", "medborgardialog",
                                 "--window", f"{name} 08:00-09:00"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*ws, "mailings"])
    assert r.exit_code == 0, r.output
    assert f"send window: {name} 08:00-09:00, next opening {day} 08:00" in r.output, r.output
