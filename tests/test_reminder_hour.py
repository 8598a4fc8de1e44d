"""Reminders at a sensible hour: a deadline given as a date means reminders at 09:00 local
time, configurable per invitation (reminder_time:) and in mailer.toml (reminder_time)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from mailer.config import load_settings
from mailer.domain.invitation import parse_invitation
from mailer.domain.reminders import invitation_slots
from mailer.errors import ConfigError
from mailer.invitation_files import load_invitation
from tests.invite_helpers import ROOT, SLUG, invitation_data, officials


def _times(inv) -> dict[str, datetime]:  # type: ignore[no-untyped-def]
    return {s.key: s.at for s in invitation_slots(inv)}


def test_a_date_deadline_means_reminders_at_nine_local_time() -> None:
    inv = officials()  # deadline: 2023-02-15 (registration closes at 23:59)
    assert inv.deadline.strftime("%Y-%m-%d %H:%M") == "2023-02-15 23:59"
    assert _times(inv) == {"7d": datetime(2023, 2, 8, 8, 0, tzinfo=UTC),  # 09:00 CET
                           "1d": datetime(2023, 2, 14, 8, 0, tzinfo=UTC)}


def test_per_invitation_time_and_a_deadline_with_its_own_time() -> None:
    data = invitation_data()
    data["reminder_time"] = "07:30"
    assert _times(parse_invitation(data))["1d"] == datetime(2023, 2, 14, 6, 30, tzinfo=UTC)
    data = invitation_data()
    data["registration"]["deadline"] = "2023-02-15 16:00"
    assert _times(parse_invitation(data))["1d"] == datetime(2023, 2, 14, 15, 0, tzinfo=UTC)
    data["reminder_time"] = "25:00"
    with pytest.raises(ValidationError, match="not a time of day"):
        parse_invitation(data)


def test_the_workspace_setting(workspace: Path) -> None:
    shutil.copytree(ROOT / "issues" / SLUG, workspace / "issues" / SLUG)
    (workspace / "mailer.toml").write_text('reminder_time = "10:15"\n')
    settings = load_settings(workspace)
    inv = load_invitation(workspace, SLUG, timezone=settings.timezone,
                          reminder_time=settings.reminder_time)
    assert _times(inv)["7d"] == datetime(2023, 2, 8, 9, 15, tzinfo=UTC)
    (workspace / "mailer.toml").write_text('reminder_time = "late"\n')
    with pytest.raises(ConfigError, match="MAILER_REMINDER_TIME.*write e.g. 09:00"):
        load_settings(workspace)
