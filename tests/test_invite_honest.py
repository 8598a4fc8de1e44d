"""Honest invitation counts: a copy that expired before delivery does not count as invited,
shows with its reason in 'mailer mailings', and does not block a later invitation."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_support import cli_in
from tests.conftest import TEST_SECRET
from tests.invite_helpers import ROOT, SLUG
from tests.smtp_server import SmtpServer


def _demo_workspace(workspace: Path, db_url: str, smtp_server: SmtpServer,
                    monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """The 2023 invitation and the demo list, imported; the CLI to run in it."""
    shutil.copytree(ROOT / "issues" / SLUG, workspace / "issues" / SLUG)
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAILER_SMTP_URL", smtp_server.url)
    run = cli_in(workspace)
    run("init")
    run("lists", "create", "demo", "--name", "Demo", "--single-opt-in")
    run("subscribers", "import", str(ROOT / "subscribers" / "demo.csv"), "--list", "demo")
    return run


def test_expired_invitations_are_not_counted_and_can_be_sent_again(
        workspace: Path, db_url: str, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = _demo_workspace(workspace, db_url, smtp_server, monkeypatch)
    # After the deadline: refused, nothing recorded.
    out = run("invite", SLUG, "--list", "demo", "--now", "2023-06-01 09:00", ok=False)
    assert "deadline" in out and "has passed" in out
    # Decided "as if" in January, but a worker on the real clock runs after the deadline.
    out = run("invite", SLUG, "--list", "demo", "--now", "2023-01-20 09:00")
    n = int(out.split("demo: ", 1)[1].split()[0])
    assert n > 5 and "by the real clock the deadline has passed" in out
    assert "sent 0, failed 0" in run("worker", "--drain")
    assert smtp_server.received == []
    out = run("mailings")
    assert f"skipped {n}: expired before delivery (the deadline passed)" in out
    out = run("invitations", "show", SLUG, "--now", "2023-01-20 10:00")
    assert "invitees: 0" in out and f"not reached: {n}" in out
    _api_shows_not_reached(workspace, db_url, n)
    # The expired copies do not block a new invitation; delivered ones count.
    out = run("invite", SLUG, "--list", "demo", "--now", "2023-01-20 10:00")
    assert f"demo: {n} invited in mailing 2" in out
    assert f"sent {n}, failed 0" in run("worker", "--drain", "--now", "2023-01-20 10:01")
    out = run("invitations", "show", SLUG, "--now", "2023-01-20 10:05")
    assert f"invitees: {n}" in out and "not reached" not in out
    out = run("invite", SLUG, "--list", "demo", "--now", "2023-01-20 10:10")
    assert "demo: 0 invited (everyone was invited already)" in out


def _api_shows_not_reached(workspace: Path, db_url: str, n: int) -> None:
    from fastapi.testclient import TestClient

    from mailer.config import load_settings
    from mailer.store.db import make_engine, transaction
    from mailer.store.models import utcnow
    from mailer.web.app import create_app
    from tests.admin.conftest import EMAILS, PASSWORD, token_for

    settings = load_settings(workspace)
    engine = make_engine(db_url)
    from mailer.services import accounts

    with transaction(engine) as s:
        accounts.create_user(s, EMAILS["coordinator"], role="coordinator", name="C",
                             password=PASSWORD, now=utcnow())
    base = "https://nyhetsbrev.example.org"
    with TestClient(create_app(settings, engine=engine), base_url=base) as client:
        token = token_for(engine, "coordinator")
        got = client.get(f"/api/invitations/{SLUG}",
                         headers={"authorization": f"Bearer {token}"}).json()
        assert (got["invitees"], got["not_reached"]) == (0, n)
    engine.dispose()


def test_a_suppressed_address_is_neither_invited_nor_counted_nor_reminded(
        workspace: Path, db_url: str, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning leaves a suppressed address out; so do the dry run's count, the invitees,
    a second invitation (no empty mailing) and the reminder's count and ledger."""
    run = _demo_workspace(workspace, db_url, smtp_server, monkeypatch)
    everyone = int(run("invite", SLUG, "--dry-run", "--now", "2023-01-20 09:00")
                   .split("demo: ", 1)[1].split()[0])
    run("suppressions", "add", "maria.holm@uppsala.example")
    dry = run("invite", SLUG, "--dry-run", "--now", "2023-01-20 09:00")
    assert f"demo: {everyone - 1} would be invited" in dry
    _send(run, "invite", "2023-01-20 09:00", f"demo: {everyone - 1} invited in mailing 1",
          everyone - 1)
    out = run("invitations", "show", SLUG, "--now", "2023-01-20 10:00")
    assert f"invitees: {everyone - 1}" in out and "not reached" not in out
    assert "demo: 0 would be invited" in run("invite", SLUG, "--dry-run", "--now",
                                             "2023-01-20 10:00")
    assert "demo: 0 invited" in run("invite", SLUG, "--now", "2023-01-20 10:00")
    assert "   2 " not in run("mailings")  # no second, empty mailing
    # invited before the address was suppressed: no reminder, and not counted as one
    run("suppressions", "add", "asa.lindqvist@hylte.example")
    dry = run("remind", SLUG, "--dry-run", "--now", "2023-02-08 09:05")
    assert "asa.lindqvist@hylte.example (Hylte kommun)\ton the suppression list" in dry
    assert f"{everyone - 2} would be reminded" in dry
    _send(run, "remind", "2023-02-08 09:05", f"{everyone - 2} reminded in mailing",
          everyone - 2)
    out = run("invitations", "show", SLUG, "--now", "2023-02-08 10:00")
    assert f"reminder 7d: 2023-02-08 09:00 done (sent {everyone - 2}, skipped 1)" in out


