"""Usage mistakes on the command line get click's short message and exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [
    ["nosuchcmd"],
    ["send"],
    ["--bogus"],
    ["worker", "--drain", "--max-wait", "abc"],
    ["catcher", "--smtp-port", "99999"],
    ["subscribers", "export", "--list", "x", "--bogus"],
])
def test_usage_errors_are_short(args: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = subprocess.run([sys.executable, "-m", "mailer", "-w", str(tmp_path), *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "Error:" in r.stderr
