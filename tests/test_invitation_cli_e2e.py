"""The Done-when scenario as a coordinator types it, through a real SMTP server on loopback.

demo list → invite to the 2023 network → 10 registrations (two from Hylte, a third from
Hylte refused) → one invitee unsubscribes → ``mailer worker --drain --now`` 7 days
before the deadline → exactly the non-registered, still-subscribed invitees get one
reminder each → running it again sends nothing new.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from mailer.store.db import make_engine, transaction
from mailer.store.models import Subscriber, Subscription, SubscriptionStatus
from tests.invite_helpers import ROOT, SLUG
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.slow

REGISTER = [  # (e-mail, expected outcome)
    ("asa.lindqvist@hylte.example", "1 of 2 seats"),
    ("goran.sjoberg@hylte.example", "2 of 2 seats"),
    ("maria.holm@uppsala.example", "1 of 2 seats"),
    ("ingrid.akesson@ornskoldsvik.example", "1 of 2 seats"),
    ("karin.bergqvist@vanersborg.example", "1 of 2 seats"),
    ("elin.karlsson@karlskoga.example", "1 of 2 seats"),
    ("helena.stromberg@rvn.example", "1 of 2 seats"),
    ("daniel.kowalski@regionuppsala.example", "1 of 2 seats"),
    ("lars.wikstrom@falun.example", "1 of 2 seats"),
    ("leila.haddad@uppsala.example", "2 of 2 seats"),
]


def test_invite_register_remind_once(tmp_path: Path, smtp_server: SmtpServer) -> None:
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    shutil.copytree(ROOT / "issues" / SLUG, ws / "issues" / SLUG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_SECRET_KEY="test-secret-key-not-for-production-0123456789",
               MAILER_SMTP_URL=smtp_server.url, MAILER_BASE_URL="https://nyhetsbrev.example.org")

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "mailer", "--workspace", str(ws), *args],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        if ok:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    run("init")
    run("lists", "create", "demo", "--name", "Demo", "--single-opt-in")
    run("subscribers", "import", str(ROOT / "subscribers" / "demo.csv"), "--list", "demo")
    invited = run("invite", SLUG, "--list", "demo", "--now", "2023-01-20 09:00")
    n_invited = int(invited.stdout.split("demo: ", 1)[1].split()[0])
    run("worker", "--drain", "--now", "2023-01-20 09:01")
    assert len(smtp_server.wait_for(n_invited)) == n_invited
    smtp_server.received.clear()

    for email, seats in REGISTER:
        r = run("registrations", "add", SLUG, email, "--now", "2023-02-01 10:00")
        assert seats in r.stdout
    refused = run("registrations", "add", SLUG, "marta.nystrom@hylte.example",
                  "--now", "2023-02-01 10:00", ok=False)
    assert refused.returncode == 2
    assert "Hylte kommun already has 2 of 2 seats (held by Åsa Lindqvist" in refused.stderr

    engine = make_engine(f"sqlite:///{ws / 'mailer.db'}")
    with transaction(engine) as s:  # one invitee unsubscribes after the invitation
        sid = s.query(Subscriber.id).filter_by(email_key="bjorn.ohman@karlskoga.example")\
            .scalar()
        s.execute(update(Subscription).where(Subscription.subscriber_id == sid)
                  .values(status=SubscriptionStatus.unsubscribed))
    engine.dispose()

    dry = run("remind", SLUG, "--dry-run", "--now", "2023-02-08 09:05")
    lines = dry.stdout.strip().splitlines()
    assert len(lines) == n_invited  # one person per line
    would = sorted(line.split()[0] for line in lines if "would be reminded" in line)
    assert sum("\tregistered" in line for line in lines) == 10
    assert sum("\tunsubscribed" in line for line in lines) == 1
    # Hylte kommun's other three and Uppsala kommun's other two (demo.csv has five and
    # four people there): their organisation cannot register more, so no reminder
    assert sum("seats full for their organisation" in line for line in lines) == 5
    assert len(would) == n_invited - 10 - 1 - 5

    run("worker", "--drain", "--now", "2023-02-08 09:05")
    got = smtp_server.wait_for(len(would))
    assert sorted(r.rcpt_tos[0] for r in got) == would
    assert {str(r.message["Subject"]) for r in got} == {
        "Påminnelse: sista anmälningsdag 15 februari"}
    run("worker", "--drain", "--now", "2023-02-08 09:20")
    assert len(smtp_server.received) == len(would)
    again = run("remind", SLUG, "--dry-run", "--now", "2023-02-08 09:30")
    assert "0 would be reminded" in again.stderr and "already reminded" in again.stdout