def _send(run: Callable[..., str], command: str, now: str, says: str, sent: int) -> None:
    """``mailer COMMAND SLUG --now NOW`` says ``says``; the worker then sends ``sent``."""
    assert says in run(command, SLUG, "--now", now)
    assert f"sent {sent}, failed 0" in run("worker", "--drain", "--now", now)


def test_the_worker_counts_the_reminders_it_planned_in_people(
        workspace: Path, db_url: str, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """'invitations: reminders planned for 1 person', not '1 reminders planned'."""
    run = _demo_workspace(workspace, db_url, smtp_server, monkeypatch)
    run("lists", "create", "one", "--name", "One", "--single-opt-in")
    csv = workspace / "one.csv"
    csv.write_text("email;name;organisation\nsolo@hylte.example;Solo;Hylte kommun\n",
                   encoding="utf-8")
    run("subscribers", "import", str(csv), "--list", "one")
    run("invite", SLUG, "--list", "one", "--now", "2023-01-20 09:00")
    out = run("worker", "--drain", "--now", "2023-02-08 09:05")
    assert "invitations: reminders planned for 1 person" in out, out


def _two_on_a_list(run, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    """A list 'two' with two people of two organisations, imported."""
    run("lists", "create", "two", "--name", "Two", "--single-opt-in")
    csv = workspace / "two.csv"
    csv.write_text("email;name;organisation\nett@hylte.example;Ett;Hylte kommun\n"
                   "tva@uppsala.example;Två;Uppsala kommun\n", encoding="utf-8")
    run("subscribers", "import", str(csv), "--list", "two")


def _reminded_two(workspace: Path, db_url: str, smtp_server: SmtpServer,
                  monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Two invited and reached in January, reminded 'as if' on 8 February: both
    reminders wait in the outbox, "on its way", not "sent". The CLI to go on with."""
    run = _demo_workspace(workspace, db_url, smtp_server, monkeypatch)
    _two_on_a_list(run, workspace)
    run("invite", SLUG, "--list", "two", "--now", "2023-01-20 09:00")
    assert "sent 2, failed 0" in run("worker", "--drain", "--now", "2023-01-20 09:01")
    assert "2 reminded" in run("remind", SLUG, "--now", "2023-02-08 09:00")
    out = run("invitations", "show", SLUG, "--now", "2023-02-08 09:01")
    assert "reminder 7d: 2023-02-08 09:00 done (on its way 2)" in out, out
    return run


def test_a_reminder_whose_copy_expired_is_not_counted_as_sent(
        workspace: Path, db_url: str, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The coordinator's guide reminds 'as if' on 8 February, then a worker on the real
    clock finds the copies past the deadline: 'invitations show' said 'done (sent 2, …)'
    while 'mailer mailings' showed both skipped as expired and nobody got one."""
    run = _reminded_two(workspace, db_url, smtp_server, monkeypatch)
    assert "sent 0, failed 0" in run("worker", "--drain")  # the real clock: expired
    assert "skipped 2: expired before delivery" in run("mailings")
    out = run("invitations", "show", SLUG, "--now", "2023-02-08 09:05")
    assert "reminder 7d: 2023-02-08 09:00 done (not reached 2)" in out, out


def test_a_reminder_is_sent_once_it_went_not_while_it_waits(
        workspace: Path, db_url: str, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after 'Skicka påminnelsen nu' the page said 'skickade: 2' while both copies
    waited in the outbox: on its way until the worker sent them, then sent."""
    run = _reminded_two(workspace, db_url, smtp_server, monkeypatch)
    assert "sent 2, failed 0" in run("worker", "--drain", "--now", "2023-02-08 09:02")
    out = run("invitations", "show", SLUG, "--now", "2023-02-08 09:03")
    assert "reminder 7d: 2023-02-08 09:00 done (sent 2)" in out, out
    assert len(smtp_server.received) == 4  # two invitations, two reminders


def test_someone_whose_invitation_never_reached_them_is_not_reminded(
        workspace: Path, db_url: str, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """'invitees: 0, not reached: 2' beside '2 would be reminded': a reminder of an
    invitation that the server refused was planned and counted for both."""
    run = _demo_workspace(workspace, db_url, smtp_server, monkeypatch)
    _two_on_a_list(run, workspace)
    # 5.6.0 (content), not 5.1.1: a hard bounce would rightly suppress the addresses.
    smtp_server.handler.rcpt_fault = lambda a: "554 5.6.0 message content rejected"
    run("invite", SLUG, "--list", "two", "--now", "2023-01-20 09:00")
    assert "sent 0, failed 2" in run("worker", "--drain", "--now", "2023-01-20 09:01")
    out = run("invitations", "show", SLUG, "--now", "2023-02-08 09:00")
    assert "invitees: 0" in out and "not reached: 2" in out
    dry = run("remind", SLUG, "--dry-run", "--now", "2023-02-08 09:00")
    assert "0 would be reminded" in dry and "ett@hylte.example" not in dry, dry
    assert "0 reminded" in run("remind", SLUG, "--now", "2023-02-08 09:00")
    assert " reminder " not in run("mailings")  # no reminder mailing
    # Invited again and reached, they are invitees, and the reminder due now is theirs.
    smtp_server.handler.rcpt_fault = None
    assert "two: 2 invited in mailing 2" in run("invite", SLUG, "--list", "two", "--now",
                                                "2023-02-08 09:10")
    out = run("worker", "--drain", "--now", "2023-02-08 09:11")
    assert "reminders planned for 2 people" in out and "sent 4, failed 0" in out, out
    out = run("invitations", "show", SLUG, "--now", "2023-02-08 09:12")
    assert "invitees: 2" in out and "reminder 7d: 2023-02-08 09:00 done (sent 2)" in out, out
