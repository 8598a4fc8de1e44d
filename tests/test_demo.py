"""``mailer demo`` end to end, as a user runs it: a fresh folder, a real catcher, real SMTP."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from email.header import decode_header, make_header
from pathlib import Path

import pytest


def _run_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    return subprocess.run([sys.executable, "-m", "mailer", "demo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_demo_sends_the_flagship_to_everyone_and_is_repeatable(tmp_path: Path) -> None:
    first = _run_demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    out = first.stdout
    assert "imported:         52" in out
    assert "sent 52, failed 0" in out
    box = mailbox.Maildir(tmp_path / "mailer-demo" / "catcher" / "Maildir", create=False)
    messages = list(box)
    subjects = [str(make_header(decode_header(m["Subject"]))) for m in messages]
    newsletters = [m for m, subject in zip(messages, subjects, strict=True)
                   if subject.startswith("Nyhetsbrev nr 6")]
    assert len(newsletters) == 52
    assert len({m["To"] for m in newsletters}) == 52
    # The coordinator's path: the example invitation targets the demo list, which exists.
    workspace = tmp_path / "mailer-demo"
    invitation = workspace / "issues" / "2023-natverk-tjanstepersoner" / "issue.yaml"
    assert "lists: [medborgardialog]" in invitation.read_text(encoding="utf-8")
    assert "52 invited from list medborgardialog; delivered 52" in out
    assert len(messages) == 104  # and each invitation reached the catcher
    assert out.count("mailer registrations add 2023-natverk-tjanstepersoner") == 3
    assert ("dry run, reminder 7d (due 2023-02-08 09:00): 49 would be reminded "
            "(registered: 3, would be reminded: 49)") in first.stderr
    assert (workspace / ".mailer-secret").stat().st_mode & 0o777 == 0o600

    second = _run_demo(tmp_path)  # the same folder again: nothing new to import
    assert second.returncode == 0, second.stderr
    assert "unchanged:        52" in second.stdout
    assert "0 invited from list medborgardialog" in second.stdout
    assert "is already registered" in second.stdout


def test_the_help_counts_the_subscribers_the_demo_imports() -> None:
    """'mailer demo --help' said 50 fictitious subscribers; the demo imports 52."""
    import csv
    import re

    from mailer.cli.demo import demo_csv

    with demo_csv().open(encoding="utf-8", newline="") as f:
        rows = sum(1 for row in csv.reader(f, delimiter=";") if row) - 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    result = subprocess.run([sys.executable, "-m", "mailer", "demo", "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    said = re.search(r"import the (\d+) fictitious", " ".join(result.stdout.split()))
    assert said is not None, result.stdout
    assert int(said.group(1)) == rows
