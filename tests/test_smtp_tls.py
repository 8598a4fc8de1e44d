"""TLS, AUTH and XOAUTH2 against real loopback servers (aiosmtpd with trustme certificates).

STARTTLS (587-style) and SMTPS (465-style) with a certificate from a test CA: trusted only
through MAILER_SMTP_CA_FILE, refused otherwise unless ``verify=false``; AUTH PLAIN/LOGIN
checked by the server; a refused login pauses sending instead of failing rows; XOAUTH2
with a token from a command and from msal against a fake token endpoint on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from mailer.cli import _register, app
from mailer.config import SmtpUrl, load_settings
from mailer.delivery.oauth import CommandTokens, MsalTokens
from mailer.delivery.smtp import SmtpPool, probe
from mailer.delivery.transport import Result
from mailer.delivery.worker import Worker
from mailer.render.types import RenderedMailing
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction, upgrade
from mailer.store.models import OutboxRow
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers
from tests.smtp_server import RecordingHandler, SmtpServer, free_port, refusing_port

USER, PASSWORD = "nyhetsbrev@kommun.example", "rätt-lösen"
MSG = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: TLS-prov\r\n\r\nHej!\r\n")
SMALL = RenderedMailing(subject="Prov – inloggning",
                        html='<p>Hej %%name%%!</p><a href="%%unsubscribe_url%%">avregistrera</a>',
                        text="Hej %%name%%!\nAvregistrera: %%unsubscribe_url%%\n")


@dataclass
class Tls:
    ca_file: Path
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA(organization_name="Testkommunens CA")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return Tls(path, ctx)


def _password(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
              auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@dataclass
class OAuthHandler(RecordingHandler):
    """Checks XOAUTH2 like Exchange Online: a JSON error challenge, then 535."""

    valid: set[str] = field(default_factory=set)
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        raw = base64.b64decode(args[1]).decode()
        parts = dict(p.split("=", 1) for p in raw.split("\x01") if p)
        user, token = parts.get("user", ""), parts.get("auth", "").removeprefix("Bearer ")
        self.seen.append((user, token))
        if user == USER and token in self.valid:
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False)


def _starttls(tls: Tls, handler: RecordingHandler | None = None,
              **options: Any) -> SmtpServer:
    options.setdefault("authenticator", _password)
    return SmtpServer(handler, tls_context=tls.server, **options).start()


def _smtps(tls: Tls) -> SmtpServer:
    # aiosmtpd only counts STARTTLS as TLS for its AUTH rule; this whole session is TLS.
    return SmtpServer(ssl_context=tls.server, authenticator=_password,
                      auth_require_tls=False).start()


def _send(url: str, ca_file: Path | None = None, **kw: Any) -> tuple[Any, SmtpPool]:
    async def run() -> tuple[Any, SmtpPool]:
        pool = SmtpPool(SmtpUrl.parse(url), size=1, timeout=10,
                        ca_file=str(ca_file) if ca_file else None, **kw)
        try:
            return await pool.send("a@example.org", "b@example.org", MSG), pool
        finally:
            await pool.close()
    return asyncio.run(run())


def _auth_url(server: SmtpServer, password: str = PASSWORD, query: str = "") -> str:
    scheme, rest = server.url.split("://")
    user = USER.replace("@", "%40")
    return f"{scheme}://{user}:{password}@{rest}{query}"


def test_starttls_with_a_trusted_certificate_and_login(tls: Tls) -> None:
    server = _starttls(tls)
    try:
        out, _ = _send(_auth_url(server, query="?starttls=required"), tls.ca_file)
        assert out.result is Result.sent, out
        assert server.wait_for(1)[0].message["Subject"] == "TLS-prov"
    finally:
        server.stop()


def test_smtps_implicit_tls_with_login(tls: Tls) -> None:
    server = _smtps(tls)
    try:
        assert server.url.startswith("smtps://")
        out, _ = _send(_auth_url(server), tls.ca_file)
        assert out.result is Result.sent, out
        server.wait_for(1)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["starttls", "smtps"])
def test_an_untrusted_certificate_is_refused_unless_verify_false(tls: Tls, kind: str) -> None:
    server = (_starttls(tls) if kind == "starttls"
              else _smtps(tls))
    try:
        # No CA file: the test CA is not in the system's trust store.
        out, _ = _send(_auth_url(server))
        assert out.result is Result.temporary and out.server, out
        assert "certificate is not trusted" in out.reply and "verify=false" in out.reply
        assert not server.received
        out, _ = _send(_auth_url(server, query="?verify=false"))
        assert out.result is Result.sent, out
        server.wait_for(1)
    finally:
        server.stop()


def test_starttls_required_against_a_server_without_it_is_refused() -> None:
    server = SmtpServer().start()  # no tls_context: no STARTTLS in EHLO
    try:
        out, _ = _send(server.url + "?starttls=required")
        assert out.server and "does not offer STARTTLS" in out.reply, out
        assert not server.received
        out, _ = _send(server.url)  # auto: plain is allowed when the server has no TLS
        assert out.result is Result.sent
    finally:
        server.stop()


def test_a_refused_login_is_a_clear_error(tls: Tls) -> None:
    server = _starttls(tls)
    try:
        out, _ = _send(_auth_url(server, password="fel"), tls.ca_file)
        assert out.server and out.result is Result.temporary
        assert f"refused the login of {USER!r}: 535" in out.reply, out.reply
        assert "fel" not in out.reply  # the password is never echoed
        assert out.retry_after and out.retry_after >= 60  # a login is not hammered
    finally:
        server.stop()


def test_a_refused_login_pauses_sending_instead_of_failing_rows(
        tls: Tls, engine: Engine, workspace: Path) -> None:
    upgrade(engine)
    add_subscribers(engine, 12)
    with transaction(engine) as s:
        plan_mailing(s, SMALL, kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])
    server = _starttls(tls)
    try:
        def settings(password: str) -> Any:
            return load_settings(workspace, database_url=str(engine.url.render_as_string(
                hide_password=False)), smtp_url=_auth_url(server, password),
                smtp_ca_file=str(tls.ca_file), secret_key=TEST_SECRET,
                base_url="https://nyhetsbrev.example.org")

        async def drain(password: str) -> Any:
            async with Worker(engine, settings(password)) as w:
                return await w.drain(max_wait=5)

        report = asyncio.run(drain("fel"))
        assert "refused the login" in report.paused and report.failed == 0
        with transaction(engine) as s:
            rows = s.execute(select(OutboxRow.status, OutboxRow.attempts,
                                    OutboxRow.last_reply)).all()
        assert len(rows) == 12
        assert {(str(st), att) for st, att, _ in rows} == {("queued", 0)}  # no attempt used
        assert not server.received
        # The operator fixes the password: everything goes, nothing was lost.
        with transaction(engine) as s:  # the pause moved the rows' due time on
            s.execute(OutboxRow.__table__.update().values(
                next_attempt_at=datetime.now(UTC)))
        report = asyncio.run(drain(PASSWORD))
        assert report.sent == 12 and not report.paused
        assert len(server.wait_for(12)) == 12
    finally:
        server.stop()


TOKEN_SCRIPT = """\
import json, pathlib, sys
state = pathlib.Path(sys.argv[1])
calls = state.with_suffix(".calls")
calls.write_text(str(int(calls.read_text() or 0) + 1) if calls.exists() else "1")
print(json.dumps({"access_token": state.read_text().strip(), "expires_in": 3599}))
"""


def test_xoauth2_with_a_token_command_is_cached_and_renewed_when_refused(
        tls: Tls, tmp_path: Path) -> None:
    handler = OAuthHandler(valid={"token-1"})
    server = _starttls(tls, handler, auth_exclude_mechanism=["PLAIN", "LOGIN"])
    script, state = tmp_path / "token.py", tmp_path / "token.state"
    script.write_text(TOKEN_SCRIPT)
    state.write_text("token-1")
    tokens = CommandTokens(f"{sys.executable} {script} {state}")
    url = SmtpUrl.parse(f"smtp://{USER.replace('@', '%40')}@127.0.0.1:{server.port}"
                        "?starttls=required&auth=xoauth2")

    async def send(n: int) -> list[Any]:
        pool = SmtpPool(url, size=1, recycle_after=1, timeout=10, tokens=tokens,
                        ca_file=str(tls.ca_file))
        try:
            return [await pool.send("a@example.org", f"r{i}@example.org", MSG)
                    for i in range(n)]
        finally:
            await pool.close()
    try:
        outs = asyncio.run(send(3))  # three connections (recycled after each message)
        assert [o.result for o in outs] == [Result.sent] * 3, outs
        assert tokens.fetches == 1 and (tmp_path / "token.calls").read_text() == "1"
        assert handler.seen == [(USER, "token-1")] * 3
        # The token is revoked at the server: the pool fetches a new one once and goes on.
        handler.valid = {"token-2"}
        state.write_text("token-2")
        outs = asyncio.run(send(1))
        assert outs[0].result is Result.sent, outs
        assert handler.seen[-2:] == [(USER, "token-1"), (USER, "token-2")]
        # A token nobody accepts: a clear, lasting error, not a failed recipient.
        handler.valid = set()
        outs = asyncio.run(send(1))
        assert outs[0].server and "refused the login" in outs[0].reply, outs
        assert len(server.received) == 4
    finally:
        server.stop()


class _TokenEndpoint(BaseHTTPRequestHandler):
    """The two Microsoft identity platform endpoints msal's client-credentials flow uses."""

    issued: list[dict[str, list[str]]] = []
    public_key: Any = None

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        base = f"https://127.0.0.1:{self.server.server_address[1]}/kommun-tenant"
        if self.path.startswith("/kommun-tenant/v2.0/.well-known/openid-configuration"):
            self._json({"token_endpoint": f"{base}/oauth2/v2.0/token",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "issuer": f"{base}/v2.0"})
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        if self.path != "/kommun-tenant/oauth2/v2.0/token":
            self._json({"error": "not_found"}, 404)
            return
        type(self).issued.append(form)
        if "client_assertion" in form:  # certificate credential: a JWT signed with its key
            import jwt

            base = f"https://127.0.0.1:{self.server.server_address[1]}/kommun-tenant"
            try:
                claims = jwt.decode(form["client_assertion"][0], type(self).public_key,
                                    algorithms=["RS256", "PS256"],
                                    audience=f"{base}/oauth2/v2.0/token")
            except jwt.PyJWTError as exc:
                self._json({"error": "invalid_client", "error_description": str(exc)}, 401)
                return
            assert claims["iss"] == claims["sub"] == "app-id"
        elif form.get("client_secret") != ["app-hemlighet"]:
            self._json({"error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret"}, 401)
            return
        self._json({"token_type": "Bearer", "expires_in": 3599,
                    "access_token": f"ms-token-{len(type(self).issued)}"})


