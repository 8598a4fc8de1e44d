"""A small, bounded run of benchmarks/load.py in the suite: sign-ups, one-click
unsubscribes and archive views on a real uvicorn server on loopback while the worker sends
a mailing over SMTP and a CSV import commits batch by batch. No 5xx and nothing lost; the
latency target itself is the benchmark's (full size, on a quiet machine)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.smtp_server import SmtpServer

LOAD = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
#: Far above the benchmark's 500 ms target: catches a request stalled behind a lock (the
#: busy timeout is 30 s), not a speed claim on a shared CI machine.
STALL_MS = 10_000


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_load", LOAD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_web_under_load_while_sending_and_importing(db_url: str, tmp_path: Path,
                                                     smtp_server: SmtpServer) -> None:
    load = _load()
    result = load.run(db_url, tmp_path, smtp_server.url, signups=30, unsubscribes=15,
                      archive_views=8, recipients=300, import_rows=12_000, concurrency=10)
    print(result.summary())
    assert result.server_errors == {}, result.summary()
    assert result.lost == [], result.summary()
    assert sorted(result.statuses) == ["archive", "one-click", "one-click (idle)", "sign-up"]
    assert set(result.statuses["sign-up"]) == {200, 303}
    assert set(result.statuses["one-click"]) == {200}
    assert len(result.loaded_ms) == 15
    assert max(result.loaded_ms) < STALL_MS, result.summary()
