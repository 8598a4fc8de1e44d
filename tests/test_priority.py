"""Bulk commands yield the CPU to the web (MAILER_BULK_NICE, mailer/priority.py): the
running ``mailer worker`` is at the configured nice value; the priority is never raised
nor set past 19. Each check runs in a process of its own (a nice value cannot be undone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="POSIX nice values")


def _nice_after(start: int, asked: int) -> tuple[int, int]:
    code = ("import os, sys; from mailer.priority import lower_priority; "
            f"os.nice({start}); got = lower_priority({asked}); "
            "print(got, os.getpriority(os.PRIO_PROCESS, 0))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def test_lowers_never_raises_and_stops_at_19() -> None:
    assert _nice_after(0, 10) == (10, 10)
    assert _nice_after(15, 10) == (15, 15)  # already nicer (nice mailer worker): kept
    assert _nice_after(5, 25) == (19, 19)
    assert _nice_after(3, 0) == (3, 3)  # 0: left alone


def _nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_worker_runs_at_the_configured_nice(engine: Engine, db_url: str,
                                                workspace: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_WORKSPACE=str(workspace), MAILER_DATABASE_URL=db_url,
               MAILER_SMTP_URL="smtp://127.0.0.1:9", MAILER_SECRET_KEY=TEST_SECRET,
               MAILER_BULK_NICE="7", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "mailer", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The worker says it has started once it runs (its priority was set before that).
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "worker" in line, line + proc.stdout.read()
        assert _nice_of(proc.pid) == 7
        assert os.getpriority(os.PRIO_PROCESS, 0) == 0  # the test run's own is untouched
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
