"""Segments in the admin and the API: save, live count and sample, send an issue to a
segment or with conditions and a send window, and role limits."""

from __future__ import annotations

import shutil
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.store.db import transaction
from mailer.store.models import Mailing
from tests.admin.conftest import EMAILS, login, post_form, token_for
from tests.smtp_server import SmtpServer
from tests.test_segments import add_people


@pytest.fixture
def ready(settings: Settings, engine: Engine) -> None:
    shutil.copytree(flagship_path(), settings.workspace / "issues" / FLAGSHIP)
    add_people(engine)


def test_segment_page_live_count_save_and_send(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,
        settings: Settings, smtp_server: SmtpServer) -> None:
    login(client, EMAILS["editor"])  # Swedish pages
    page = client.get("/admin/segments")
    assert page.status_code == 200 and "Segment" in page.text
    assert "Inga segment ännu." in page.text
    # the live fragment: count and sample, in Swedish
    q = urlencode({"lists": "natverk", "where": "org.kind=region\nrole~förtroendevald"})
    r = client.get(f"/admin/audience?{q}")
    assert r.status_code == 200
    assert "1 aktiv prenumerant matchar nu" in r.text and "bo@regionhalland.se" in r.text
    q = urlencode({"lists": "natverk", "where": "org.kind=region"})
    assert "2 aktiva prenumeranter matchar nu" in client.get(f"/admin/audience?{q}").text
    r = client.get("/admin/audience?" + urlencode({"lists": "natverk", "where": "lan=x"}))
    assert r.status_code == 422 and "okänt fält &#39;lan&#39;" in r.text  # Swedish admin
    # without the script: "Show who matches" renders the same on the page
    r = post_form(client, "/admin/segments", "/admin/segments",
                  {"name": "Regioner", "list": "natverk", "where": "org.kind=region",
                   "action": "preview"})
    assert r.status_code == 200 and "cia@skane.se" in r.text
    r = post_form(client, "/admin/segments", "/admin/segments",
                  {"name": "Regioner", "list": "natverk", "where": "org.kind=region"})
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/segments")
    page = client.get("/admin/segments").text
    assert "Regioner" in page and "org.kind=region" in page
    r = post_form(client, "/admin/segments", "/admin/segments",
                  {"name": "Tom", "list": "natverk", "where": ""})
    assert r.status_code == 422 and "minst ett villkor" in r.text

    # The issue page offers the segment, with its count; send to it with a window.
    issue = client.get(f"/admin/issues/{FLAGSHIP}").text
    assert "Regioner (natverk, 2 matchar)" in issue and 'name="where"' in issue
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"segment": "Regioner", "where": "language=sv", "send_window": "off",
                   "confirm": "1"})
    assert r.status_code == 303, r.text
    with transaction(engine) as s:
        m = s.scalar(select(Mailing).order_by(Mailing.id.desc()))
        assert m is not None
        assert (m.segment, m.audience, m.send_window) == (
            "Regioner", ["org.kind=region", "language=sv"], "off")
    shown = client.get(r.headers["location"].split("?")[0]).text
    assert "Segment: Regioner" in shown and "<code>language=sv</code>" in shown
    assert "Sändningsfönster: när som helst" in shown
    deliver_due(engine, settings)
    assert [x.rcpt_tos for x in smtp_server.wait_for(1)] == [["cia@skane.se"]]
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "natverk", "send_window": "sometimes", "confirm": "1",
                   "again": "1"})  # the issue went to natverk above: a second send says so
    assert r.status_code == 400 and "skriv dagar och klockslag" in r.text
    assert 'id="send_window-error"' in r.text and 'value="sometimes"' in r.text  # kept

    r = post_form(client, "/admin/segments", "/admin/segments/Regioner/delete", {})
    assert r.status_code == 303
    assert "Inga segment ännu." in client.get("/admin/segments").text


def test_coordinators_see_but_do_not_save_segments(
        client: TestClient, team: dict[str, int], ready: None) -> None:
    login(client, EMAILS["coordinator"], lang="en")
    page = client.get("/admin/segments")
    assert page.status_code == 200 and "Save segment" not in page.text
    r = post_form(client, "/admin/segments", "/admin/segments",
                  {"name": "x", "list": "natverk", "where": "language=sv"})
    assert r.status_code == 403


