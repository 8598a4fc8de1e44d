"""Click statistics in the admin and the API: the checkbox where an issue is planned, the
report with its SVG bar chart and CSV, the API field and report, and the per-person
record with its sentence on the preferences page (issue 15 item 2)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.authoring.examples import FLAGSHIP
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.links import Links
from mailer.services.subscriptions import access_report, erase
from mailer.store.db import transaction
from mailer.store.models import PersonClick, Subscriber
from mailer.tokens import Tokens
from mailer.web.app import create_app
from mailer.web.archive import StaticArchive
from tests.admin.conftest import EMAILS, login, post_form, token_for
from tests.admin.test_admin_mailings import PEOPLE, ready  # noqa: F401 (fixture)
from tests.smtp_server import SmtpServer

HREF = re.compile(r'href="([^"]+)"')


def _links_of(smtp_server: SmtpServer, n: int) -> dict[str, list[str]]:
    return {r.rcpt_tos[0]: HREF.findall(r.message.get_body(("html",)).get_content())
            for r in smtp_server.wait_for(n)}


def test_admin_checkbox_report_chart_csv_and_api(
        client: TestClient, team: dict[str, int], ready: None,  # noqa: F811
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    login(client, EMAILS["editor"])  # Swedish pages
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    assert "Räkna klick på länkarna (per länk, utan namn)" in page.text
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "confirm": "1", "track_clicks": "1"})
    assert r.status_code == 303, r.text
    mailing_url = r.headers["location"].split("?")[0]
    assert deliver_due(engine, settings).sent == 3
    links = _links_of(smtp_server, 3)
    base = settings.base_url
    anna = links["anna@hylte.se"]
    tracked = [h for h in anna if h.startswith(f"{base}/l/")]
    assert len(tracked) >= 2
    assert any(h.startswith(f"{base}/u/") for h in anna)  # unsubscribe: untouched
    assert any(h.startswith(f"{base}/archive/view/") for h in anna)  # browser: untouched

    first = client.get(tracked[0])
    assert first.status_code == 302
    target = first.headers["location"]
    assert not target.startswith(base) and first.headers["referrer-policy"] == "no-referrer"
    bo_first = next(h for h in links["bo@uppsala.se"] if h.startswith(f"{base}/l/"))
    assert client.get(bo_first).headers["location"] == target
    assert client.get(tracked[0]).status_code == 302
    bad = client.get(tracked[0].replace("/l/", "/l/9", 1))
    assert bad.status_code == 400 and "location" not in bad.headers

    page = client.get(mailing_url)
    assert page.status_code == 200
    assert "Klick per länk" in page.text and "<svg" in page.text
    assert "mottagare som klickade: 2 av 3 (66,7 %)" in page.text or \
        "mottagare som klickade: 2 av 3 (66.7 %)" in page.text, page.text
    assert "2 unika" in page.text
    mailing_id = int(mailing_url.rsplit("/", 1)[1])
    csv = client.get(f"/admin/mailings/{mailing_id}/clicks.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert f"{mailing_id},1,{target},3,2" in csv.text.splitlines()

    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    got = client.get(f"/api/mailings/{mailing_id}/clicks", headers=editor).json()
    assert got["tracked"] is True and got["per_person"] is False
    assert (got["sent"], got["clicks"], got["unique_clickers"]) == (3, 3, 2)
    assert got["links"][0] == {"position": 1, "url": target, "clicks": 3,
                               "unique_clickers": 2}
    assert client.get(f"/api/mailings/{mailing_id}/clicks.csv",
                      headers=editor).text == csv.text
    made = client.post("/api/mailings", headers=editor,
                       json={"issue": FLAGSHIP, "track_clicks": False, "again": True,
                             "include_received": True}).json()
    plain = client.get(f"/api/mailings/{made['id']}/clicks", headers=editor).json()
    assert plain["tracked"] is False and plain["links"] == []


def test_per_person_only_when_the_workspace_says_so_and_the_privacy_text_tells(
        team: dict[str, int], ready: None, engine: Engine,  # noqa: F811
        settings: Settings, smtp_server: SmtpServer) -> None:
    on = settings.model_copy(update={"click_tracking_per_person": True})
    app = create_app(on, engine=engine, archive=StaticArchive())
    with TestClient(app, base_url=settings.base_url, follow_redirects=False) as client:
        editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
        made = client.post("/api/mailings", json={"issue": FLAGSHIP, "track_clicks": True},
                           headers=editor).json()
        assert deliver_due(engine, on).sent == 3
        links = _links_of(smtp_server, 3)
        cia = next(h for h in links["cia@karlskoga.se"] if "/l/" in h)
        assert client.get(cia).status_code == 302
        got = client.get(f"/api/mailings/{made['id']}/clicks", headers=editor).json()
        assert got["per_person"] is True and got["unique_clickers"] == 1
        csv = client.get(f"/api/mailings/{made['id']}/clicks.csv", headers=editor).text
        assert "cia@karlskoga.se" in csv
        with transaction(engine) as s:
            assert s.scalar(select(PersonClick.position)) == 0
            sid = s.scalar(select(Subscriber.id).where(Subscriber.email == PEOPLE[0]))
            cia_id = s.scalar(select(Subscriber.id).where(Subscriber.email == PEOPLE[2]))
            report = access_report(s, cia_id)
            assert [c["mailing"] for c in report["clicks"]] == [made["id"]]  # type: ignore[index]
            assert access_report(s, sid)["clicks"] == []  # type: ignore[index]
        # The admin's page of the person: their clicks and their copy in tables (they
        # were English JSON under "Övriga uppgifter"; one copy's state was "skickade").
        login(client, EMAILS["editor"])
        # The checkbox says so where the mailing is planned, not "no one's name".
        issue = client.get(f"/admin/issues/{FLAGSHIP}").text
        assert "och vem som klickade: den här arbetsytan sparar klick per person" in issue
        assert "utan namn" not in issue
        page = client.get(f"/admin/subscribers/{cia_id}").text
        clicks = page.split('id="clicks"')[1].split("</table>")[0]
        assert f'<a href="/admin/mailings/{made["id"]}">#{made["id"]}</a>' in clicks, clicks
        assert "Övriga uppgifter" not in page and "&#34;clicks&#34;" not in page
        copy = page.split('id="deliveries"')[1].split("</table>")[0]
        assert "<td>skickades</td>" in copy and "skickade<" not in copy, copy
        assert 'id="clicks"' not in client.get(f"/admin/subscribers/{sid}").text
        with transaction(engine) as s:
            assert erase(s, cia_id, source="test")
        with transaction(engine) as s:
            assert s.scalar(select(PersonClick.id)) is None  # gone with the person
        got = client.get(f"/api/mailings/{made['id']}/clicks", headers=editor).json()
        assert got["clicks"] == 1  # the aggregate (no one's) stays
        prefs = Links(settings.base_url, Tokens(settings.secret_key)).preferences(sid)
        page = client.get(prefs)
        assert "sparar vi vilken länk du klickade på" in page.text
    off = TestClient(create_app(settings, engine=engine, archive=StaticArchive()),
                     base_url=settings.base_url)
    with off:
        page = off.get(prefs)
        assert "aldrig vem som klickade" in page.text
