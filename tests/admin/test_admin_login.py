"""Admin login: sessions, CSRF, rate limiting, logout, roles, own password and tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.store.db import transaction
from mailer.store.models import UserSession
from tests.admin.conftest import EMAILS, PASSWORD, csrf, login, post_form


def test_login_sets_a_secure_session_cookie_and_logout_ends_it(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    assert client.get("/admin").headers["location"] == "/admin/login"
    login(client, EMAILS["editor"])
    cookie = next(c for c in client.cookies.jar if c.name == "__Host-mailer-admin")
    assert cookie.secure and cookie.path == "/"
    r = client.get("/admin")
    assert r.status_code == 200 and "Editor" in r.text
    set_cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    assert all("mailer-admin=" not in v for v in set_cookie)
    with transaction(engine) as s:
        assert len(s.scalars(select(UserSession)).all()) == 1
    r = post_form(client, "/admin", "/admin/logout", {})
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
    with transaction(engine) as s:
        assert s.scalars(select(UserSession)).all() == []
    assert client.get("/admin").status_code == 303


def test_login_header_flags(client: TestClient, team: dict[str, int]) -> None:
    page = client.get("/admin/login")
    r = client.post("/admin/login", data={"email": EMAILS["admin"], "password": PASSWORD,
                                          "csrf_token": csrf(page.text)})
    header = next(v for k, v in r.headers.multi_items()
                  if k == "set-cookie" and v.startswith("__Host-mailer-admin="))
    low = header.lower()
    assert "httponly" in low and "samesite=lax" in low and "secure" in low


def test_wrong_password_unknown_user_and_inactive_get_the_same_answer(
        client: TestClient, team: dict[str, int]) -> None:
    answers = []
    for email, password in ((EMAILS["admin"], "wrong password here"),
                            ("nobody@example.org", PASSWORD)):
        page = client.get("/admin/login")
        r = client.post("/admin/login", data={"email": email, "password": password,
                                              "csrf_token": csrf(page.text)})
        answers.append((r.status_code, "wrong" in r.text or "fel" in r.text))
    assert answers == [(401, True), (401, True)]


def test_login_without_csrf_is_refused(client: TestClient, team: dict[str, int]) -> None:
    r = client.post("/admin/login", data={"email": EMAILS["admin"], "password": PASSWORD})
    assert r.status_code == 403


def test_login_is_rate_limited_per_account(client: TestClient, team: dict[str, int]) -> None:
    statuses = []
    for _ in range(12):
        page = client.get("/admin/login")
        r = client.post("/admin/login", data={"email": EMAILS["admin"],
                                              "password": "nope nope nope",
                                              "csrf_token": csrf(page.text)})
        statuses.append(r.status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # Even the right password is refused while the limit holds.
    page = client.get("/admin/login")
    r = client.post("/admin/login", data={"email": EMAILS["admin"], "password": PASSWORD,
                                          "csrf_token": csrf(page.text)})
    assert r.status_code == 429


def test_next_is_kept_but_never_leaves_admin(client: TestClient, team: dict[str, int]) -> None:
    r = client.get("/admin/users?x=1")
    assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Fusers%3Fx%3D1"
    for target, expected in (("/admin/users?x=1", "/admin/users?x=1"),
                             ("https://evil.example/", "/admin"), ("//evil.example", "/admin"),
                             ("/archive", "/admin")):
        client.cookies.clear()
        page = client.get("/admin/login")
        r = client.post("/admin/login", data={"email": EMAILS["admin"], "password": PASSWORD,
                                              "csrf_token": csrf(page.text), "next": target})
        assert r.headers["location"] == expected


def test_role_limits_editor_gets_403_on_users(client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["editor"])
    assert client.get("/admin/users").status_code == 403
    r = post_form(client, "/admin", "/admin/users", {"email": "x@example.org", "role": "admin"})
    assert r.status_code == 403
    assert "/admin/users" not in client.get("/admin").text


def test_admin_adds_user_who_logs_in_with_the_initial_password(
        client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["admin"])
    r = post_form(client, "/admin/users", "/admin/users",
                  {"email": "new@example.org", "name": "Ny Person", "role": "coordinator"})
    assert r.status_code == 200
    import re

    initial = re.search(r'id="initial-password">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    client.cookies.clear()
    login(client, "new@example.org", initial)
    assert "Ny Person" in client.get("/admin").text


def test_deactivating_a_user_ends_their_session(app, team: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="https://nyhetsbrev.example.org",
                    follow_redirects=False) as admin, \
            TestClient(app, base_url="https://nyhetsbrev.example.org",
                       follow_redirects=False) as editor:
        login(admin, EMAILS["admin"])
        login(editor, EMAILS["editor"])
        assert editor.get("/admin").status_code == 200
        r = post_form(admin, "/admin/users", f"/admin/users/{team['editor']}", {"active": "0"})
        assert r.status_code == 303
        assert editor.get("/admin").status_code == 303


def test_the_last_admin_cannot_be_demoted(client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["admin"])
    r = post_form(client, "/admin/users", f"/admin/users/{team['admin']}", {"role": "editor"})
    assert r.status_code == 422 and "den sista aktiva administratören" in r.text


def test_own_password_change_and_token(client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["coordinator"])
    r = post_form(client, "/admin/account", "/admin/account/password",
                  {"current": PASSWORD, "new": "another fine passphrase", "repeat":
                   "another fine passphrase"})
    assert r.status_code == 303
    assert client.get("/admin").status_code == 200  # this session survives
    # A token without a name (blank, or only spaces) is refused beside the field, in
    # Swedish; none is made.
    for blank in ("", "   "):
        r = post_form(client, "/admin/account", "/admin/account/tokens", {"name": blank})
        assert r.status_code == 422 and "mlr_" not in r.text
        assert ('id="token-name-error">ge nyckeln ett namn: vad den ska användas till'
                in r.text), r.text
    r = post_form(client, "/admin/account", "/admin/account/tokens", {"name": "script"})
    assert "mlr_" in r.text and "token-name-error" not in r.text
    client.cookies.clear()
    login(client, EMAILS["coordinator"], "another fine passphrase")