@pytest.fixture
def token_endpoint(tls: Tls) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _TokenEndpoint)
    httpd.socket = tls.server.wrap_socket(httpd.socket, server_side=True)
    _TokenEndpoint.issued = []
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_xoauth2_with_msal_client_credentials(tls: Tls, token_endpoint: str,
                                              workspace: Path) -> None:
    handler = OAuthHandler(valid={"ms-token-1"})
    server = _starttls(tls, handler, auth_exclude_mechanism=["PLAIN", "LOGIN"])
    user = USER.replace("@", "%40")
    try:
        settings = load_settings(
            workspace, smtp_url=f"smtp://{user}@127.0.0.1:{server.port}?auth=xoauth2",
            smtp_oauth_tenant="kommun-tenant", smtp_oauth_client_id="app-id",
            smtp_oauth_client_secret="app-hemlighet", smtp_oauth_authority=token_endpoint,
            smtp_oauth_ca_file=str(tls.ca_file), smtp_ca_file=str(tls.ca_file))
        tokens = MsalTokens(settings)

        async def send() -> list[Any]:
            pool = SmtpPool(settings.smtp, size=1, recycle_after=1, timeout=10,
                            tokens=tokens, ca_file=str(tls.ca_file))
            try:
                return [await pool.send("a@example.org", f"r{i}@example.org", MSG)
                        for i in range(2)]
            finally:
                await pool.close()
        outs = asyncio.run(send())
        assert [o.result for o in outs] == [Result.sent] * 2, outs
        issued = _TokenEndpoint.issued
        assert len(issued) == 1 and tokens.fetches == 1  # cached for the second connection
        assert issued[0]["grant_type"] == ["client_credentials"]
        assert issued[0]["client_id"] == ["app-id"]
        assert issued[0]["scope"][0].split()[0] == "https://outlook.office365.com/.default"
        assert handler.seen == [(USER, "ms-token-1")] * 2

        bad = MsalTokens(load_settings(
            workspace, smtp_url=settings.smtp_url, smtp_oauth_tenant="kommun-tenant",
            smtp_oauth_client_id="app-id", smtp_oauth_client_secret="fel",
            smtp_oauth_authority=token_endpoint, smtp_oauth_ca_file=str(tls.ca_file)))
        out, _ = _send(settings.smtp_url, tls.ca_file, tokens=bad)
        assert out.server and "AADSTS7000215" in out.reply, out
    finally:
        server.stop()


