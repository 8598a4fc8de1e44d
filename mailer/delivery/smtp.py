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
import logging
import random
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPNotSupported,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from mailer.config import SmtpUrl
from mailer.delivery.oauth import TokenError, TokenSource
from mailer.delivery.ratelimit import BucketStore, RateLimiter
from mailer.delivery.transport import Outcome, Result, classify, server_trouble

log = logging.getLogger(__name__)
IDLE_NOOP_SECONDS = 5.0
# A refused login, an untrusted certificate, a missing STARTTLS or token do not mend by
# themselves, and retrying a login every few seconds can lock the account: such a
# server rests this long (or until the worker restarts with fixed settings).
LASTING_TROUBLE_SECONDS = 600.0
# local@domain with no space, angle bracket, control or non-ASCII character.
_PLAIN_ADDRESS = re.compile(r"[!-;=?-~]+@[A-Za-z0-9.-]+")


class ServerRefused(Exception):
    """The server would not let us send at all (connection, TLS, login)."""

    def __init__(self, message: str, code: int | None = None, *,
                 lasting: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.lasting = lasting  # a setting must change (login, certificate, STARTTLS)


@dataclass(eq=False)
class _Conn:
    smtp: aiosmtplib.SMTP
    used: int = 0
    last: float = 0.0


class SmtpPool:
    """Up to ``size`` connections to one SMTP server, shared by concurrent ``send`` calls."""

    def __init__(self, url: SmtpUrl, *, size: int = 4, recycle_after: int = 1000,
                 timeout: float = 60.0, rate: RateLimiter | None = None,
                 local_hostname: str | None = None, prepared: bool = False,
                 tokens: TokenSource | None = None, ca_file: str | None = None) -> None:
        self.url = url
        self.tokens = tokens
        self.ca_file = ca_file
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

    def _client(self) -> aiosmtplib.SMTP:
        u = self.url
        tls: ssl.SSLContext | None = None
        if self.ca_file and u.validate_certs:
            tls = ssl.create_default_context(cafile=self.ca_file)
        return aiosmtplib.SMTP(
            hostname=u.host, port=u.port, use_tls=u.use_tls,
            start_tls={"auto": None, "required": True, "off": False}[u.starttls],
            validate_certs=u.validate_certs, timeout=self.timeout,
            local_hostname=self.local_hostname, tls_context=tls,
        )

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, negotiate TLS as the URL says, and log in (password or XOAUTH2).

        Raises ``ServerRefused`` with a sentence for the operator when the server is the
        trouble (refused, TLS, login), and SMTP/OS errors as they are otherwise.
        """
        u = self.url
        smtp = self._client()
        where = u.redacted()
        try:
            await smtp.connect()
        except SMTPResponseException as exc:
            raise ServerRefused(f"{where} refused the connection: {exc.code} {exc.message}",
                                exc.code) from None
        except ssl.SSLCertVerificationError as exc:
            raise ServerRefused(f"{where}: the server's certificate is not trusted "
                                f"({exc.verify_message}); fix the certificate, or add "
                                "?verify=false to MAILER_SMTP_URL for a relay you trust",
                                lasting=True) from None
        except SMTPException as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ssl.SSLCertVerificationError):
                raise ServerRefused(
                    f"{where}: the server's certificate is not trusted "
                    f"({cause.verify_message}); fix the certificate, or add ?verify=false "
                    "to MAILER_SMTP_URL for a relay you trust", lasting=True) from None
            if "STARTTLS" in str(exc):
                raise ServerRefused(f"{where} does not offer STARTTLS and the URL says "
                                    "starttls=required: nothing is sent in clear",
                                    lasting=True) from None
            raise ServerRefused(f"cannot connect to {where}: {exc}") from None
        except OSError as exc:
            raise ServerRefused(f"cannot connect to {where}: {exc}") from None
        try:
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
            if u.auth == "xoauth2":
                await self._xoauth2(smtp)
            elif u.username:
                await smtp.login(u.username, u.password or "")
        except SMTPAuthenticationError as exc:
            smtp.close()
            raise ServerRefused(f"{where} refused the login of {u.username!r}: {exc.code} "
                                f"{exc.message}; check the user name and password (or token) "
                                "in MAILER_SMTP_URL", exc.code, lasting=True) from None
        except SMTPResponseException as exc:
            smtp.close()
            raise ServerRefused(f"{where}: {exc.code} {exc.message}", exc.code) from None
        except SMTPException as exc:
            smtp.close()
            raise ServerRefused(f"{where}: {exc}", lasting=True) from None
        except TokenError as exc:
            smtp.close()
            raise ServerRefused(f"{where}: no OAuth2 token: {exc}", lasting=True) from None
        return smtp

    async def _xoauth2(self, smtp: aiosmtplib.SMTP) -> None:
        if self.tokens is None:
            raise SMTPException("auth=xoauth2 but no token source is configured")
        if "xoauth2" not in smtp.server_auth_methods:
            raise SMTPException(f"the server offers AUTH {' '.join(smtp.server_auth_methods)}"
                                " but not XOAUTH2")
        user = self.url.username or ""
        try:
            await smtp.auth_xoauth2(user, await self.tokens.token(), timeout=self.timeout)
        except SMTPAuthenticationError:
            # A revoked or expired token: fetch a fresh one once before giving up.
            self.tokens.invalidate()
            await smtp.auth_xoauth2(user, await self.tokens.token(), timeout=self.timeout)

    async def _connect(self) -> _Conn:
        smtp = await self._open()
        self.connects += 1
        conn = _Conn(smtp, 0, time.monotonic())
        self._all.add(conn)
        return conn

    def _discard(self, conn: _Conn) -> None:
        self._all.discard(conn)
        conn.smtp.close()

    async def _quit(self, conn: _Conn, wait: float = 5.0) -> None:
        self._all.discard(conn)
        try:
            await conn.smtp.quit(timeout=wait)
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
        out = await self.send_now(envelope_from, rcpt, data)
        if out.server and not self.rate.unlimited:
            self.rate.credit += 1  # nothing was delivered: the token is still good
        return out

    async def send_now(self, envelope_from: str, rcpt: str, data: bytes) -> Outcome:
        """``send`` without taking a rate-limit token (the caller took it)."""
        async with self._slots:
            try:
                conn = await self._checkout()
            except ServerRefused as exc:
                # A refused connection, TLS or login is about the server, never the
                # recipient: the worker puts the row back and pauses this server.
                return Outcome(Result.temporary, str(exc)[:1000], exc.code, server=True,
                               retry_after=LASTING_TROUBLE_SECONDS if exc.lasting else None)
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
                return await self._refused(smtp, reply.code, reply.message)
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
        out = classify(code, message)
        if server_trouble(code, message):
            out = Outcome(out.result, out.reply, code, server=True)
        return out, await self._rset(smtp, code)

    async def _rset(self, smtp: aiosmtplib.SMTP, code: int) -> bool:
        if code == 421 or not smtp.is_connected:  # 421: the server is closing the session
            return False
        try:
            await smtp.rset(timeout=min(self.timeout, 10))
        except (SMTPException, OSError):
            return False
        return True

    async def close(self) -> None:
        """QUIT every idle connection (all at once, briefly); close any still in use."""
        idle = []
        while not self._idle.empty():
            idle.append(self._idle.get_nowait())
        await asyncio.gather(*(self._quit(c, wait=1.0) for c in idle))
        for conn in list(self._all):
            with contextlib.suppress(Exception):
                conn.smtp.close()
        self._all.clear()


@dataclass(eq=False)
class _Server:
    pool: SmtpPool
    weight: float
    failures: int = 0
    rest_until: float = 0.0  # time.monotonic()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServerState:
    """What ``SmtpRouter.states`` tells about one server."""

    url: str
    weight: float
    resting_for: float  # seconds left, 0 when it takes mail
    reason: str


class SmtpRouter:
    """Several SMTP servers as one transport: weighted, each with its own rate limit.

    A server that refuses us (connection, TLS, login, 421, throttling) rests with
    exponential backoff while the others carry the mail; a message it refused is offered
    to the next healthy server at once. When every server rests, ``send`` returns a
    ``server`` outcome with ``retry_after`` and the worker pauses instead of failing rows.

    The worker asks ``reserve(n)`` how many rows it may claim: tokens are taken from the
    (shared) buckets ahead and *promised* to those rows, so nothing claimed waits long.
    """

    def __init__(self, pools: Sequence[tuple[SmtpPool, float]], *, rest_seconds: float = 30.0,
                 rest_max_seconds: float = 900.0) -> None:
        if not pools:
            raise ValueError("no SMTP server")
        self.servers = [_Server(p, w) for p, w in pools]
        self.rest_seconds = rest_seconds
        self.rest_max_seconds = rest_max_seconds
        self.promised = 0  # tokens held for claimed rows that have not taken theirs yet

    @property
    def pools(self) -> list[SmtpPool]:
        return [s.pool for s in self.servers]

    def share_limits(self, store: BucketStore) -> None:
        """Keep every server's buckets in ``store`` (the database: shared by processes)."""
        for s in self.servers:
            s.pool.rate.store = store

    def _healthy(self, now: float) -> list[_Server]:
        return [s for s in self.servers if s.rest_until <= now]

    def _pick(self, tried: list[_Server]) -> _Server | None:
        ready = [s for s in self._healthy(time.monotonic()) if s not in tried]
        if not ready:
            return None
        funded = [s for s in ready if s.pool.rate.unlimited or s.pool.rate.credit > 0]
        choice = funded or ready
        return random.choices(choice, weights=[s.weight for s in choice])[0]

    def _rest(self, s: _Server, reason: str, at_least: float = 0.0) -> None:
        now = time.monotonic()
        if s.rest_until > now:  # another sender already rested it for the same trouble
            return
        s.failures += 1
        pause = min(self.rest_max_seconds, self.rest_seconds * 2 ** (s.failures - 1))
        pause = max(pause, min(at_least, self.rest_max_seconds))
        s.rest_until, s.reason = now + pause, reason
        log.warning("SMTP server %s rests for %.0f s: %s", s.pool.url.redacted(), pause, reason)

    def wait_hint(self) -> float:
        """Seconds until a server could take another message (0: now)."""
        now = time.monotonic()
        healthy = self._healthy(now)
        if not healthy:
            return min(s.rest_until for s in self.servers) - now
        return min(0.0 if s.pool.rate.unlimited or s.pool.rate.credit > 0
                   else s.pool.rate.wait_hint for s in healthy)

    def paused_reason(self) -> str | None:
        """Why nothing can be sent now (every server rests), else None."""
        if self._healthy(time.monotonic()):
            return None
        return "; ".join(s.reason for s in self.servers)

    async def reserve(self, want: int) -> int:
        """Promise up to ``want`` tokens to rows about to be claimed; how many."""
        healthy = self._healthy(time.monotonic())
        if not healthy or want <= 0:
            return 0
        if any(s.pool.rate.unlimited for s in healthy):
            return want
        need = self.promised + want
        held = sum(s.pool.rate.credit for s in healthy)
        for s in sorted(healthy, key=lambda s: -s.weight):
            if held >= need:
                break
            before = s.pool.rate.credit
            await s.pool.rate.reserve(before + need - held)
            held += s.pool.rate.credit - before
        granted = max(0, min(want, held - self.promised))
        self.promised += granted
        return granted

    def forget(self, count: int) -> None:
        """Rows that were promised tokens went back unsent."""
        self.promised = max(0, self.promised - count)

    async def release(self) -> None:
        """Give unpromised credit back to the shared buckets (the outbox ran dry)."""
        if self.promised:
            return
        for s in self.servers:
            await s.pool.rate.release()

    async def send(self, envelope_from: str, rcpt: str, data: bytes) -> Outcome:
        tried: list[_Server] = []
        last: Outcome | None = None
        first = True
        while (s := self._pick(tried)) is not None:
            if first:
                self.promised = max(0, self.promised - 1)
                first = False
            out = await s.pool.send(envelope_from, rcpt, data)  # takes its own token
            if not out.server:
                s.failures = 0
                return out
            self._rest(s, out.reply, out.retry_after or 0.0)
            tried.append(s)
            last = out
        if first:
            self.promised = max(0, self.promised - 1)
        why = self.paused_reason() or (last.reply if last else "every SMTP server rests")
        return Outcome(Result.temporary, why[:1000], last.code if last else None,
                       server=True, retry_after=max(self.wait_hint(), 0.0))

    def states(self) -> list[ServerState]:
        now = time.monotonic()
        return [ServerState(s.pool.url.redacted(), s.weight, max(0.0, s.rest_until - now),
                            s.reason if s.rest_until > now else "") for s in self.servers]

    async def close(self) -> None:
        await asyncio.gather(*(s.pool.close() for s in self.servers))
        await self.release()


# --- `mailer smtp test` ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    names: list[str]
    verified: bool  # checked against the trust store (verify=true)


@dataclass
class Probe:
    """What one SMTP server offers, as ``mailer smtp test`` reports it."""

    url: str
    ehlo: str = ""
    tls: str = "none"  # "STARTTLS", "implicit TLS", "none"
    tls_version: str = ""
    cipher: str = ""
    certificate: Certificate | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    auth_methods: list[str] = field(default_factory=list)
    login: str = ""  # who we logged in as, "" when the URL has no user
    error: str = ""  # the trouble, when the server refused us
    sent: Outcome | None = None

    @property
    def size(self) -> int | None:
        value = self.extensions.get("size", "")
        return int(value) if value.isdigit() else None


def _certificate(smtp: aiosmtplib.SMTP, verified: bool) -> Certificate | None:
    from cryptography import x509

    obj = smtp.get_transport_info("ssl_object")
    der = obj.getpeercert(binary_form=True) if obj is not None else None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = [str(n) for n in ext.value.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in ext.value.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return Certificate(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                       cert.not_valid_before_utc.isoformat(),
                       cert.not_valid_after_utc.isoformat(), names, verified)


async def probe(pool: SmtpPool, *, message: tuple[str, str, bytes] | None = None) -> Probe:
    """Connect as ``pool`` would, report what the server offers, optionally send one."""
    u = pool.url
    out = Probe(url=u.redacted())
    try:
        smtp = await pool._open()
    except ServerRefused as exc:
        out.error = str(exc)
        return out
    try:
        obj = smtp.get_transport_info("ssl_object")
        if obj is not None:
            out.tls = "implicit TLS" if u.use_tls else "STARTTLS"
            out.tls_version = str(obj.version() or "")
            out.cipher = str((obj.cipher() or ("",))[0])
            out.certificate = _certificate(smtp, u.validate_certs)
        out.ehlo = smtp.last_ehlo_response.message if smtp.last_ehlo_response else ""
        out.extensions = dict(smtp.esmtp_extensions)
        out.auth_methods = [m.upper() for m in smtp.server_auth_methods]
        if u.username:
            out.login = f"{u.username} ({'XOAUTH2' if u.auth == 'xoauth2' else 'password'})"
        if message is not None:
            conn = _Conn(smtp, 0, time.monotonic())
            out.sent, _ = await pool._transaction(conn, *message)
    finally:
        with contextlib.suppress(SMTPException, OSError):
            await smtp.quit(timeout=5)
        smtp.close()
    return out
