"""DKIM signatures made in the helper process verify with dkimpy, through the real worker
too; a dead helper means signing in the worker again, never an unsigned copy."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine, func, select

from mailer.config import Settings
from mailer.delivery import signing
from mailer.delivery.dkim import DkimKey, DkimSigner, generate_key, txt_value, write_key
from mailer.delivery.signing import SigningProcess
from mailer.delivery.worker import Worker
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import OutboxRow, OutboxStatus
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_dkim import message, signed_names

DOMAIN = "news.example.org"


def verified(data: bytes, records: dict[bytes, bytes]) -> list[bytes]:
    """The a= of every DKIM-Signature of ``data``, each verified by dkimpy."""
    out = []
    for i in range(data.count(b"DKIM-Signature:")):
        d = dkim.DKIM(data)
        assert d.verify(idx=i, dnsfunc=lambda name, timeout=5: records.get(name.rstrip(b"."))), i
        assert b"list-unsubscribe-post" in signed_names(d)
        out.append(d.signature_fields[b"a"])
    return out


@pytest.fixture(scope="module")
def dual() -> tuple[DkimSigner, dict[bytes, bytes]]:
    """An RSA plus Ed25519 signer and its DNS."""
    rsa, ed = generate_key("rsa"), generate_key("ed25519")
    signer = DkimSigner([DkimKey(DOMAIN, "rsa1", rsa), DkimKey(DOMAIN, "ed1", ed)])
    return signer, {f"rsa1._domainkey.{DOMAIN}".encode(): txt_value(rsa),
                    f"ed1._domainkey.{DOMAIN}".encode(): txt_value(ed)}


def test_the_helper_signs_and_dkimpy_verifies_both_signatures(dual) -> None:
    signer, records = dual

    async def run() -> tuple[bytes, int, int | None]:
        helper = await SigningProcess.start([signer])
        msg = message()
        head = await helper.signature_headers(signer, msg)
        signed = helper.signed
        await helper.close()
        return head + msg, signed, helper.proc.returncode

    data, signed, returncode = asyncio.run(run())
    assert verified(data, records) == [b"rsa-sha256", b"ed25519-sha256"]
    assert signed == 2  # both signatures came from the helper
    assert returncode == 0  # it exited when the socket closed


def test_a_dead_helper_means_signing_in_the_worker_again(dual) -> None:
    signer, records = dual

    async def run() -> tuple[bytes, int]:
        helper = await SigningProcess.start([signer])
        os.kill(helper.proc.pid, signal.SIGKILL)
        await helper.proc.wait()
        msg = message()
        head = await helper.signature_headers(signer, msg)  # the helper is gone
        await helper.close()
        return head + msg, helper.signed

    data, signed = asyncio.run(run())
    assert signed == 0
    assert verified(data, records) == [b"rsa-sha256", b"ed25519-sha256"]


def test_a_key_the_helper_does_not_hold_is_used_in_the_worker(dual) -> None:
    signer, records = dual
    other = DkimSigner([DkimKey(DOMAIN, "rsa1", generate_key("rsa"))])

    async def run() -> tuple[bytes, int]:
        helper = await SigningProcess.start([signer])
        head = await helper.signature_headers(other, message())
        await helper.close()
        return head, helper.signed

    head, signed = asyncio.run(run())
    assert signed == 0 and head.startswith(b"DKIM-Signature:")


def test_auto_uses_the_helper_only_with_a_second_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert signing.wanted("on") and not signing.wanted("off")
    monkeypatch.setattr(signing, "usable_cpus", lambda: 1)
    assert not signing.wanted("auto") and signing.wanted("on")
    monkeypatch.setattr(signing, "usable_cpus", lambda: 2)
    assert signing.wanted("auto")


def test_the_worker_signs_every_copy_in_the_helper(
        engine: Engine, settings: Settings, smtp_server: SmtpServer, workspace: Path) -> None:
    key = generate_key("rsa")
    write_key(key, workspace / "dkim" / "nl2026.pem")
    settings = settings.model_copy(update={"dkim_selector": "nl2026", "dkim_domain": DOMAIN,
                                           "dkim_process": "on"})
    add_subscribers(engine, 30)
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(20_000), kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])

    async def run() -> tuple[int, int]:
        async with Worker(engine, settings) as w:
            report = await w.drain()
            assert w.signing is not None
            return report.sent, w.signing.signed

    sent, signed = asyncio.run(run())
    assert sent == 30 and signed == 30
    got = smtp_server.wait_for(30)
    records = {f"nl2026._domainkey.{DOMAIN}".encode(): txt_value(key)}
    for r in got:
        assert verified(r.data, records) == [b"rsa-sha256"]
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).where(
            OutboxRow.status == OutboxStatus.sent)) == 30


def test_a_stop_gives_back_the_rows_taken_ahead_for_signing(
        engine: Engine, settings: Settings, smtp_server: SmtpServer, workspace: Path) -> None:
    write_key(generate_key("rsa"), workspace / "dkim" / "nl2026.pem")
    settings = settings.model_copy(update={"dkim_selector": "nl2026", "dkim_domain": DOMAIN,
                                           "dkim_process": "on"})
    at_data: list[str] = []

    def stall(envelope: Envelope) -> tuple[str, float]:
        at_data.append(envelope.rcpt_tos[0])
        return ("stall", 0.05 if len(at_data) <= 8 else 60.0)  # then far past the grace
    smtp_server.handler.fault = stall
    add_subscribers(engine, 60)
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(2_000), kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])

    async def run() -> int:
        stop = asyncio.Event()
        async with Worker(engine, settings) as w:
            task = asyncio.create_task(w.deliver(drain=False, stop=stop))
            # at_data grows in the SMTP server's thread (no asyncio.Event there): polled
            while len(at_data) < 12:  # noqa: ASYNC110 (4 stuck in DATA, rows signed ahead)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            stop.set()
            report = await task
            assert w.signing is not None and w.signing.signed >= 12
            return report.sent

    sent = asyncio.run(run())
    assert sent == 8
    with transaction(engine) as s:
        states = dict(s.execute(select(OutboxRow.status, func.count())
                                .group_by(OutboxRow.status)).all())
    # Every row a sender held went back: the 4 cut off in DATA and the 4 taken ahead.
    assert OutboxStatus.sending not in states
    assert states == {OutboxStatus.sent: 8, OutboxStatus.queued: 52}
