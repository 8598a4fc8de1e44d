"""Issue 11's done-when, end to end: RCPT refusals, DSNs and an ARF report in a Maildir,
``mailer inbox`` twice, and the next mailing leaves the bounced and complaining out;
every copy is DKIM-signed (dkimpy verifies it, List-Unsubscribe-Post in h=)."""

from __future__ import annotations

import mailbox
import re
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from sqlalchemy import Engine, func, select

from mailer.config import load_settings
from mailer.delivery.dkim import load_key, txt_value
from mailer.delivery.verp import Verp
from mailer.delivery.worker import deliver_due
from mailer.services.lists import create_list
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import (
    FeedbackEvent,
    OutboxRow,
    OutboxStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli

SAMPLES = Path(__file__).parent / "feedback_samples"
BOUNCES = "bounces@news.example.org"


def report_for(name: str, addr: str, row: int, verp: Verp, n: int) -> bytes:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    text = re.sub(r"bounces\+\{ROW\}-\{MAC\}@news\.example\.org", verp.address(row), text)
    text = text.replace("{ADDR}", addr).replace("{USER}", addr.split("@")[0])
    text = text.replace("{ROW}", str(row))
    # each report its own Message-ID (the samples share theirs)
    text = re.sub(r"(?im)^Message-Id:.*$", f"Message-ID: <report{n}.{row}@mx.example>", text,
                  count=1)
    return text.encode("utf-8")


def test_bounces_and_complaint_suppress_exactly_those_and_next_mailing_leaves_them_out(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SMTP_URL": smtp_server.url,
                       "MAILER_SECRET_KEY": TEST_SECRET, "MAILER_BOUNCE_ADDRESS": BOUNCES,
                       "MAILER_BASE_URL": "https://nyhetsbrev.example.org"}.items():
        monkeypatch.setenv(key, value)
    cli = Cli(workspace, capsys, monkeypatch)
    code, out, _ = cli("dkim", "keygen", "--selector", "nl2026")
    assert code == 0, out
    zone = out.strip().splitlines()[-1]
    assert zone.startswith('nl2026._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=')
    key_file = workspace / "dkim" / "nl2026.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "BEGIN" not in out  # the private key is never printed
    settings = load_settings(workspace)
    assert settings.dkim_selector == "nl2026"

    list_id = add_subscribers(engine, 10)  # person0..9@example.test
    with transaction(engine) as s:
        other = create_list(s, "natverk", "Nätverket", language="sv")
        complainer = s.scalar(select(Subscriber).where(
            Subscriber.email == "person5@example.test"))
        s.add(Subscription(subscriber_id=complainer.id, list_id=other.id,
                           status=SubscriptionStatus.active, source="test"))
    refused = {"person1@example.test", "person2@example.test"}
    smtp_server.handler.rcpt_fault = (
        lambda a: f"550 5.1.1 <{a}>: Recipient address rejected: User unknown"
        if a in refused else None)

    with transaction(engine) as s:
        first, planned = plan_mailing(s, synthetic_rendered(8_000), kind="newsletter",
                                      now=datetime.now(UTC), list_slugs=["medborgardialog"])
    assert planned == 10
    report = deliver_due(engine, settings)
    assert (report.sent, report.failed, report.bounced, report.suppressed) == (8, 2, 2, 2)
    got = smtp_server.wait_for(8)

    # Every copy verifies with dkimpy; the one-click header is signed; VERP per row.
    key = load_key(key_file, domain="example.org", selector="nl2026")
    records = {b"nl2026._domainkey.example.org.": txt_value(key.key),
               b"nl2026._domainkey.example.org": txt_value(key.key)}
    verp = Verp(BOUNCES, TEST_SECRET)
    rows: dict[str, int] = {}
    for r in got:
        d = dkim.DKIM(r.data)
        assert d.verify(dnsfunc=lambda name, timeout=5: records.get(name))
        assert b"list-unsubscribe-post" in [n.strip() for n in d.signature_fields[b"h"].split(b":")]
        row = int(r.message["X-Mailer-Outbox"])
        assert verp.row_of(r.mail_from) == row
        assert r.message["Feedback-ID"].startswith(f"{first.id}:medborgardialog:newsletter:")
        rows[r.rcpt_tos[0]] = row

    # The bounce mailbox: Postfix and Exchange DSNs, an ARF complaint, an auto-reply.
    maildir = tmp_path / "bounces"
    box = mailbox.Maildir(maildir, create=True)
    for n, (sample, addr) in enumerate([
            ("postfix_dsn.eml", "person3@example.test"),
            ("exchange_ndr.eml", "person4@example.test"),
            ("arf_complaint.eml", "person5@example.test"),
            ("auto_reply.eml", "person6@example.test")]):
        box.add(report_for(sample, addr, rows[addr], verp, n))
    box.close()

    code, out, _ = cli("inbox", str(maildir))
    assert code == 0, out
    assert "read 4 messages, 0 processed before" in out
    assert "bounces: 2 hard, 0 soft" in out and "complaints 1" in out
    assert "auto-replies 1" in out
    expected = {f"person{i}@example.test" for i in (1, 2, 3, 4, 5)}

    def state() -> tuple[set[str], int, list[str]]:
        with transaction(engine) as s:
            suppressed = set(s.scalars(select(Suppression.email)))
            events = s.scalar(select(func.count()).select_from(FeedbackEvent)) or 0
            subs = [str(x) for x in s.scalars(
                select(Subscription.status).join(Subscriber)
                .where(Subscriber.email == "person5@example.test"))]
        return suppressed, events, subs

    suppressed, events, complainer_subs = state()
    assert suppressed == expected
    assert events == 5  # 2 at RCPT, 2 DSNs, 1 complaint
    assert complainer_subs == ["unsubscribed", "unsubscribed"]  # every list
    # processed messages are flagged seen in cur/
    assert all("S" in m.get_flags() for m in mailbox.Maildir(maildir, create=False))

    code, again, _ = cli("inbox", str(maildir))
    assert code == 0 and "read 4 messages, 4 processed before" in again
    assert "suppressed 0 addresses; 0 subscriptions ended" in again
    assert state() == (suppressed, events, complainer_subs)

    # The next mailing to that list leaves them all out.
    smtp_server.handler.received.clear()
    with transaction(engine) as s:
        second, planned = plan_mailing(s, synthetic_rendered(8_000), kind="newsletter",
                                       now=datetime.now(UTC), list_slugs=["medborgardialog"])
    assert planned == 5
    report = deliver_due(engine, settings)
    assert report.sent == 5
    assert {r.rcpt_tos[0] for r in smtp_server.received} == \
        {f"person{i}@example.test" for i in (0, 6, 7, 8, 9)}

    code, out, _ = cli("mailings")
    assert code == 0
    # Sender health of the first mailing: 10 attempted, 2 refused at RCPT, 2 DSNs later.
    health = out.split(f"\n{first.id:>4} ", 1)[1]
    assert "health: delivered 6, bounced 4 (40.0%: 4 hard, 0 soft), complaints 1 (10.00%)" \
        in health
    assert "WARNING: bounce rate above 2 %" in health
    assert "WARNING: complaint rate above 0.1 %" in health
    assert list_id


def test_suppressed_after_planning_is_skipped_at_claim(engine: Engine, settings,
                                                       smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 3, domain="hylte.se")
    with transaction(engine) as s:
        mailing, planned = plan_mailing(s, synthetic_rendered(4_000), kind="newsletter",
                                        now=datetime.now(UTC), list_slugs=["medborgardialog"])
    assert planned == 3
    from mailer.services.deliverability import add_suppression

    with transaction(engine) as s:
        assert add_suppression(s, "Person1@Hylte.SE", now=datetime.now(UTC))
    report = deliver_due(engine, settings)
    assert report.sent == 2
    with transaction(engine) as s:
        skipped = s.execute(select(OutboxRow.email, OutboxRow.last_reply).where(
            OutboxRow.mailing_id == mailing.id,
            OutboxRow.status == OutboxStatus.skipped)).all()
    assert [e for e, _ in skipped] == ["person1@hylte.se"]
    assert "suppression list" in skipped[0][1]


def test_worker_drain_reads_mailer_inbox_before_sending(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    box = mailbox.Maildir(maildir, create=True)
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SMTP_URL": smtp_server.url,
                       "MAILER_SECRET_KEY": TEST_SECRET, "MAILER_INBOX": str(maildir),
                       "MAILER_BASE_URL": "https://nyhetsbrev.example.org"}.items():
        monkeypatch.setenv(key, value)
    add_subscribers(engine, 3)
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(4_000), kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])
    # A complaint about person2 (no VERP here: found by the address it names).
    box.add(report_for("arf_complaint.eml", "person2@example.test", 0, Verp(BOUNCES, "x"), 9))
    box.close()
    code, out, _ = Cli(workspace, capsys, monkeypatch)("worker", "--drain")
    assert code == 0, out
    assert "1 new message: bounces: 0 hard, 0 soft; complaints: 1;" in out, out
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [
        "person0@example.test", "person1@example.test"]


