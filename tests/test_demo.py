"""``mailer demo`` end to end, as a user runs it: a fresh folder, a real catcher, real SMTP."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
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
    assert len(messages) == 52
    assert len({m["To"] for m in messages}) == 52
    assert len(box) == 52

    second = _run_demo(tmp_path)  # the same folder again: nothing new to import
    assert second.returncode == 0, second.stderr
    assert "unchanged:        52" in second.stdout