def test_segments_api(client: TestClient, team: dict[str, int], ready: None,
                      engine: Engine, smtp_server: SmtpServer, settings: Settings) -> None:
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    coordinator = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    body = {"list": "natverk", "where": ["org.kind=region", "role~förtroendevald"]}
    assert client.put("/api/segments/valda", json=body,
                      headers=coordinator).status_code == 403
    r = client.put("/api/segments/valda", json=body, headers=editor)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "valda", "list": "natverk",
                        "where": ["org.kind=region", "role~förtroendevald"], "matching": 1}
    assert [x["name"] for x in client.get("/api/segments", headers=coordinator).json()] == [
        "valda"]
    r = client.get("/api/audience", params={"list": "natverk", "where": ["org.county=13"],
                                            "sample": 1}, headers=coordinator)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["matching"] == 2 and [m["email"] for m in got["sample"]] == ["anna@hylte.se"]
    r = client.get("/api/audience", params={"segment": "valda"}, headers=coordinator)
    assert r.json()["matching"] == 1 and r.json()["lists"] == ["natverk"]
    r = client.get("/api/audience", params={"list": "natverk", "where": ["org.kind=land"]},
                   headers=editor)
    assert r.status_code == 400 and "municipality, region or other" in r.json()["error"][
        "message"]
    r = client.post("/api/mailings", headers=editor,
                    json={"issue": FLAGSHIP, "segment": "valda",
                          "send_window": "Mon-Sun 00:00-24:00"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["total"], made["segment"], made["where"], made["send_window"]) == (
        1, "valda", ["org.kind=region", "role~förtroendevald"], "Mon-Sun 00:00-24:00")
    r = client.post("/api/mailings", headers=editor,
                    json={"issue": FLAGSHIP, "lists": ["natverk"], "where": ["language=en"],
                          "again": True, "include_received": True})
    assert r.status_code == 201 and r.json()["total"] == 1
    deliver_due(engine, settings)
    assert sorted(x.rcpt_tos[0] for x in smtp_server.wait_for(2)) == [
        "bo@regionhalland.se", "bo@regionhalland.se"]
    assert client.delete("/api/segments/valda", headers=editor).status_code == 204
    assert client.get("/api/segments/valda", headers=editor).status_code == 404


def test_api_refusals_name_the_field_of_the_target(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine) -> None:
    """A bad condition, an unknown list or segment, a bad send window: the error's field
    says which part of the request to fix (it was null)."""
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}

    def field(method: str, url: str, **kw: object) -> tuple[int, str | None]:
        r = client.request(method, url, headers=editor, **kw)  # type: ignore[arg-type]
        return r.status_code, r.json()["error"]["field"]

    assert field("GET", "/api/audience", params={"list": "natverk", "where": "foo"}) == (
        400, "where")
    assert field("GET", "/api/audience", params={"list": "nope"}) == (404, "lists")
    assert field("GET", "/api/audience", params={"segment": "nope"}) == (404, "segment")
    for path in ("/api/mailings", "/api/mailings/dry-run"):
        assert field("POST", path, json={"issue": FLAGSHIP, "lists": ["nope"]}) == (
            404, "lists")
        assert field("POST", path, json={"issue": FLAGSHIP, "where": ["role"]}) == (
            400, "where")
        assert field("POST", path, json={"issue": FLAGSHIP, "segment": "nope"}) == (
            404, "segment")
    assert field("POST", "/api/mailings", json={"issue": FLAGSHIP, "lists": ["natverk"],
                                                "send_window": "blah"}) == (400, "send_window")
    assert field("PUT", "/api/segments/x", json={"list": "nope", "where": ["language=sv"]}) \
        == (404, "list")
    assert field("PUT", "/api/segments/x", json={"list": "natverk", "where": ["x"]}) == (
        400, "where")