def test_suppressions_cli_and_erasure_keeps_only_the_hash(
        engine: Engine, db_url: str, workspace: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from mailer.services.deliverability import is_suppressed
    from mailer.services.subscriptions import erase_by_email

    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    add_subscribers(engine, 2, domain="hylte.se")
    cli = Cli(workspace, capsys, monkeypatch)
    assert cli("suppressions", "add", "Person0@hylte.se", "--note", "left")[0] == 0
    assert cli("suppressions", "add", "person1@hylte.se")[0] == 0
    code, out, _ = cli("suppressions", "add", "person1@hylte.se")
    assert code == 0 and "suppressed already" in out
    code, out, err = cli("suppressions", "add", "nope")
    assert code != 0 and "not an e-mail address" in err
    code, out, _ = cli("suppressions", "--json")
    assert sorted((x["email"], x["reason"]) for x in json.loads(out)) == [
        ("Person0@hylte.se", "manual"), ("person1@hylte.se", "manual")]
    assert cli("suppressions", "remove", "person1@hylte.se")[0] == 0
    code, _, err = cli("suppressions", "remove", "person1@hylte.se")
    assert code != 0 and "not on the suppression list" in err

    with transaction(engine) as s:
        erase_by_email(s, "person0@hylte.se")
    with transaction(engine) as s:
        row = s.scalar(select(Suppression))
        assert row is not None and row.email is None and row.email_key is None
        assert is_suppressed(s, "PERSON0@hylte.se") is not None  # still, by its hash
    code, out, _ = cli("suppressions", "--json")
    assert [(x["email"], x["reason"]) for x in json.loads(out)] == [("", "manual")]


def test_keygen_ed25519_adds_a_second_signature(
        engine: Engine, db_url: str, workspace: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mailer.delivery.dkim import signer_for

    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    cli = Cli(workspace, capsys, monkeypatch)
    assert cli("dkim", "keygen", "--selector", "rsa1", "--domain", "news.example.org")[0] == 0
    code, out, _ = cli("dkim", "keygen", "--selector", "ed1", "--algorithm", "ed25519")
    assert code == 0 and 'ed1._domainkey.news.example.org. IN TXT "v=DKIM1; k=ed25519; p=' \
        in out
    code, _, err = cli("dkim", "keygen", "--selector", "ed1", "--algorithm", "ed25519")
    assert code != 0 and "--force" in err  # never overwrites a key silently
    code, _, err = cli("dkim", "keygen", "--selector", "bad selector!")
    assert code != 0 and "MAILER_DKIM_SELECTOR" in err
    settings = load_settings(workspace)
    signer = signer_for(settings)
    assert signer is not None
    assert [k.algorithm for k in signer.keys] == [b"rsa-sha256", b"ed25519-sha256"]
    msg = (b"From: a@example.org\r\nTo: b@hylte.se\r\nSubject: x\r\n\r\nHej\r\n")
    signed = signer.sign(msg)
    records = {f"{k.selector}._domainkey.{k.domain}.".encode(): txt_value(k.key)
               for k in signer.keys}
    assert signed.count(b"DKIM-Signature:") == 2
    for i in range(2):  # dkimpy verifies each signature
        assert dkim.DKIM(signed).verify(idx=i, dnsfunc=lambda n, timeout=5: records.get(n))
