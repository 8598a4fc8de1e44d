"""The one place that talks SMTP: a pool of reused aiosmtplib connections.

Each message is one transaction (MAIL, RCPT, DATA) on a pooled connection; every
failure becomes an ``Outcome`` for that one recipient, so one bad address never stops a
batch. Connections are reused, recycled after ``recycle_after`` messages, checked with
NOOP after sitting idle, and replaced when the server drops them.

Messages arrive already normalised (CRLF, no line starting with ".", see
``delivery.message``), so the DATA payload is written to the connection as it is instead
of through aiosmtplib's line-ending and dot-stuffing regex passes, which cost about
0.6 ms of CPU per 60 KB message. Only a caller that guarantees that form (the worker,
with ``MessageTemplate`` output) sets ``prepared=True``; the default is the safe path.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPNotSupported,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from mailer.config import SmtpUrl
from mailer.delivery.ratelimit import RateLimiter
from mailer.delivery.transport import Outcome, Result, classify

IDLE_NOOP_SECONDS = 5.0
# local@domain with no space, angle bracket, control or non-ASCII character.
_PLAIN_ADDRESS = re.compile(r"[!-;=?-~]+@[A-Za-z0-9.-]+")


@dataclass(eq=False)
class _Conn:
    smtp: aiosmtplib.SMTP
    used: int = 0
    last: float = 0.0


class SmtpPool:
    """Up to ``size`` connections to one SMTP server, shared by concurrent ``send`` calls."""

    def __init__(self, url: SmtpUrl, *, size: int = 4, recycle_after: int = 1000,
                 timeout: float = 60.0, rate: RateLimiter | None = None,
                 local_hostname: str | None = None, prepared: bool = False) -> None:
        self.url = url
        self.size = size
        self.recycle_after = recycle_after
        self.timeout = timeout
        self.rate = rate or RateLimiter()
        self.local_hostname = local_hostname
        self.prepared = prepared
        self._idle: asyncio.LifoQueue[_Conn] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(size)
        self._all: set[_Conn] = set()
        self.connects = 0

    async def _connect(self) -> _Conn:
        u = self.url
        smtp = aiosmtplib.SMTP(
            hostname=u.host, port=u.port, use_tls=u.use_tls,
            start_tls={"auto": None, "required": True, "off": False}[u.starttls],
            validate_certs=u.validate_certs, timeout=self.timeout,
            local_hostname=self.local_hostname,
        )
        await smtp.connect()
        if smtp.is_ehlo_or_helo_needed:
            await smtp.ehlo()
        if u.username:
            await smtp.login(u.username, u.password or "")
        self.connects += 1
        conn = _Conn(smtp, 0, time.monotonic())
        self._all.add(conn)
        return conn

    def _discard(self, conn: _Conn) -> None:
        self._all.discard(conn)
        conn.smtp.close()

    async def _quit(self, conn: _Conn) -> None:
        self._all.discard(conn)
        try:
            await conn.smtp.quit(timeout=5)
        except (SMTPException, OSError):
            conn.smtp.close()

    async def _checkout(self) -> _Conn:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if not conn.smtp.is_connected:
                self._discard(conn)
                continue
            if time.monotonic() - conn.last > IDLE_NOOP_SECONDS:
                # A relay may have closed an idle session without us noticing yet.
                try:
                    await conn.smtp.noop(timeout=min(self.timeout, 10))
                except (SMTPException, OSError):
                    self._discard(conn)
                    continue
            return conn
        return await self._connect()

    async def send(self, envelope_from: str, rcpt: str, data: bytes) -> Outcome:
        """Send one message to one recipient; never raises for SMTP or network trouble."""
        await self.rate.acquire()
        async with self._slots:
            try:
                conn = await self._checkout()
            except SMTPResponseException as exc:
                out = classify(exc.code, exc.message)
                # A refused greeting or login is about the server, never the recipient.
                return Outcome(Result.temporary, f"connect: {out.reply}", exc.code)
            except (SMTPException, OSError) as exc:
                return Outcome(Result.temporary,
                               f"cannot connect to {self.url.redacted()}: {exc}")
            outcome, reusable = await self._transaction(conn, envelope_from, rcpt, data)
            conn.used += 1
            conn.last = time.monotonic()
            if not reusable or not conn.smtp.is_connected:
                self._discard(conn)
            elif conn.used >= self.recycle_after:
                await self._quit(conn)
            else:
                self._idle.put_nowait(conn)
            return outcome

    async def _transaction(self, conn: _Conn, sender: str, rcpt: str,
                           data: bytes) -> tuple[Outcome, bool]:
        smtp = conn.smtp
        t = self.timeout
        try:
            if _PLAIN_ADDRESS.fullmatch(sender) and _PLAIN_ADDRESS.fullmatch(rcpt):
                # Plain ASCII addresses go out as they are: aiosmtplib's address parsing
                # (email._parseaddr) costs ~40 µs per command for nothing here.
                r = await smtp.execute_command(b"MAIL", b"FROM:<" + sender.encode() + b">",
                                               timeout=t)
                if r.code != 250:
                    return await self._refused(smtp, r.code, r.message)
                r = await smtp.execute_command(b"RCPT", b"TO:<" + rcpt.encode() + b">",
                                               timeout=t)
                if r.code not in (250, 251):
                    return await self._refused(smtp, r.code, r.message)
            else:
                utf8 = ["SMTPUTF8"] if not (sender + rcpt).isascii() else []
                await smtp.mail(sender, options=utf8, encoding="utf-8", timeout=t)
                await smtp.rcpt(rcpt, encoding="utf-8", timeout=t)
            if not self.prepared or not data.endswith(b"\r\n"):
                reply = await smtp.data(data, timeout=t)
                return classify(reply.code, reply.message), True
            start = await smtp.execute_command(b"DATA", timeout=t)
            if start.code != 354:
                return await self._refused(smtp, start.code, start.message)
            proto = smtp.protocol
            if proto is None:
                raise SMTPServerDisconnected("connection lost before the message")
            proto.write(data + b".\r\n")
            try:
                reply = await proto.read_response(timeout=t)
            except SMTPTimeoutError:
                # The message may have arrived: record "unknown", do not blindly re-send.
                return Outcome(Result.unknown,
                               f"no reply within {t:g} s after the end of DATA"), False
            out = classify(reply.code, reply.message)
            if out.result is not Result.sent:
                return out, await self._rset(smtp, reply.code)
            return out, True
        except SMTPNotSupported as exc:
            # e.g. a non-ASCII address and a server without SMTPUTF8 (RFC 6531): retrying
            # cannot help. Drop the connection rather than guess its state.
            return Outcome(Result.permanent, f"not supported by the server: {exc}"), False
        except SMTPResponseException as exc:
            return await self._refused(smtp, exc.code, exc.message)
        except SMTPTimeoutError as exc:
            return Outcome(Result.temporary, f"timeout: {exc}"), False
        except (SMTPServerDisconnected, ConnectionError, OSError) as exc:
            return Outcome(Result.temporary, f"connection lost: {exc}"), False
        except ValueError as exc:  # an address aiosmtplib will not put on the wire
            return Outcome(Result.permanent, f"invalid address: {exc}"), True

    async def _refused(self, smtp: aiosmtplib.SMTP, code: int,
                       message: str) -> tuple[Outcome, bool]:
        return classify(code, message), await self._rset(smtp, code)

    async def _rset(self, smtp: aiosmtplib.SMTP, code: int) -> bool:
        if code == 421 or not smtp.is_connected:  # 421: the server is closing the session
            return False
        try:
            await smtp.rset(timeout=min(self.timeout, 10))
        except (SMTPException, OSError):
            return False
        return True

    async def close(self) -> None:
        """QUIT every idle connection; close any still in use."""
        while not self._idle.empty():
            await self._quit(self._idle.get_nowait())
        for conn in list(self._all):
            with contextlib.suppress(Exception):
                conn.smtp.close()
        self._all.clear()