def test_send_form_dry_run_counts_what_the_send_plans(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine) -> None:
    from sqlalchemy import func

    from mailer.domain.addresses import email_hash
    from mailer.store.models import OutboxRow, Suppression, SuppressionReason

    with transaction(engine) as s:  # bo's address bounced
        s.add(Suppression(email_hash=email_hash("bo@regionhalland.se"),
                          email_key="bo@regionhalland.se", email="bo@regionhalland.se",
                          reason=SuppressionReason.hard_bounce))
    login(client, EMAILS["editor"])  # Swedish pages
    issue = f"/admin/issues/{FLAGSHIP}"
    assert f'data-issue="{FLAGSHIP}"' in client.get(issue).text
    query = {"lists": "natverk", "where": "org.kind=region", "issue": FLAGSHIP}
    r = client.get("/admin/audience?" + urlencode(query))
    assert r.status_code == 200, r.text
    plan = r.text.split('id="dry-run"')[1].split("</div>")[0]
    # Regions: bo (suppressed), cia, eva (unsubscribed); anna and dan are no region.
    assert "Skickat nu skulle 1 person få numret." in plan
    assert ("Nätverket: 1 skulle få det · hoppas över: 2 uppfyller inte villkoren, "
            "1 spärrad adress, 1 avregistrerad") in plan
    # The API's dry run says the same.
    auth = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    body = {"issue": FLAGSHIP, "lists": ["natverk"], "where": ["org.kind=region"]}
    r = client.post("/api/mailings/dry-run", json=body, headers=auth)
    assert r.status_code == 200, r.text
    api = r.json()
    assert (api["total"], api["refused"], api["conditions"]) == (1, None, ["org.kind=region"])
    assert {k: api["lists"][0][k] for k in ("slug", "would_get", "not_matching", "suppressed",
                                            "unsubscribed", "unconfirmed")} == {
        "slug": "natverk", "would_get": 1, "not_matching": 2, "suppressed": 1,
        "unsubscribed": 1, "unconfirmed": 0}
    r = post_form(client, issue, f"{issue}/schedule",
                  {"lists": "natverk", "where": "org.kind=region", "confirm": "1"})
    assert r.status_code == 303, r.text
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == api["total"]
    api = client.post("/api/mailings/dry-run", json=body, headers=auth).json()
    assert api["total"] == 0 and "already sent" in api["refused"]
    assert api["lists"][0]["already_received"] == 1
    r = client.post("/api/mailings/dry-run", json={**body, "where": ["org.size=big"]},
                    headers=auth)
    assert r.status_code == 400 and "unknown field" in r.json()["error"]["message"]
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 1  # nothing changed
    # Again: cia got it, so nobody would; with everyone who got it, cia again.
    r = client.get("/admin/audience?" + urlencode({**query, "again": "1"}))
    assert "Skickat nu skulle 0 personer få numret." in r.text
    assert "1 har redan fått numret" in r.text
    r = client.get("/admin/audience?" + urlencode({**query, "again": "1",
                                                   "include_received": "1"}))
    assert "Skickat nu skulle 1 person få numret." in r.text
    # English pages say the same in English; the segments page shows no dry run.
    r = client.get("/admin/audience?" + urlencode({**query, "lang": "en"}))
    # bo is suppressed: left out of the live count, as the dry run leaves him out
    assert "1 active subscriber matches now" in r.text
    assert "Sent now, 0 people would get this issue." in r.text
    assert ("Nätverket: 0 would get it · left out: 2 do not meet the conditions, 1 already "
            "got this issue, 1 suppressed address, 1 unsubscribed") in r.text
    r = client.get("/admin/audience?" + urlencode({"lists": "natverk", "where": "role~x"}))
    assert r.status_code == 200 and 'id="dry-run"' not in r.text
    r = client.get("/admin/audience?" + urlencode({**query, "issue": "../etc"}))
    assert r.status_code == 404


def test_a_send_time_in_the_past_is_about_at(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine) -> None:
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post("/api/mailings", headers=editor,
                    json={"issue": FLAGSHIP, "lists": ["natverk"],
                          "at": "2020-01-01T08:00:00+01:00"})
    error = r.json()["error"]
    assert r.status_code == 400 and error["field"] == "at", error
    assert "is in the past; leave the time out" in error["message"]
    # named in the workspace's time zone, as the editor thinks of it (was "07:00 UTC")
    assert "2020-01-01 08:00 (Europe/Stockholm)" in error["message"], error


def test_a_send_to_nobody_is_refused_by_the_admin_and_the_api(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine) -> None:
    """An empty list (or conditions nobody meets): no mailing "done" for 0 recipients,
    which would look like a send and block the real one; the form and the API say why."""
    from sqlalchemy import func

    from mailer.services.lists import create_list

    with transaction(engine) as s:
        create_list(s, "tom", "Tom lista")
    login(client, EMAILS["editor"])  # Swedish pages
    issue = f"/admin/issues/{FLAGSHIP}"
    r = post_form(client, issue, f"{issue}/schedule", {"lists": "tom", "confirm": "1"})
    assert r.status_code == 400, r.text
    assert "ingen att skicka till: listan tom (Tom lista) har inga aktiva prenumeranter" in r.text
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post("/api/mailings", headers=editor, json={"issue": FLAGSHIP, "lists": ["tom"]})
    assert r.status_code == 400 and "nobody to send to: the list tom (Tom lista) has no " \
        "active subscribers" in r.json()["error"]["message"], r.text
    assert r.json()["error"]["field"] == "lists"  # the input it is about
    r = client.post("/api/mailings", headers=editor,
                    json={"issue": FLAGSHIP, "lists": ["natverk"], "where": ["role~xyzzy"]})
    assert r.status_code == 400 and "none of the 4 active subscribers of natverk" in r.json()[
        "error"]["message"], r.text
    assert r.json()["error"]["field"] == "where"
    r = client.post("/api/mailings/dry-run", headers=editor,
                    json={"issue": FLAGSHIP, "lists": ["tom"]})
    assert r.status_code == 200 and "nobody to send to" in r.json()["refused"], r.text
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Mailing)) == 0
    # A scheduled send waits: people may subscribe meanwhile.
    r = client.post("/api/mailings", headers=editor,
                    json={"issue": FLAGSHIP, "lists": ["tom"], "at": "2099-06-15T08:00:00+02:00"})
    assert r.status_code == 201 and r.json()["status"] == "scheduled", r.text
