"""Issue 13: body limits before reading, errors with security headers, CSRF bound to the
login session, cookies and HSTS from the base URL, normalised limits, control characters."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from mailer.config import Settings
from mailer.store.db import transaction
from mailer.store.models import OutboxRow, Subscriber
from mailer.web.app import create_app
from mailer.web.limits import API_JSON, PUBLIC_FORM
from tests.web.conftest import BASE, csrf

SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy",
            "x-frame-options", "strict-transport-security")


def _asgi(app: FastAPI, method: str, path: str, body_size: int, *,
          headers: list[tuple[bytes, bytes]] = (), declare: bool = True,
          ) -> tuple[int, dict[bytes, bytes], bytes, int]:
    """Drive the ASGI app directly; returns (status, headers, body, bytes the app read)."""
    chunk = b"x" * 65536
    chunks = -(-body_size // len(chunk))
    read = 0
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        nonlocal read, chunks
        if chunks <= 0:
            return {"type": "http.disconnect"}
        chunks -= 1
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": chunks > 0}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    hdrs = [(b"host", b"nyhetsbrev.example.org"), *headers]
    if declare:
        hdrs.append((b"content-length", str(body_size).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "https", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": hdrs, "client": ("127.0.0.1", 5000),
             "server": ("nyhetsbrev.example.org", 443), "root_path": ""}
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent  # type: ignore[misc]
                    if m["type"] == "http.response.body")
    return (int(start["status"]), dict(start["headers"]),  # type: ignore[call-overload, arg-type]
            body, read)


def test_oversized_bodies_are_refused_before_reading(app: FastAPI,
                                                     lists: dict[str, int]) -> None:
    # A declared 300 MB upload to the public form: 413, and not one byte read.
    status, headers, body, read = _asgi(app, "POST", "/subscribe/medborgardialog", 300 << 20)
    assert (status, read) == (413, 0)
    assert all(h.encode() in headers for h in SECURITY)
    assert "För mycket skickades".encode() in body
    # An anonymous 200 MB JSON body to the API: 413 in the API's shape, nothing read.
    status, headers, body, read = _asgi(app, "POST", "/api/subscribers", 200 << 20,
                                        headers=[(b"content-type", b"application/json")])
    assert (status, read) == (413, 0) and b'"too_large"' in body
    # Streamed without a length: reading stops at the limit (plus one chunk), 413.
    status, _, body, read = _asgi(app, "POST", "/subscribe/medborgardialog", 50 << 20,
                                  declare=False, headers=[(
                                      b"content-type", b"application/x-www-form-urlencoded")])
    assert status == 413 and read <= PUBLIC_FORM + 65536


def test_the_api_authenticates_before_reading_a_body(app: FastAPI) -> None:
    # Under the API's limit but anonymous: 401 without reading the body.
    status, headers, body, read = _asgi(app, "POST", "/api/subscribers", API_JSON - 10,
                                        headers=[(b"content-type", b"application/json")])
    assert (status, read) == (401, 0) and b'"unauthorized"' in body
    assert headers[b"www-authenticate"].startswith(b"Bearer")
    status, _, _, read = _asgi(app, "POST", "/api/subscribers", 1000, headers=[
        (b"content-type", b"application/json"), (b"authorization", b"Bearer made-up")])
    assert (status, read) == (401, 0)


def test_out_of_range_ids_are_404_with_security_headers(client: TestClient) -> None:
    for path in ("/archive/view/99999999999999999999", "/archive/view/0",
                 "/archive/view/-1", "/archive/view/2147483648"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert all(h in r.headers for h in SECURITY)


def test_a_server_error_carries_the_security_headers_and_no_traceback(
        settings: Settings, engine: Engine) -> None:
    app = create_app(settings, engine=engine)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"secret detail in {settings.workspace}")

    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert all(h in r.headers for h in SECURITY)
    assert "secret detail" not in r.text and str(settings.workspace) not in r.text
    assert "Något gick fel hos oss" in r.text


def test_one_mailbox_gets_at_most_three_sign_up_mails(client: TestClient, engine: Engine,
                                                      lists: dict[str, int]) -> None:
    """Plus tags, letter case and Gmail's dots are one mailbox: 3 mails, not 10."""
    spellings = [f"victim2+{n}@example.org" for n in range(5)] + [
        "Victim2@Example.org", "v.i.c.t.i.m.2+x@gmail.com", "victim2@googlemail.com",
        "VICTIM2@gmail.com", "vic.tim2@gmail.com"]
    for email in spellings:
        page = client.get("/subscribe/medborgardialog")
        r = client.post("/subscribe/medborgardialog", data={
            "email": email, "csrf_token": csrf(page.text)})
        assert r.status_code == 303, r.text
    with transaction(engine) as s:
        mails = s.scalar(select(func.count()).select_from(OutboxRow))
        people = s.scalar(select(func.count()).select_from(Subscriber))
    assert people == 10  # every sign-up is recorded; only the mails are limited
    assert mails == 3 + 3  # three to example.org's mailbox, three to gmail's


def test_control_characters_are_cleaned_from_form_names(client: TestClient, engine: Engine,
                                                        lists: dict[str, int]) -> None:
    page = client.get("/subscribe/medborgardialog")
    r = client.post("/subscribe/medborgardialog", data={
        "email": "anna@example.org", "name": "Anna\x00 Svens\x1bson\u202e\x85",
        "csrf_token": csrf(page.text)})
    assert r.status_code == 303
    with transaction(engine) as s:
        assert s.scalar(select(Subscriber.name)) == "Anna Svens son"


def test_https_base_url_decides_cookies_behind_a_proxy(settings: Settings,
                                                       engine: Engine,
                                                       lists: dict[str, int]) -> None:
    app = create_app(settings, engine=engine)  # MAILER_BASE_URL is https
    with TestClient(app, base_url="http://127.0.0.1:8000") as behind_proxy:
        r = behind_proxy.get("/subscribe/medborgardialog")
    assert r.headers["set-cookie"].startswith("__Host-mailer-csrf=")
    assert "secure" in r.headers["set-cookie"].lower()
    assert "strict-transport-security" in r.headers