def test_xoauth2_settings_are_checked(workspace: Path) -> None:
    from mailer.delivery.oauth import token_source
    from mailer.errors import ConfigError

    s = load_settings(workspace, smtp_url="smtp://u%40x.se@127.0.0.1:587?auth=xoauth2")
    with pytest.raises(ConfigError, match="MAILER_SMTP_OAUTH_TENANT"):
        token_source(s)
    with pytest.raises(ConfigError, match="auth=xoauth2 needs the mailbox"):
        load_settings(workspace, smtp_url="smtp://127.0.0.1:587?auth=xoauth2")


def test_probe_reports_extensions_certificate_and_sends_one(tls: Tls) -> None:
    server = _starttls(tls, enable_SMTPUTF8=True)
    try:
        pool = SmtpPool(SmtpUrl.parse(_auth_url(server, query="?starttls=required")),
                        timeout=10, ca_file=str(tls.ca_file))
        p = asyncio.run(probe(pool, message=("a@example.org", "c@example.org", MSG)))
        assert not p.error, p.error
        assert p.tls == "STARTTLS" and p.tls_version.startswith("TLS")
        assert p.certificate is not None and p.certificate.verified
        assert "Testkommunens CA" in p.certificate.issuer
        assert "127.0.0.1" in p.certificate.names
        assert {"PLAIN", "LOGIN"} <= set(p.auth_methods)
        assert p.size == 50 * 1024 * 1024 and "smtputf8" in p.extensions
        assert p.sent is not None and p.sent.result is Result.sent
        assert server.wait_for(1)[0].rcpt_tos == ["c@example.org"]
    finally:
        server.stop()


