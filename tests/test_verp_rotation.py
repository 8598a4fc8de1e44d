"""VERP across a key rotation: a bounce to an envelope sender made before
``mailer secret rotate`` still finds its outbox row; new copies carry the newest key."""

from __future__ import annotations

import mailbox
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from mailer.config import load_settings
from mailer.delivery.verp import Verp
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import FeedbackEvent, OutboxRow, Suppression
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli

SAMPLES = Path(__file__).parent / "feedback_samples"
BOUNCES = "bounces@news.example.org"


def test_verp_reads_addresses_of_every_key_and_makes_them_with_the_newest() -> None:
    old, new = Verp(BOUNCES, "old-key-0123456789"), Verp(BOUNCES, "new-key-0123456789")
    both = Verp(BOUNCES, ["old-key-0123456789", "new-key-0123456789"])
    assert both.address(7) == new.address(7) != old.address(7)
    assert both.row_of(old.address(7)) == 7 and both.row_of(new.address(7)) == 7
    assert new.row_of(old.address(7)) is None  # a key that is gone no longer reads
    forged = old.address(7).replace("+7-", "+8-")
    assert both.row_of(forged) is None
    with pytest.raises(ValueError):
        Verp(BOUNCES, [])


def _dsn(verp_address: str, final_recipient: str) -> bytes:
    text = (SAMPLES / "postfix_dsn.eml").read_text(encoding="utf-8")
    text = re.sub(r"bounces\+\{ROW\}-\{MAC\}@news\.example\.org", verp_address, text)
    # No X-Mailer-Outbox in the returned headers, and the DSN names a forwarding target:
    # only the VERP address can lead to the row.
    text = re.sub(r"(?m)^X-Mailer-Outbox: .*\n", "", text)
    return text.replace("{ADDR}", final_recipient).encode("utf-8")


def test_bounce_to_an_address_made_before_rotation_finds_its_row(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SMTP_URL": smtp_server.url,
                       "MAILER_BOUNCE_ADDRESS": BOUNCES,
                       "MAILER_BASE_URL": "https://nyhetsbrev.example.org"}.items():
        monkeypatch.setenv(key, value)
    cli = Cli(workspace, capsys, monkeypatch)
    assert cli("secret", "rotate")[0] == 0  # no file yet: this writes the first key
    first_keys = load_settings(workspace).signing_keys()
    assert len(first_keys) == 1

    add_subscribers(engine, 2)
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(4_000), kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])
    code, out, _ = cli("worker", "--drain")
    assert code == 0 and "sent 2" in out, out
    got = {r.rcpt_tos[0]: r for r in smtp_server.wait_for(2)}
    before = got["person1@example.test"]
    row = int(before.message["X-Mailer-Outbox"])
    assert Verp(BOUNCES, first_keys).row_of(before.mail_from) == row

    code, out, _ = cli("secret", "rotate")
    assert code == 0, out
    keys = load_settings(workspace).signing_keys()
    assert len(keys) == 2 and keys[0] == first_keys[0]
    # the old address does not verify with the new key alone: only the key list reads it
    assert Verp(BOUNCES, keys[-1]).row_of(before.mail_from) is None

    # A copy sent after the rotation carries the newest key.
    smtp_server.handler.received.clear()
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(4_000), kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])
    assert cli("worker", "--drain")[0] == 0
    after = smtp_server.wait_for(2)[0]
    assert Verp(BOUNCES, keys[-1]).row_of(after.mail_from) == \
        int(after.message["X-Mailer-Outbox"])

    maildir = tmp_path / "bounces"
    box = mailbox.Maildir(maildir, create=True)
    box.add(_dsn(before.mail_from, "anna.forwarded@annan.example"))
    box.close()
    code, out, _ = cli("inbox", str(maildir))
    assert code == 0, out
    assert "bounces: 1 hard" in out, out
    assert "matches no message" not in out
    with transaction(engine) as s:
        events = s.execute(select(FeedbackEvent.outbox_id, FeedbackEvent.bounce_class)).all()
        suppressed = list(s.scalars(select(Suppression.email)))
        bounced_row = s.get(OutboxRow, row)
        assert bounced_row is not None and bounced_row.email == "person1@example.test"
    assert events == [(row, "hard")]
    assert suppressed == ["person1@example.test"]
