"""A real SMTP server on loopback (aiosmtpd) that records parsed messages and can fail."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    """One message as the server accepted it (parsed on first use: parsing is slow)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = field(default_factory=time.monotonic)  # when the server accepted it

    @cached_property
    def message(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)  # what policy.default makes
        return message


# A fault hook sees the envelope at DATA and returns an SMTP reply ("451 try later") to
# refuse it, "drop" to close the connection mid-DATA, ("stall", seconds) to sleep, or None.
Fault = Callable[[Envelope], "str | tuple[str, float] | None"]


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    fault: Fault | None = None
    rcpt_fault: Callable[[str], str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.rcpt_fault is not None:
            reply = self.rcpt_fault(address)
            if reply:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fault is not None:
            action = self.fault(envelope)
            if action == "drop":
                # Close the socket after the whole message arrived, before any reply.
                assert server.transport is not None
                server.transport.close()
                return "421 closing"
            if isinstance(action, tuple) and action[0] == "stall":
                import asyncio

                await asyncio.sleep(action[1])
            elif isinstance(action, str):
                return action
        data = envelope.content if isinstance(envelope.content, bytes) else b""
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          data))
        return "250 2.0.0 OK queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nobody listens, for as long as the block runs: bound but
    not listening, so a connection is refused, and no other test (another xdist
    process's server) can start listening there meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


class SmtpServer:
    """Start/stop an aiosmtpd server in a thread; ``url`` is for MAILER_SMTP_URL."""

    def __init__(self, handler: RecordingHandler | None = None, *,
                 ssl_context: ssl.SSLContext | None = None, **smtp_options: Any) -> None:
        """``ssl_context`` makes it an SMTPS (implicit TLS) server; ``smtp_options`` go to
        aiosmtpd's SMTP (``tls_context`` for STARTTLS, ``authenticator``, …)."""
        self.handler = handler or RecordingHandler()
        # The port stays bound (not listening: a connection is refused) until start(), so
        # no other test's server (another xdist process's) can take it meanwhile; the
        # server binds it beside this socket (SO_REUSEADDR on both), then it is closed.
        # The option is set after the bind, so the kernel picks a port nobody holds.
        self._reserved: socket.socket | None = socket.socket()
        self._reserved.bind(("127.0.0.1", 0))
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = int(self._reserved.getsockname()[1])
        self.implicit_tls = ssl_context is not None
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     data_size_limit=50 * 1024 * 1024, ready_timeout=10,
                                     ssl_context=ssl_context, **smtp_options)

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> SmtpServer:
        self.controller.start()
        self.release_port()
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.release_port()

    def release_port(self) -> None:
        """Let go of the port reserved until start() (for a server never started)."""
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait until at least ``count`` messages have arrived (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.received)}")
            time.sleep(0.02)
        return self.received
