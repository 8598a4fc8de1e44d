"""The invitation commands as a coordinator runs them (SQLite workspace, real processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.invite_helpers import ROOT, SLUG


def run(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_SECRET_KEY"] = "test-secret-key-not-for-production-0123456789"
    return subprocess.run([sys.executable, "-m", "mailer", "--workspace", str(ws), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    shutil.copytree(ROOT / "issues" / SLUG, ws / "issues" / SLUG)
    assert run(ws, "init").returncode == 0
    assert run(ws, "lists", "create", "demo", "--name", "Demo", "--single-opt-in").returncode == 0
    r = run(ws, "subscribers", "import", str(ROOT / "subscribers" / "demo.csv"), "--list", "demo")
    assert r.returncode == 0, r.stderr
    return ws


def test_coordinator_session(ws: Path, tmp_path: Path) -> None:
    r = run(ws, "invite", SLUG, "--list", "demo", "--dry-run", "--now", "2023-01-20 09:00")
    assert r.returncode == 0 and "demo: " in r.stdout and "would be invited" in r.stdout
    # registrations from the external system's CSV
    csv = tmp_path / "delegia.csv"
    csv.write_text("E-post;Namn;Kommun;Projekt\n"
                   "asa.lindqvist@hylte.example;Åsa Lindqvist;Hylte kommun;19425\n"
                   "goran.sjoberg@hylte.example;Göran Sjöberg;Hylte kommun;19425\n"
                   "marta.nystrom@hylte.example;Märta Nyström;Hylte kommun;19425\n"
                   "okand@example.org;Okänd;Lunds kommun;19425\n"
                   "asa.lindqvist@hylte.example;Åsa Lindqvist;Hylte kommun;19425\n"
                   "sven@;Sven;Hylte kommun;19425\n",
                   encoding="cp1252")
    r = run(ws, "registrations", "import", str(csv), "--invitation", SLUG,
            "--now", "2023-02-05 10:00")
    assert r.returncode == 1, r.stderr  # some rows rejected, the rest applied
    assert "registered 2, wait-listed 0, cancelled 0, unchanged 0, rejected 4" in r.stdout
    # no "-" where the address would be: the reason quotes the cell
    assert "line 7: 'sven@' is not a valid e-mail address" in r.stdout, r.stdout
    assert "line 4: marta.nystrom@hylte.example: Hylte kommun already has 2 of 2" in r.stdout
    assert "line 5: okand@example.org: not a known subscriber" in r.stdout
    assert "line 6: asa.lindqvist@hylte.example: duplicate of line 2" in r.stdout
    assert (tmp_path / "delegia.rejected.csv").is_file()
    r = run(ws, "registrations", "add", SLUG, "maria.holm@uppsala.example",
            "--now", "2023-02-06 10:00")
    assert r.returncode == 0 and "1 of 2 seats" in r.stdout
    r = run(ws, "registrations", "transfer", SLUG, "goran.sjoberg@hylte.example",
            "marta.nystrom@hylte.example", "--now", "2023-02-07 10:00")
    assert r.returncode == 0, r.stderr
    r = run(ws, "registrations", "list", SLUG)
    assert "Hylte kommun: 2 of 2 seats, 0 left" in r.stdout
    assert "Uppsala kommun: 1 of 2 seats, 1 left" in r.stdout
    assert "seat passed on" in r.stdout
    # a wrong invitation id is a clear error, not a traceback
    r = run(ws, "registrations", "list", "2023-natverk")
    assert r.returncode == 3 and "known folders: 2023-natverk-tjanstepersoner" in r.stderr
    assert "Traceback" not in r.stderr


def test_remind_dry_run_lists_one_person_per_line(ws: Path) -> None:
    from_db = run(ws, "invitations", "sync", SLUG, "--now", "2023-01-20 09:00")
    assert from_db.returncode == 0
    # nobody invited yet: nobody to remind
    r = run(ws, "remind", SLUG, "--dry-run", "--now", "2023-02-09 09:00")
    assert r.returncode == 0 and "0 would be reminded" in r.stderr
    # after the deadline a real reminder is refused, with the way out
    r = run(ws, "remind", SLUG, "--now", "2023-03-01 09:00")
    assert r.returncode == 2 and "deadline 2023-02-15 23:59" in r.stderr
    assert "--dry-run --now" in r.stderr


def test_a_sent_reminder_says_reminded_not_would_be(ws: Path) -> None:
    """The real run reports what it did: those it reminded are "reminded", per line and
    in the summary; only the dry run says "would be reminded"."""
    assert run(ws, "invite", SLUG, "--list", "demo", "--now", "2023-01-20 09:00").returncode == 0
    r = run(ws, "registrations", "add", SLUG, "maria.holm@uppsala.example",
            "--now", "2023-02-01 10:00")
    assert r.returncode == 0, r.stderr
    dry = run(ws, "remind", SLUG, "--dry-run", "--now", "2023-02-08 09:05")
    would = sum(line.endswith("\twould be reminded") for line in dry.stdout.splitlines())
    assert would > 0 and f"{would} would be reminded (registered: 1, would be reminded: " \
        f"{would})" in dry.stderr
    sent = run(ws, "remind", SLUG, "--now", "2023-02-08 09:05")
    assert sent.returncode == 0, sent.stderr
    assert "would be" not in sent.stdout + sent.stderr
    assert sum(line.endswith("\treminded") for line in sent.stdout.splitlines()) == would
    assert f"{would} reminded in mailing" in sent.stderr
    assert f"(registered: 1, reminded: {would})" in sent.stderr
    # and, days later, the reminder handed to the outbox is "done", not "missed"; its
    # copies are "on its way", not "sent": no worker has run here
    shown = run(ws, "invitations", "show", SLUG, "--now", "2023-02-10 09:00")
    assert f"reminder 7d: 2023-02-08 09:00 done (on its way {would}, skipped 1)" in \
        shown.stdout, shown.stdout
    assert "reminder 1d: 2023-02-14 09:00 upcoming" in shown.stdout


def test_after_the_deadline_the_dry_run_reminds_nobody(ws: Path) -> None:
    """After the deadline the dry run listed every person as "would be reminded" and then
    said nothing would be sent; now each line and the count say what would happen."""
    assert run(ws, "invite", SLUG, "--list", "demo", "--now", "2023-01-20 09:00").returncode == 0
    assert run(ws, "registrations", "add", SLUG, "maria.holm@uppsala.example",
               "--now", "2023-02-01 10:00").returncode == 0
    dry = run(ws, "remind", SLUG, "--dry-run", "--now", "2023-03-01 09:00")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines and "would be reminded" not in dry.stdout
    assert [line for line in lines if line.endswith("\tregistered")] == [
        "Maria.Holm@uppsala.example (Uppsala kommun)\tregistered"]
    closed = sum(line.endswith("\tthe deadline has passed") for line in lines)
    assert closed == len(lines) - 1
    assert (f"0 would be reminded (registered: 1, the deadline has passed: {closed})"
            in dry.stderr), dry.stderr


def test_a_seat_goes_to_a_known_colleague_with_no_organisation_on_file(
        ws: Path, tmp_path: Path) -> None:
    """Refused before ("belongs to no organisation, not Hylte kommun"): a known person
    with no organisation on file takes the seat and is recorded in its organisation."""
    csv = tmp_path / "ny.csv"
    csv.write_text("e-post;namn\nny.kollega@hylte.example;Ny Kollega\n", encoding="utf-8")
    assert run(ws, "subscribers", "import", str(csv), "--list", "demo").returncode == 0
    r = run(ws, "registrations", "add", SLUG, "asa.lindqvist@hylte.example",
            "--now", "2023-02-05 10:00")
    assert r.returncode == 0, r.stderr
    r = run(ws, "registrations", "transfer", SLUG, "asa.lindqvist@hylte.example",
            "ny.kollega@hylte.example", "--now", "2023-02-06 10:00")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "the seat of asa.lindqvist@hylte.example now belongs to ny.kollega@hylte.example "
        "(Hylte kommun)",
        "ny.kollega@hylte.example had no organisation on file; it is now Hylte kommun"]
    listed = run(ws, "registrations", "list", SLUG).stdout
    assert "Hylte kommun: 1 of 2 seats, 1 left" in listed and "ny.kollega" in listed
    # someone unknown needs a name (the organisation is the seat's; transfer has no
    # --organisation, so the error must not ask for one)
    r = run(ws, "registrations", "transfer", SLUG, "ny.kollega@hylte.example",
            "okand@hylte.example", "--now", "2023-02-07 10:00")
    assert r.returncode == 3 and "give --name to add them" in r.stderr, r.stderr
    assert "--organisation" not in r.stderr


def test_one_meeting_is_one_meeting(tmp_path: Path) -> None:
    """'invitations check' and 'invitations ics' count the meetings in good English."""
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    slug = "2019-natverk-fortroendevalda"  # one meeting
    shutil.copytree(ROOT / "issues" / slug, ws / "issues" / slug)
    assert run(ws, "init").returncode == 0
    r = run(ws, "invitations", "check", slug, "--now", "2019-03-01 09:00")
    assert r.returncode == 0, r.stderr
    assert ": ok (1 meeting, deadline 2019-04-15 23:59" in r.stdout
    r = run(ws, "invitations", "ics", slug, "--out", str(tmp_path / "x.ics"))
    assert r.returncode == 0 and r.stdout.strip().endswith("x.ics (1 meeting)"), r.stdout


def test_check_renders_the_invitation_and_its_reminders(tmp_path: Path) -> None:
    """'invitations check' passed an invitation whose mail then failed to render (the
    admin's send answered 500): it now renders the invitation and each reminder as they
    would go out, with the workspace's templates, and names the one that fails."""
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    slug = "2019-natverk-fortroendevalda"
    shutil.copytree(ROOT / "issues" / slug, ws / "issues" / slug)
    assert run(ws, "init").returncode == 0
    r = run(ws, "invitations", "check", slug, "--now", "2019-03-01 09:00")
    assert r.returncode == 0, r.stderr
    assert "the invitation and its reminders render)" in r.stdout
    (ws / "templates").mkdir(exist_ok=True)
    (ws / "templates" / "reminder.txt.j2").write_text("{% if %}\n", encoding="utf-8")
    r = run(ws, "invitations", "check", slug, "--now", "2019-03-01 09:00")
    assert r.returncode == 1, r.stdout
    assert "reminder 7d does not render: " in r.stderr, r.stderr
    assert "reminder.txt.j2:1: template syntax" in r.stderr, r.stderr
    assert "the invitation does not render" not in r.stderr  # its templates are fine
    assert ": ok (" not in r.stdout


def test_ics_is_named_in_the_invitations_language_and_a_bad_out_is_an_error(
        tmp_path: Path) -> None:
    """Without --out the file is inbjudan.ics for a Swedish invitation and invitation.ics
    for an English one (it was always inbjudan.ics); a folder that does not exist is an
    error naming the path, not a traceback."""
    ws = tmp_path / "ws"
    (ws / "issues").mkdir(parents=True)
    slug = "2019-natverk-fortroendevalda"
    shutil.copytree(ROOT / "issues" / slug, ws / "issues" / slug)
    english = ws / "issues" / "2019-network-english"
    shutil.copytree(ROOT / "issues" / slug, english)
    yaml = english / "issue.yaml"
    yaml.write_text(yaml.read_text(encoding="utf-8").replace("\nlanguage: sv\n",
                                                             "\nlanguage: en\n"),
                    encoding="utf-8")
    assert run(ws, "init").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_SECRET_KEY"] = "test-secret-key-not-for-production-0123456789"
    here = tmp_path / "here"
    here.mkdir()
    for name, expected in ((slug, "inbjudan.ics"), (english.name, "invitation.ics")):
        r = subprocess.run([sys.executable, "-m", "mailer", "--workspace", str(ws),
                            "invitations", "ics", name], capture_output=True, text=True,
                           env=env, cwd=here, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"wrote {expected} ("), r.stdout
    assert sorted(p.name for p in here.iterdir()) == ["inbjudan.ics", "invitation.ics"]
    r = run(ws, "invitations", "ics", slug, "--out", str(tmp_path / "nowhere" / "x.ics"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"--out {tmp_path / 'nowhere' / 'x.ics'}: cannot write the file there" in r.stderr
