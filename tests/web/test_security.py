"""Security properties of every page: headers, tokens, no open redirects, friendly errors."""

from __future__ import annotations

import hashlib
import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.web.app import create_app
from tests.web.conftest import BASE, add_subscriber, csrf


def pages(app: FastAPI, sid: int, list_id: int) -> list[str]:
    links = app.state.web.links
    return ["/", "/subscribe/medborgardialog", "/subscribe/medborgardialog/thanks",
            "/subscribe/medborgardialog/embed", "/archive/medborgardialog",
            links.unsubscribe(sid, list_id), links.preferences(sid),
            links.confirm(sid, list_id), "/no/such/page", "/u/tampered"]


def test_security_headers_everywhere(client: TestClient, engine: Engine, app: FastAPI,
                                     lists: dict[str, int], settings: Settings) -> None:
    lid = lists["medborgardialog"]
    sid = add_subscriber(engine, "a@example.org", {lid: "unconfirmed"})
    for path in pages(app, sid, lid):
        r = client.get(path)
        h = r.headers
        csp = h["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp, path
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
        assert h["strict-transport-security"].startswith("max-age=")
        assert "server" not in h or "uvicorn" not in h["server"]
        assert "server-timing" not in h  # only with MAILER_SERVER_TIMING (load tests)
        if r.headers["content-type"].startswith("text/html"):
            assert "<script" not in r.text and " style=" not in r.text, path
    # Behind a proxy that speaks http to us, the https base URL still decides.
    with TestClient(app, base_url="http://127.0.0.1:8000") as proxied:
        assert proxied.get("/").headers["strict-transport-security"].startswith("max-age=")
    http_site = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:8000"}),
                           engine=engine)
    with TestClient(http_site, base_url="http://127.0.0.1:8000") as plain:
        assert "strict-transport-security" not in plain.get("/").headers


def test_csrf_cookie_attributes(client: TestClient, lists: dict[str, int], app: FastAPI,
                                settings: Settings, engine: Engine) -> None:
    r = client.get("/subscribe/medborgardialog")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-mailer-csrf=")
    low = cookie.lower()
    assert "httponly" in low and "secure" in low and "samesite=lax" in low and "path=/" in low
    with TestClient(app, base_url="http://127.0.0.1:8000") as proxied:
        cookie = proxied.get("/subscribe/medborgardialog").headers["set-cookie"]
        assert cookie.startswith("__Host-mailer-csrf=") and "secure" in cookie.lower()
    http_site = create_app(settings.model_copy(update={"base_url": "http://127.0.0.1:8000"}),
                           engine=engine)
    with TestClient(http_site, base_url="http://127.0.0.1:8000") as plain:
        assert plain.get("/subscribe/medborgardialog").headers["set-cookie"].startswith(
            "mailer-csrf=")


def test_no_open_redirects(client: TestClient, engine: Engine, app: FastAPI,
                           lists: dict[str, int]) -> None:
    """Every redirect goes to one of our own paths, whatever the request says."""
    lid = lists["medborgardialog"]
    sid = add_subscriber(engine, "b@example.org", {lid: "active"})
    evil = {"next": "https://evil.example", "redirect": "//evil.example", "lang": "//evil"}
    page = client.get("/subscribe/medborgardialog")
    r = client.post("/subscribe/medborgardialog", params=evil,
                    data={"csrf_token": csrf(page.text), "email": "c@example.org"},
                    headers={"host": "evil.example", "referer": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"].startswith("/subscribe/")
    prefs = app.state.web.links.preferences(sid)
    page = client.get(prefs)
    r = client.post(prefs, params=evil, data={"csrf_token": csrf(page.text), "language": "sv",
                                              "name": "", "organisation": ""})
    assert r.status_code == 303 and r.headers["location"].startswith("/p/")
    # Links in pages come from MAILER_BASE_URL, never from the Host header.
    r = client.get(app.state.web.links.unsubscribe(sid, lid), headers={"host": "evil.example"})
    assert "evil.example" not in r.text


def test_expired_confirmation_link(client: TestClient, engine: Engine, settings: Settings,
                                   lists: dict[str, int]) -> None:
    lid = lists["medborgardialog"]
    sid = add_subscriber(engine, "d@example.org", {lid: "unconfirmed"})

    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 86400

    old = EightDaysAgo(settings.signing_key(), salt="mailer.confirm",
                       digest_method=hashlib.sha256).sign(f"{sid}.{lid}").decode()
    r = client.get(f"/confirm/{old}")
    assert r.status_code == 410 and "Länken har gått ut" in r.text
    r = client.get(f"/confirm/{old}", params={"lang": "en"})
    assert "This link has expired" in r.text
    assert client.get(f"/confirm/{old[:-2]}").status_code == 400


def test_friendly_404_and_405(client: TestClient) -> None:
    r = client.get("/nothing-here", headers={"accept-language": "en"})
    assert r.status_code == 404 and "Page not found" in r.text and "<h1>" in r.text
    r = client.delete("/")
    assert r.status_code == 405 and "<h1>" in r.text


def test_base_url_in_links(app: FastAPI) -> None:
    assert app.state.web.links.preferences(1).startswith(f"{BASE}/p/")
