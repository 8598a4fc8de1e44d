"""The suppression list and sender health in the admin and the API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from tests.admin.conftest import EMAILS, login, post_form, token_for
from tests.admin.test_admin_mailings import FLAGSHIP, _schedule, ready  # noqa: F401
from tests.smtp_server import SmtpServer


def test_admin_page_adds_lists_and_removes(client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["editor"])
    r = post_form(client, "/admin/suppressions", "/admin/suppressions",
                  {"email": "Anna@Hylte.se", "note": "bad mailbox"})
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "Adressen är spärrad" in page.text and "anna@hylte.se" in page.text.lower()
    assert "för hand" in page.text and "Spärrlista" in page.text
    bad = post_form(client, "/admin/suppressions", "/admin/suppressions",
                    {"email": "inte en adress"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    r = post_form(client, "/admin/suppressions", "/admin/suppressions/remove",
                  {"email": "anna@hylte.se"})
    assert r.status_code == 303
    assert "Inga spärrade adresser." in client.get("/admin/suppressions").text


def test_api_suppressions_and_mailing_health(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,  # noqa: F811
        settings: Settings, smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_fault = (
        lambda addr: "550 5.1.1 <bo@uppsala.se>: Recipient address rejected"
        if addr == "bo@uppsala.se" else None)
    login(client, EMAILS["editor"])
    url = _schedule(client)
    deliver_due(engine, settings)
    mailing_id = int(url.rsplit("/", 1)[1])

    auth = {"Authorization": f"Bearer {token_for(engine, 'editor')}"}
    listed = client.get("/api/suppressions", headers=auth).json()
    assert [(x["email"], x["reason"]) for x in listed["items"]] == [
        ("bo@uppsala.se", "hard_bounce")]
    health = client.get(f"/api/mailings/{mailing_id}", headers=auth).json()["health"]
    assert (health["delivered"], health["bounced_hard"], health["complained"]) == (2, 1, 0)
    assert health["bounce_rate"] == round(1 / 3, 4) and "bounce_rate" in health["warnings"]

    page = client.get(url)
    assert 'id="sender-health"' in page.text and "Avsändarhälsa" in page.text
    # Swedish decimals with a comma, like the "0,1 %" of the warnings' own text.
    assert "<td>66,7 %</td>" in page.text and "<td>33,3 %</td>" in page.text
    assert "<td>0,00 %</td>" in page.text and "33.3" not in page.text
    # Its rows agree with their counts (a row read "avregistrerad" among plurals).
    rows = page.text.split('id="sender-health"')[1].split("</table>")[0]
    for label, n in (("levererade", 2), ("studsat (hårt)", 1), ("studsade (tillfälligt)", 0),
                     ("anmälda som skräppost", 0), ("följda av avregistrering", 0),
                     ("avvisade av policyskäl (5.7.x)", 0)):
        assert f'<th scope="row">{label}</th><td>{n}</td>' in rows, rows
    assert "avregistrerad<" not in rows
    dash = client.get("/admin")
    assert f'id="health-warning-{mailing_id}"' in dash.text
    assert "Studsandelen 33,3 % är över 2 %" in dash.text
    assert "<td>33.3 %</td>" in client.get(url, params={"lang": "en"}).text

    r = client.post("/api/suppressions", headers=auth, json={"email": "cia@karlskoga.se"})
    assert r.status_code == 201 and r.json()["reason"] == "manual"
    assert client.post("/api/suppressions", headers=auth,
                       json={"email": "cia@karlskoga.se"}).status_code == 200
    bad = client.post("/api/suppressions", headers=auth, json={"email": "x", "reason": "z"})
    assert bad.status_code in (400, 422) and "error" in bad.json()
    assert client.delete("/api/suppressions/cia@karlskoga.se", headers=auth).status_code == 204
    assert client.delete("/api/suppressions/cia@karlskoga.se", headers=auth).status_code == 404


def test_sign_up_while_suppressed_shows_in_admin_and_api_and_removing_sends_the_link(
        client: TestClient, team: dict[str, int], engine: Engine, settings: Settings,
        smtp_server: SmtpServer) -> None:
    from datetime import UTC, datetime

    from mailer.services.deliverability import add_suppression
    from mailer.services.lists import create_list
    from mailer.store.db import transaction
    from tests.web.test_subscribe import submit

    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        assert add_suppression(s, "bo@uppsala.se", now=datetime.now(UTC),
                               reason="hard_bounce", detail="550 5.1.1 user unknown")
    r, _ = submit(client, "bo@uppsala.se", "Bo")  # the public form, anonymous
    assert r.status_code == 303

    login(client, EMAILS["editor"])
    page = client.get("/admin/suppressions")
    assert "Anmäld igen" in page.text
    assert "1 gång(er), senast" in page.text and "(form: medborgardialog)" in page.text
    assert "inget mejl skickades" in page.text
    english = client.get("/admin/suppressions?lang=en")
    assert "Signed up again" in english.text and "1 time(s), last" in english.text
    auth = {"Authorization": f"Bearer {token_for(engine, 'editor')}"}
    (item,) = client.get("/api/suppressions", headers=auth).json()["items"]
    assert (item["signup_attempts"], item["last_signup"]) == (1, "form: medborgardialog")
    assert deliver_due(engine, settings).sent == 0  # nothing went to Bo meanwhile

    r = post_form(client, "/admin/suppressions?lang=sv", "/admin/suppressions/remove",
                  {"email": "bo@uppsala.se"})
    assert r.status_code == 303
    assert "anmälningarna som väntade har fått sin bekräftelselänk" in \
        client.get(r.headers["location"]).text
    assert deliver_due(engine, settings).sent == 1
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["bo@uppsala.se"]
    assert str(mail.message["Subject"]).startswith("Bekräfta din prenumeration")


def test_suppressions_are_counted_and_paged_honestly(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """total is what the search matches (not every suppression, not offset + 0 past the
    end); % and _ in a search are letters; the admin page pages instead of cutting."""
    from mailer.services.deliverability import add_suppression
    from mailer.store.db import transaction
    from mailer.store.models import utcnow

    with transaction(engine) as s:
        for i in range(120):
            add_suppression(s, f"person{i:03d}@{'hylte' if i % 2 else 'falun'}.se",
                            now=utcnow())
        add_suppression(s, "under_score@hylte.se", now=utcnow())
    auth = {"Authorization": f"Bearer {token_for(engine, 'editor')}"}

    def page(**params: object) -> tuple[int, int]:
        got = client.get("/api/suppressions", params=params, headers=auth).json()
        return len(got["items"]), got["total"]

    assert page(q="hylte", per_page=10) == (10, 61)
    assert page(q="hylte", per_page=50, page=2) == (11, 61)
    assert page(q="hylte", per_page=50, page=3) == (0, 61)
    assert page(page=9) == (0, 121)
    assert page(q="_") == (1, 1) and page(q="%") == (0, 0)
    r = client.post("/api/suppressions", headers=auth,
                    json={"email": "lang@hylte.se", "note": "x" * 501})
    assert r.status_code == 422 and r.json()["error"]["field"] == "note"

    login(client, EMAILS["editor"])
    first = client.get("/admin/suppressions").text
    assert "121 träffar · sida 1 av 3" in first and first.count(".se</td>") == 50
    third = client.get("/admin/suppressions", params={"page": 3}).text
    assert "person000@falun.se" in third and 'rel="prev"' in third
