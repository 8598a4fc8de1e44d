"""Issue 13, item 3: one subscriber with a control character in the name (stored before
input was cleaned) or a broken address no longer makes ``mailer invite … --list`` refuse
the whole list: the name is cleaned when the message is built, the address fails alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mailer.store.db import make_engine, transaction
from mailer.store.models import OutboxRow, OutboxStatus, Subscriber
from tests.invite_helpers import ROOT, SLUG
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.slow


def test_one_bad_recipient_fails_alone(tmp_path: Path, smtp_server: SmtpServer) -> None:
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    shutil.copytree(ROOT / "issues" / SLUG, ws / "issues" / SLUG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_SECRET_KEY="test-secret-key-not-for-production-0123456789",
               MAILER_SMTP_URL=smtp_server.url, MAILER_BASE_URL="https://nyhetsbrev.example.org")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "mailer", "--workspace", str(ws), *args],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    run("init")
    run("lists", "create", "demo", "--name", "Demo", "--single-opt-in")
    run("subscribers", "import", str(ROOT / "subscribers" / "demo.csv"), "--list", "demo")
    engine = make_engine(f"sqlite:///{ws / 'mailer.db'}")
    with transaction(engine) as s:  # as an older version or a direct edit could leave them
        first, second = s.scalars(select(Subscriber.id).order_by(Subscriber.id).limit(2))
        s.execute(update(Subscriber).where(Subscriber.id == first)
                  .values(name="Anna\x07 Svens\x1bson\r\nBcc: x@evil.example"))
        s.execute(update(Subscriber).where(Subscriber.id == second)
                  .values(email="broken\x01@example.org"))
    invited = run("invite", SLUG, "--list", "demo", "--now", "2023-01-20 09:00")
    n_invited = int(invited.stdout.split("demo: ", 1)[1].split()[0])
    assert n_invited == 52
    run("worker", "--drain", "--now", "2023-01-20 09:01")
    mails = smtp_server.wait_for(51)
    assert len(mails) == 51
    anna = next(m for m in mails if "Anna" in str(m.message["To"]))
    assert str(anna.message["To"]).startswith('"Anna Svens son Bcc: x@evil.example" <')
    assert anna.message["Bcc"] is None  # quoted in the display name, never a header
    assert not any("x@evil.example" in r for m in mails for r in m.rcpt_tos)
    with transaction(engine) as s:
        failed = s.scalars(select(OutboxRow).where(OutboxRow.status != OutboxStatus.sent)).all()
        assert len(failed) == 1 and "control character" in failed[0].last_reply
    engine.dispose()
