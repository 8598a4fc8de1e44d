"""The invitation kind through the compose loader: both seeds pass, broken copies give file:line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailer.authoring import load_document
from mailer.domain.invitation import Invitation
from mailer.errors import MailerError
from mailer.invitation_files import load_invitation
from tests.invite_helpers import ISSUE, ROOT


@pytest.mark.parametrize("slug", ["2023-natverk-tjanstepersoner", "2019-natverk-fortroendevalda"])
def test_the_examples_pass(slug: str) -> None:
    loaded = load_document(ROOT / "issues" / slug, today=dt.date(2019, 1, 1))
    assert loaded.kind == "invitation" and loaded.ok, loaded.problems
    assert isinstance(loaded.document, Invitation)
    assert loaded.problems == []


def _broken(tmp_path: Path, *swaps: tuple[str, str]) -> Path:
    text = ISSUE.read_text(encoding="utf-8")
    for old, new in swaps:
        assert old in text
        text = text.replace(old, new)
    folder = tmp_path / "issues" / "trasig"
    folder.mkdir(parents=True)
    (folder / "issue.yaml").write_text(text, encoding="utf-8")
    return folder


def _lines(folder: Path, today: dt.date | None = None) -> list[str]:
    return [str(p).split("issue.yaml:", 1)[1] for p in load_document(folder, today=today).problems]


def test_one_message_per_error_class(tmp_path: Path) -> None:
    folder = _broken(tmp_path, ("per_organisation: 1-2", "per_organisation: 0"),
                     ("    date: 2023-10-11\n", ""),
                     ("deadline: 2023-02-15", "deadline: 2023-03-11"))
    got = _lines(folder)
    assert got == [
        "104: meetings[3].date: is required; add date: YYYY-MM-DD, e.g. 2023-06-16",
        "122: seats: seats per organisation must be at least 1; write e.g. "
        "per_organisation: 2 or per_organisation: 1-2",
    ]
    folder2 = _broken(tmp_path / "b", ("deadline: 2023-02-15", "deadline: 2023-03-11"))
    (line,) = _lines(folder2)
    assert line.startswith("130: registration.deadline: the deadline 2023-03-11 23:59 is not "
                           "before the first meeting on 2023-03-10 (meetings[1])")


def test_past_deadline_is_a_warning_at_check(tmp_path: Path) -> None:
    (warning,) = load_document(ROOT / "issues" / "2023-natverk-tjanstepersoner",
                               today=dt.date(2023, 3, 1)).problems
    assert warning.severity == "warning" and warning.line == 130
    assert "has passed" in warning.message


def test_load_invitation_uses_the_configured_zone(tmp_path: Path) -> None:
    ws = tmp_path
    (ws / "issues" / "n").mkdir(parents=True)
    (ws / "issues" / "n" / "issue.yaml").write_text(ISSUE.read_text(encoding="utf-8"),
                                                    encoding="utf-8")
    london = load_invitation(ws, "n", timezone="Europe/London")
    assert london.deadline_utc == dt.datetime(2023, 2, 15, 23, 59, tzinfo=dt.UTC)
    with pytest.raises(MailerError, match="known folders: n"):
        load_invitation(ws, "nope", timezone="Europe/London")
