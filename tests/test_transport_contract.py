"""One contract for every transport: the same messages go through each, the same checks.

The implementations (``mailer.delivery.transport.Transport``):
- ``smtp``: the SMTP pool against a real aiosmtpd server on loopback (the safe DATA path);
- ``smtp-prepared``: the same with ``prepared=True`` (the worker's fast DATA path);
- ``maildir``: the Maildir transport;
- ``catcher``: the SMTP pool against the built-in catcher (its Maildir is what arrived).

Each test says what every transport must do; a transport that cannot do a thing at all
(a Maildir cannot refuse a recipient) runs on the SMTP transports only.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.config import SmtpUrl
from mailer.delivery import qp
from mailer.delivery.catcher import Catcher
from mailer.delivery.maildir import MaildirTransport
from mailer.delivery.message import encode_subject
from mailer.delivery.smtp import SmtpPool
from mailer.delivery.transport import Result, Transport
from tests.smtp_server import SmtpServer

SENDER = "bounces@nyhetsbrev.example.org"


@dataclass(frozen=True)
class Arrival:
    """One message as it arrived: the envelope and the parsed message."""

    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Harness:
    """How to make one transport, read what arrived, and (if it can) refuse a recipient."""

    make: Callable[[], Transport]
    arrived: Callable[[], list[Arrival]]
    refuse: Callable[[str, str], None] | None = None  # (address, the server's reply)


def _from_maildir(path: Path) -> list[Arrival]:
    """What a Maildir holds, with the envelope from its Return-Path and Delivered-To."""
    box = mailbox.Maildir(path, create=False)
    out = []
    for key in box.keys():
        data = box.get_bytes(key)
        head = email.message_from_bytes(data, policy=email.policy.default)
        sender = str(head["Return-Path"]).strip().removeprefix("<").removesuffix(">")
        recipients = [r.strip() for r in str(head["Delivered-To"]).split(",")]
        out.append(Arrival(sender, recipients, data))
    return out


def _smtp(server: SmtpServer, *, prepared: bool) -> Harness:
    refused: dict[str, str] = {}
    server.handler.rcpt_fault = refused.get
    return Harness(
        make=lambda: SmtpPool(SmtpUrl.parse(server.url), size=3, timeout=10,
                              prepared=prepared),
        arrived=lambda: [Arrival(r.mail_from, r.rcpt_tos, r.data) for r in server.received],
        refuse=refused.__setitem__)


@pytest.fixture(params=["smtp", "smtp-prepared", "maildir", "catcher"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    kind = request.param
    if kind in ("smtp", "smtp-prepared"):
        server = SmtpServer().start()
        try:
            yield _smtp(server, prepared=kind == "smtp-prepared")
        finally:
            server.stop()
    elif kind == "maildir":
        yield Harness(make=lambda: MaildirTransport(tmp_path / "Maildir"),
                      arrived=lambda: _from_maildir(tmp_path / "Maildir"))
    else:
        with Catcher(tmp_path / "catcher" / "Maildir", smtp_port=0, web_port=0) as catcher:
            yield Harness(make=lambda: SmtpPool(SmtpUrl.parse(catcher.smtp_url), size=3,
                                                timeout=10),
                          arrived=lambda: _from_maildir(catcher.path))


def message(n: int, rcpt: str) -> bytes:
    """A newsletter-like message in the form the worker hands a transport: CRLF line ends,
    7-bit (quoted-printable bodies) and no line starting with "." (the Transport contract)."""
    boundary = f"contract-boundary-{n}"

    def part(subtype: str, body: str) -> bytes:
        return (f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() \
            + qp.encode(body) + b"\r\n"

    subject = encode_subject(f"Nyhetsbrev nr {n} – medborgardialog i Örnsköldsvik")
    head = ("From: Nyhetsbrev om medborgardialog <nyhetsbrev@example.org>\r\n"
            f"To: {rcpt}\r\nSubject: {subject}\r\n"
            f"Message-ID: <contract-{n}@nyhetsbrev.example.org>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n').encode()
    data = (head + part("plain", text(n)) + part("html", f"<p>Hej!</p><p>{text(n)}</p>")
            + f"--{boundary}--\r\n".encode())
    assert not any(line.startswith(b".") for line in data.split(b"\r\n"))
    return data


def text(n: int) -> str:
    return (f"Nummer {n}: sista anmälningsdag är den 16 juni 2023, kl. 10:00 – 15:00.\n"
            + "Så når vi unga och äldre i Hylte, Uppsala och Örnsköldsvik.\n" * 40
            + ".punkt först på raden, och en lång rad: " + "medborgardialog " * 12 + "\n")


def by_id(arrivals: list[Arrival]) -> dict[str, Arrival]:
    return {str(a.message["Message-ID"]): a for a in arrivals}


def _lines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def test_a_message_arrives_once_intact_with_its_envelope(harness: Harness) -> None:
    sent = message(1, "anna.svensson@hylte.se")

    async def run() -> None:
        transport = harness.make()
        outcome = await transport.send(SENDER, "anna.svensson@hylte.se", sent)
        await transport.close()
        assert outcome.result is Result.sent and outcome.code == 250, outcome
        assert outcome.reply.startswith("250")

    asyncio.run(run())
    (got,) = harness.arrived()
    assert (got.sender, got.recipients) == (SENDER, ["anna.svensson@hylte.se"])
    # Byte for byte (line ends aside), after any trace headers the transport puts first.
    assert _lines(got.data).endswith(_lines(sent))
    assert str(got.message["Subject"]) == "Nyhetsbrev nr 1 – medborgardialog i Örnsköldsvik"
    assert str(got.message["Message-ID"]) == "<contract-1@nyhetsbrev.example.org>"
    plain = got.message.get_body(("plain",))
    html = got.message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == text(1)
    assert text(1) in html.get_content().replace("\r\n", "\n")


def test_concurrent_sends_each_arrive_once_with_their_own_outcome(harness: Harness) -> None:
    recipients = [f"person{i}@example.org" for i in range(12)]

    async def run() -> list[Result]:
        transport = harness.make()
        outcomes = await asyncio.gather(*(transport.send(SENDER, rcpt, message(i, rcpt))
                                          for i, rcpt in enumerate(recipients)))
        await transport.close()
        return [o.result for o in outcomes]

    assert asyncio.run(run()) == [Result.sent] * len(recipients)
    got = by_id(harness.arrived())
    assert len(harness.arrived()) == len(got) == len(recipients)  # none twice
    for i, rcpt in enumerate(recipients):
        arrival = got[f"<contract-{i}@nyhetsbrev.example.org>"]
        assert arrival.recipients == [rcpt] and str(arrival.message["To"]) == rcpt


# Only an SMTP server can refuse a recipient; a Maildir takes everything.
@pytest.mark.parametrize("harness", ["smtp", "smtp-prepared"], indirect=True)
@pytest.mark.parametrize(("reply", "result"), [
    ("550 5.1.1 no such user", Result.permanent),
    ("451 4.3.0 try again later", Result.temporary),
])
def test_a_refused_recipient_fails_alone(harness: Harness, reply: str, result: Result) -> None:
    assert harness.refuse is not None
    harness.refuse("gone@hylte.se", reply)
    recipients = ["anna.svensson@hylte.se", "gone@hylte.se", "bo.ek@uppsala.se"]

    async def run() -> list[Result]:
        transport = harness.make()
        outcomes = []
        for i, rcpt in enumerate(recipients):  # in order, on the same connection
            outcomes.append(await transport.send(SENDER, rcpt, message(i, rcpt)))
        await transport.close()
        assert outcomes[1].reply == reply
        assert outcomes[1].code == int(reply[:3])
        return [o.result for o in outcomes]

    assert asyncio.run(run()) == [Result.sent, result, Result.sent]
    assert sorted(r for a in harness.arrived() for r in a.recipients) == [
        "anna.svensson@hylte.se", "bo.ek@uppsala.se"]


def test_close_is_idempotent_and_needs_no_send(harness: Harness) -> None:
    async def run() -> None:
        unused = harness.make()
        await unused.close()
        await unused.close()
        used = harness.make()
        assert (await used.send(SENDER, "a@example.org", message(1, "a@example.org"))).result \
            is Result.sent
        await used.close()
        await used.close()

    asyncio.run(run())
    assert len(harness.arrived()) == 1


def test_a_transport_sends_again_after_close(harness: Harness) -> None:
    """A worker closes its transport at the end of each run; a caller may hand the same
    transport to the next run (deliver_due(..., transport))."""
    async def run() -> list[Result]:
        transport = harness.make()
        first = await transport.send(SENDER, "a@example.org", message(1, "a@example.org"))
        await transport.close()
        second = await transport.send(SENDER, "b@example.org", message(2, "b@example.org"))
        await transport.close()
        return [first.result, second.result]

    assert asyncio.run(run()) == [Result.sent, Result.sent]
    assert sorted(by_id(harness.arrived())) == ["<contract-1@nyhetsbrev.example.org>",
                                                "<contract-2@nyhetsbrev.example.org>"]
