"""``mailer inbox imap://…`` against a real IMAP server on loopback (pymap, in memory)."""

from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.services.deliverability import process_inbox
from mailer.store.db import transaction
from mailer.store.models import Subscriber, Subscription
from tests.delivery_support import add_subscribers
from tests.smtp_server import free_port

SAMPLES = Path(__file__).parent / "feedback_samples"
PYMAP = shutil.which("pymap", path=str(Path(sys.executable).parent))


@pytest.fixture
def imap_port() -> Iterator[int]:
    if PYMAP is None:
        pytest.skip("pymap is not installed (pip install -e '.[test]')")
    port = free_port()
    proc = subprocess.Popen([PYMAP, "--host", "127.0.0.1", "--port", str(port), "--no-tls",
                             "dict"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:  # poll until it answers
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("pymap did not start") from None
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


def test_imap_messages_are_applied_once_and_flagged_seen(
        engine: Engine, settings: Settings, imap_port: int) -> None:
    add_subscribers(engine, 2)
    arf = (SAMPLES / "arf_complaint.eml").read_text(encoding="utf-8")
    arf = arf.replace("{ADDR}", "person1@example.test").replace("{ROW}", "0")
    arf = arf.replace("{MAC}", "abcdefghij")
    auto = (SAMPLES / "auto_reply.eml").read_text(encoding="utf-8")
    auto = auto.replace("{ADDR}", "person0@example.test").replace("{USER}", "person0")
    box = imaplib.IMAP4("127.0.0.1", imap_port)
    box.login("demouser", "demopass")
    for text in (arf, auto):
        box.append("INBOX", None, None, text.replace("\n", "\r\n").encode("utf-8"))
    url = f"imap://demouser:demopass@127.0.0.1:{imap_port}/INBOX"

    report = process_inbox(engine, settings, url, now=datetime.now(UTC))
    assert (report.read, report.complaints, report.auto_replies, report.suppressed) == \
        (2, 1, 1, 1)
    box.select("INBOX")
    assert box.search(None, "UNSEEN")[1] == [b""]  # both flagged \Seen
    assert len(box.search(None, "SEEN")[1][0].split()) == 2
    with transaction(engine) as s:
        statuses = [str(x) for x in s.scalars(select(Subscription.status).join(Subscriber)
                                              .where(Subscriber.email ==
                                                     "person1@example.test"))]
    assert statuses == ["unsubscribed"]

    again = process_inbox(engine, settings, url, now=datetime.now(UTC))
    assert again.read == 0  # only unseen messages are fetched
    box.logout()


def test_imap_login_failure_is_a_clear_error(engine: Engine, settings: Settings,
                                             imap_port: int) -> None:
    from mailer.errors import MailerError

    with pytest.raises(MailerError, match=r"demouser:\*\*\*@127.0.0.1") as err:
        process_inbox(engine, settings, f"imap://demouser:wrong@127.0.0.1:{imap_port}/INBOX",
                      now=datetime.now(UTC))
    assert "wrong" not in str(err.value)
