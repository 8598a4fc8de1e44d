"""The re-send guard in the admin and the API, and the reasons for skipped/failed copies
on the mailing page and in the API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring.examples import FLAGSHIP
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from tests.admin.conftest import EMAILS, login, post_form, token_for
from tests.admin.test_admin_mailings import PEOPLE, _schedule, ready  # noqa: F401
from tests.smtp_server import SmtpServer


def test_admin_asks_before_sending_an_issue_twice(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,  # noqa: F811
        settings: Settings, smtp_server: SmtpServer) -> None:
    # A permanent refusal that is not a bounce of the address (5.6.0, content): a 5.1.1
    # would suppress bo (issue 11) and the send below would rightly leave them out.
    smtp_server.handler.rcpt_fault = (
        lambda addr: "554 5.6.0 <bo@uppsala.se>: Message content rejected"
        if addr == "bo@uppsala.se" else None)
    login(client, EMAILS["editor"], lang="en")
    assert 'id="earlier-sends"' not in client.get(f"/admin/issues/{FLAGSHIP}").text
    assert "No worker has run yet" in client.get("/admin").text
    url = _schedule(client)
    deliver_due(engine, settings)  # a drain run: its worker row is gone when it ends
    smtp_server.wait_for(2)
    dash = client.get("/admin").text
    assert 'id="last-delivery"' in dash and "No worker has run yet" not in dash
    assert "Last delivery activity" in dash
    # The mailing page says why a copy was not delivered, not only how many.
    page = client.get(url).text
    assert 'id="reasons"' in page and "refused by the server" in page
    assert "Message content rejected" in page
    # The issue page now shows the earlier send and the "again" choice.
    page = client.get(f"/admin/issues/{FLAGSHIP}").text
    assert 'id="earlier-sends"' in page and 'name="again"' in page
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "confirm": "1"})
    assert r.status_code == 400 and "already sent" in r.text
    # the admin's way (Msg.with_admin), not the command line's --again nor the API's field
    said = r.text.split('<p class="error" id="again-error">')[1].split("</p>")[0]
    assert said.endswith("To send it again on purpose, tick &#39;Send it again to lists it "
                         "already went to&#39;; people who already got it are then left out "
                         "unless you also tick &#39;Also to people who already got it&#39;")
    mid = url.rsplit("/", 1)[1]
    assert f"mailing {mid} (done" in r.text
    # With the explicit tick it goes, to the one person who did not get it.
    smtp_server.handler.rcpt_fault = None
    before = len(smtp_server.received)
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "confirm": "1", "again": "1"})
    assert r.status_code == 303, r.text
    deliver_due(engine, settings)
    got = smtp_server.wait_for(before + 1)
    assert [x.rcpt_tos[0] for x in got[before:]] == ["bo@uppsala.se"]
    # Swedish: the reason is in Swedish too.
    client.cookies.clear()
    login(client, EMAILS["editor"], lang="sv")
    assert "avvisad av servern" in client.get(url).text


def test_api_refuses_a_second_send_with_409_and_shows_reasons(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,  # noqa: F811
        settings: Settings, smtp_server: SmtpServer) -> None:
    # 5.6.0 (content), not 5.1.1: a hard bounce would suppress the address (issue 11).
    smtp_server.handler.rcpt_fault = (
        lambda addr: "554 5.6.0 message content rejected" if addr == PEOPLE[0] else None)
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post("/api/mailings", json={"issue": FLAGSHIP}, headers=editor)
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    deliver_due(engine, settings)
    r = client.post("/api/mailings", json={"issue": FLAGSHIP}, headers=editor)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["field"] == "again" and f"mailing {first} (done" in err["message"]
    shown = client.get(f"/api/mailings/{first}", headers=editor).json()
    assert shown["reasons"] == [{"status": "failed", "reason": "refused",
                                 "label": "refused by the server", "count": 1,
                                 "example": "554 5.6.0 message content rejected"}]
    r = client.post("/api/mailings", json={"issue": FLAGSHIP, "again": True}, headers=editor)
    assert r.status_code == 201 and r.json()["total"] == 1  # the one whose copy failed
    r = client.post("/api/mailings", json={"issue": FLAGSHIP, "again": True,
                                           "include_received": True}, headers=editor)
    assert r.status_code == 201 and r.json()["total"] == 3


def test_the_admin_and_the_api_name_an_issues_mailing_as_the_command_line_does(
        client: TestClient, team: dict[str, int], ready: None,  # noqa: F811
        engine: Engine) -> None:
    # The mailings list showed "2023-06-nyhetsbrev-6" for a send from the admin or the API
    # and "2023-06-nyhetsbrev-6: <subject>" for one from `mailer send`, side by side.
    from sqlalchemy import select

    from mailer.store.db import transaction
    from mailer.store.models import Mailing

    login(client, EMAILS["editor"], lang="sv")
    _schedule(client, at="2030-06-15T08:00")
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post("/api/mailings", json={"issue": FLAGSHIP, "again": True,
                                           "at": "2030-06-16T08:00:00+02:00"}, headers=editor)
    assert r.status_code == 201, r.text
    with transaction(engine) as s:
        names = list(s.scalars(select(Mailing.name).order_by(Mailing.id)))
    subject = "Nyhetsbrev nr 6 år 2023: Delaktighetstrappan, Demokratiresan och seminarium om "
    assert names == [f"{FLAGSHIP}: {subject}medborgarbudget"] * 2, names
    assert r.json()["name"] == names[1]
