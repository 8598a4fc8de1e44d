"""``mailer serve`` starts uvicorn on the workspace database and answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.smtp_server import free_port

ROOT = Path(__file__).parents[2]


def run(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailer", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]


def test_serve(workspace: Path) -> None:
    env = {**os.environ, "MAILER_WORKSPACE": str(workspace)}
    env.pop("MAILER_SECRET_KEY", None)
    assert run(["init"], env).returncode == 0
    assert run(["lists", "create", "medborgardialog", "--name", "Medborgardialog"],
               env).returncode == 0
    # 'mailer init' wrote the workspace's key; without it: a clear error, no traceback.
    key = workspace / ".mailer-secret"
    key.rename(workspace / "moved-away")
    missing = run(["serve", "--port", str(free_port())], env)
    assert missing.returncode == 2 and "mailer init" in missing.stderr
    assert "MAILER_SECRET_KEY" in missing.stderr and "Traceback" not in missing.stderr
    (workspace / "moved-away").rename(key)  # serve needs no MAILER_SECRET_KEY with it
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mailer", "serve", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 90  # a bound for a loaded machine, not a target
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/subscribe/medborgardialog", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "mailer serve did not answer"
                time.sleep(0.1)
        assert r.status_code == 200 and "Prenumerera på Medborgardialog" in r.text
        assert "server" not in r.headers
    finally:
        proc.terminate()
        proc.wait(10)
