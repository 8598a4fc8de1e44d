"""The bounce policy on a real database and SMTP server: soft bounces add up, 5.7.x
refusals never suppress and slow the worker down, and ``mailer doctor``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from mailer.config import Settings, load_settings
from mailer.delivery.worker import deliver_due
from mailer.domain.feedback import BounceClass, BouncePolicy
from mailer.services.deliverability import doctor, process_inbox
from mailer.services.mailings import plan_mailing, progress
from mailer.store import suppressions
from mailer.store.db import transaction
from mailer.store.models import Suppression
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli


def test_three_soft_bounces_within_the_window_suppress(engine: Engine) -> None:
    policy = BouncePolicy(soft_limit=3, soft_days=30)
    now = datetime.now(UTC)
    fact = suppressions.BounceFact(email="anna@hylte.se", status="4.2.2",
                                   bounce_class=BounceClass.soft, diagnostic="mailbox full")
    with transaction(engine) as s:
        # one long ago (outside the window), then two recent ones: not yet
        assert suppressions.record_bounce(s, fact, policy, now - timedelta(days=40)) is None
        assert suppressions.record_bounce(s, fact, policy, now - timedelta(days=3)) is None
        assert suppressions.record_bounce(s, fact, policy, now - timedelta(days=1)) is None
        assert suppressions.get(s, "anna@hylte.se") is None
        assert suppressions.record_bounce(s, fact, policy, now) == "soft_bounces"
        hard = suppressions.BounceFact(email="bo@hylte.se", status="5.1.1",
                                       bounce_class=BounceClass.hard)
        assert suppressions.record_bounce(s, hard, policy, now) == "hard_bounce"
        policy_refusal = suppressions.BounceFact(email="cia@hylte.se", status="5.7.26",
                                                 bounce_class=BounceClass.policy)
        for _ in range(5):
            assert suppressions.record_bounce(s, policy_refusal, policy, now) is None
    with transaction(engine) as s:
        assert sorted(s.scalars(select(Suppression.email))) == ["anna@hylte.se",
                                                                "bo@hylte.se"]


def test_policy_refusal_is_never_suppressed_and_slows_the_worker(
        engine: Engine, workspace, db_url: str, smtp_server: SmtpServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(workspace, database_url=db_url, smtp_url=smtp_server.url,
                             secret_key=TEST_SECRET, policy_backoff_seconds=0.3,
                             smtp_connections=1)
    add_subscribers(engine, 3)
    smtp_server.handler.rcpt_fault = (
        lambda a: "550 5.7.515 Access denied, sending domain does not meet the required "
                  "authentication level" if a == "person0@example.test" else None)
    with transaction(engine) as s:
        mailing, _ = plan_mailing(s, synthetic_rendered(3_000), kind="newsletter",
                                  now=datetime.now(UTC), list_slugs=["medborgardialog"])
    t0 = datetime.now(UTC)
    report = deliver_due(engine, settings)
    assert (report.sent, report.failed, report.policy_refusals) == (2, 1, 1)
    assert report.suppressed == 0 and report.bounced == 0
    assert datetime.now(UTC) - t0 >= timedelta(seconds=0.3)  # the pause happened
    with transaction(engine) as s:
        assert s.scalar(select(Suppression)) is None
        health = progress(s, [mailing.id])[0].health
    assert health is not None and health.policy == 1 and health.bounced == 0
    assert health.warnings == ["policy"]
    # ... and `mailer mailings` says so (issue 11: a warning there and on the dashboard).
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SECRET_KEY": TEST_SECRET,
                       "MAILER_SMTP_URL": smtp_server.url}.items():
        monkeypatch.setenv(key, value)
    code, out, _ = Cli(workspace, capsys, monkeypatch)("mailings")
    assert code == 0
    assert "WARNING: receivers refused mail for policy reasons (5.7.x" in out, out


def test_doctor_checks_alignment_and_prints_records(settings: Settings, workspace) -> None:
    bad = doctor(settings)  # base URL https, secret set; no DKIM, no bounce address
    assert not bad.ok
    assert any(c.what.startswith("mailer does not DKIM-sign") and not c.ok for c in bad.checks)
    assert any("_dmarc.example.org. IN TXT" in r for r in bad.records)
    from mailer.delivery.dkim import generate_key, write_key

    write_key(generate_key("rsa"), workspace / "dkim" / "s1.pem")
    good = doctor(load_settings(workspace, database_url=settings.database_url,
                                secret_key=TEST_SECRET, base_url="https://n.example.org",
                                dkim_selector="s1", bounce_address="bounces@news.example.org",
                                inbox=str(workspace / "Maildir")))
    assert good.ok, [c for c in good.checks if not c.ok]
    assert any(r.startswith('s1._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=')
               for r in good.records)
    misaligned = doctor(load_settings(workspace, secret_key=TEST_SECRET,
                                      base_url="http://n.example.org", dkim_selector="s1",
                                      dkim_domain="relay.example.net",
                                      bounce_address="b@other.example.com"))
    failed = {c.what.split(" ")[0] + " " + c.what.split(" ")[1] for c in misaligned.checks
              if not c.ok}
    assert {"DKIM domain", "bounce address", "MAILER_BASE_URL http://n.example.org"} <= failed


def test_inbox_source_errors_are_clear(engine: Engine, settings: Settings, tmp_path) -> None:
    from mailer.errors import MailerError

    with pytest.raises(MailerError, match="no such Maildir, mbox file or folder"):
        process_inbox(engine, settings, tmp_path / "missing", now=datetime.now(UTC))
    with pytest.raises(MailerError, match="imaps://user:password@host/INBOX"):
        process_inbox(engine, settings, "imaps://", now=datetime.now(UTC))