def test_mailer_smtp_test_command(tls: Tls, workspace: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = _starttls(tls, enable_SMTPUTF8=True)
    plain = SmtpServer().start()
    with refusing_port() as dead:
        try:
            monkeypatch.setenv("MAILER_SMTP_URL", f"{_auth_url(server)} smtp://127.0.0.1:{dead}")
            monkeypatch.setenv("MAILER_SMTP_CA_FILE", str(tls.ca_file))
            monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
            _register()
            r = CliRunner().invoke(app, ["--workspace", str(workspace), "smtp", "test",
                                         "--to", "mottagare@example.org"])
            out = r.output
            assert r.exit_code == 1, out  # the second server refuses connections
            assert "STARTTLS" in out and "Testkommunens CA" in out and "verified" in out
            assert "SIZE 52428800" in out and "SMTPUTF8 yes" in out and "8BITMIME yes" in out
            assert "PIPELINING no" in out and "AUTH LOGIN PLAIN" in out
            assert f"logged in as {USER}" in out
            assert "test message to mottagare@example.org: sent" in out
            assert f"127.0.0.1:{dead}" in out and "cannot connect" in out
            got = server.wait_for(1)[0]
            assert got.rcpt_tos == ["mottagare@example.org"]
            assert got.message["Subject"] and got.message["Message-ID"]
            monkeypatch.setenv("MAILER_SMTP_URL", plain.url)
            r = CliRunner().invoke(app, ["--workspace", str(workspace), "smtp", "test"])
            assert r.exit_code == 0, r.output
            assert "no TLS" in r.output and "not sent" not in r.output
        finally:
            server.stop()
            plain.stop()


def test_xoauth2_with_msal_and_a_certificate_credential(tls: Tls, token_endpoint: str,
                                                        workspace: Path, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    app_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    app_cert = app_ca.issue_cert("app-id.kommun.example", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "app.pem"
    pem.write_bytes(app_cert.private_key_pem.bytes() + app_cert.cert_chain_pems[0].bytes())
    cert = x509.load_pem_x509_certificate(app_cert.cert_chain_pems[0].bytes())
    _TokenEndpoint.public_key = cert.public_key()
    settings = load_settings(
        workspace, smtp_url="smtp://u%40kommun.example@127.0.0.1:587?auth=xoauth2",
        smtp_oauth_tenant="kommun-tenant", smtp_oauth_client_id="app-id",
        smtp_oauth_certificate=str(pem),
        smtp_oauth_thumbprint=cert.fingerprint(hashes.SHA1()).hex(),  # x5t: SHA-1 by definition
        smtp_oauth_authority=token_endpoint, smtp_oauth_ca_file=str(tls.ca_file))
    tokens = MsalTokens(settings)
    assert asyncio.run(tokens.token()) == "ms-token-1"
    form = _TokenEndpoint.issued[0]
    assert "client_secret" not in form and form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
