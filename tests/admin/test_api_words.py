"""The API gives the API's advice, not the command line's: a service's message whose way
out is a command ("mailer suppressions remove EMAIL") or an option ("--again", "--late")
carries the API's own words (``Msg.with_api``, or ``with_web`` when the admin's fit both:
a route, a request field, or no advice where the API has no way), and the API answers
with those (``mailer.web.api.errors.api_text``), in English as before."""

from __future__ import annotations

import ast
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring.examples import FLAGSHIP
from mailer.services.lists import create_list
from mailer.store.db import transaction
from tests.admin.conftest import token_for
from tests.admin.test_admin_invitations import network  # noqa: F401 (a fixture)
from tests.admin.test_admin_mailings import ready  # noqa: F401 (a fixture)
from tests.admin.test_admin_words import CLI_WORDS, LAYERS, ROOT, allowed, messages_without
from tests.invite_helpers import SLUG

AFTER = datetime(2023, 2, 16, 9, 0, tzinfo=UTC)  # the deadline was 2023-02-15 23:59

#: Messages with the command line's advice that the API never answers with, or may answer
#: with as they are (beside ``COMMAND_LINE_ONLY``), and why.
CLI_WORDS_ALLOWED = allowed({
    # the API imports nothing: its sign-up of a suppressed address answers the outcome
    # "suppressed" (and DELETE /api/suppressions/{email} lifts it, as the docs say)
    "store/upsert.py": ("the address is on the suppression list",),
    # the admin's issue editor only
    "authoring/edit.py": ("%(path)s cannot be opened in the form",),
})


def _raised_texts() -> list[str]:
    """Messages raised as plain strings (``raise MailerError(f"…")``) with the command
    line's advice: they cannot carry the API's words (write them with ``msg()``)."""
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                        and node.exc.args
                        and isinstance(node.exc.args[0], ast.Constant | ast.JoinedStr
                                       | ast.BinOp)):
                    continue
                text = " ".join(n.value for n in ast.walk(node.exc.args[0])
                                if isinstance(n, ast.Constant) and isinstance(n.value, str))
                if CLI_WORDS.search(text) and not any(
                        ok in text for ok in CLI_WORDS_ALLOWED.get(rel, ())):
                    found.append(f"{rel}:{node.lineno}: {text[:100]}")
    return found


def _api_errors_with_cli_words() -> list[str]:
    """The API's own refusals (``ApiError(status, "…")``) that name a command or option."""
    found = []
    for path in sorted((ROOT / "web" / "api").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "ApiError" and len(node.args) > 1:
                text = " ".join(n.value for n in ast.walk(node.args[1])
                                if isinstance(n, ast.Constant) and isinstance(n.value, str))
                if CLI_WORDS.search(text):
                    found.append(f"web/api/{path.name}:{node.lineno}: {text[:100]}")
    return found


def test_every_message_with_cli_advice_has_the_apis_words() -> None:
    assert messages_without(("with_api", "with_web"), CLI_WORDS, CLI_WORDS_ALLOWED,
                            LAYERS) == [], (
        "give these the API's words with .with_api(msg(...)) (.with_web when the admin's "
        "words fit the API too), or allow them above with the reason")
    assert _raised_texts() == [], "raise these with msg(...).with_api(msg(...))"
    assert _api_errors_with_cli_words() == []


def test_the_guard_sees_cli_words_and_their_api_words() -> None:
    tree = ast.parse('a = msg("use --now").with_admin(msg("x")).with_api(msg("y"))\n'
                     'b = msg("see mailer lists")\n'
                     'c = msg("see mailer lists").with_web(msg("z"))\n')
    from tests.admin.test_admin_words import carried

    calls = {n.args[0].value: id(n) for n in ast.walk(tree)  # type: ignore[attr-defined]
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert calls["use --now"] in carried(tree, ("with_api",))
    assert calls["see mailer lists"] in carried(tree, ("with_api", "with_web"))  # c's
    assert CLI_WORDS.search("mailer suppressions remove EMAIL")
    assert CLI_WORDS.search("--include-received") and CLI_WORDS.search("'--again'")
    assert not CLI_WORDS.search("no mailer database") and not CLI_WORDS.search("a-b--c")


def _said(r) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The answer's error, checked for the command line's words."""
    error: dict[str, str] = r.json()["error"]
    assert not CLI_WORDS.search(error["message"]), error
    assert "mailer " not in error["message"], error
    return error


def test_a_resend_is_refused_with_the_apis_way(
        client: TestClient, team: dict[str, int], ready: None,  # noqa: F811
        engine: Engine) -> None:
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post("/api/mailings", json={"issue": FLAGSHIP}, headers=editor)
    assert r.status_code == 201, r.text
    r = client.post("/api/mailings", json={"issue": FLAGSHIP}, headers=editor)
    assert r.status_code == 409, r.text
    error = _said(r)
    assert error["field"] == "again"
    assert error["message"].startswith("this issue was already sent or is on its way: "
                                       "mailing 1 (")
    assert error["message"].endswith('To send it again on purpose, say so: "again": true; '
                                     'people who already got it are then left out unless '
                                     '"include_received": true')
    assert "tick" not in error["message"]  # nor the admin's words
    # The dry run says the same.
    r = client.post("/api/mailings/dry-run", json={"issue": FLAGSHIP}, headers=editor)
    assert r.status_code == 200 and '"again": true' in r.json()["refused"], r.text
    assert not CLI_WORDS.search(r.json()["refused"])


def test_a_send_to_an_empty_list_and_unknown_things_name_the_apis_routes(
        client: TestClient, team: dict[str, int], ready: None,  # noqa: F811
        engine: Engine) -> None:
    with transaction(engine) as s:
        create_list(s, "tom", "Tom lista")
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post("/api/mailings", headers=editor, json={"issue": FLAGSHIP, "lists": ["tom"]})
    assert r.status_code == 400 and _said(r)["message"] == (
        "nobody to send to: the list tom (Tom lista) has no active subscribers; nothing was "
        "planned. Add subscribers to it first (POST /api/subscribers), then send"), r.text
    r = client.post("/api/mailings", headers=editor, json={
        "issue": FLAGSHIP, "lists": ["medborgardialog"], "at": "2020-01-01T08:00:00+01:00"})
    assert r.status_code == 400 and _said(r)["message"] == (
        'the send time 2020-01-01 08:00 (Europe/Stockholm) is in the past; leave the time '
        'out (no "at") to send now'), r.text
    r = client.get("/api/mailings/99/clicks", headers=editor)
    assert r.status_code == 404 and _said(r)["message"] == (
        "no mailing 99; GET /api/mailings lists them")
    r = client.get("/api/segments/nya", headers=editor)
    assert r.status_code == 404 and _said(r)["message"] == (
        "no segment 'nya'; there are no segments yet (add one with PUT "
        "/api/segments/{name})")
    r = client.get("/api/audience", headers=editor,
                   params={"list": "medborgardialog", "where": "registered=maybe"})
    assert r.status_code == 400 and _said(r)["message"] == (
        "condition 'registered=maybe': write registered=yes or registered=no (ja/nej); it "
        "works only when sending an invitation"), r.text
    r = client.get("/api/audience", headers=editor,
                   params={"list": "medborgardialog", "where": "registered=yes"})
    assert r.status_code == 400 and _said(r)["message"] == (
        "condition 'registered=yes': 'registered' works only when sending an invitation")
    admin = {"authorization": f"Bearer {token_for(engine, 'admin')}"}
    r = client.post("/api/lists", headers=admin, json={"slug": "ny", "name": "   "})
    assert r.status_code == 400 and _said(r) == {
        "code": "bad_request", "field": "name", "message": "the name must not be empty"}
    r = client.get("/api/webhooks/7", headers=admin)
    assert r.status_code == 404 and _said(r)["message"] == (
        "no webhook endpoint with id 7; GET /api/webhooks lists them")
    r = client.get("/api/lists")  # no token: where to get one, not a command
    assert r.status_code == 401 and "/admin/account" in _said(r)["message"]


def test_no_lists_yet_names_the_apis_way_to_create_one(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.get("/api/lists/nyhetsbrev", headers=editor)
    assert r.status_code == 404 and _said(r)["message"] == (
        "no list 'nyhetsbrev'; there are no lists yet (create one with POST /api/lists)")


def test_registration_refusals_name_the_request_fields(
        client: TestClient, app: FastAPI, team: dict[str, int],
        network: dict[str, int], engine: Engine) -> None:  # noqa: F811
    coordinator = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    url = f"/api/invitations/{SLUG}/registrations"
    # The organisation's seats are taken: the API cannot free one.
    r = client.post(url, headers=coordinator, json={"email": "cecilia.claesson@hylte.se"})
    assert r.status_code == 400, r.text
    said = _said(r)["message"]
    assert said.startswith("Hylte kommun already has 2 of 2 seats (held by Anna Andersson"), said
    assert said.endswith("); one of those registrations must be cancelled or transferred "
                         "first, which the API does not do"), said
    # Someone unknown: the body's fields that add them.
    r = client.post(url, headers=coordinator, json={"email": "ny@hylte.se"})
    assert r.status_code == 404 and _said(r) == {
        "code": "not_found", "field": "email",
        "message": "no subscriber 'ny@hylte.se'; give name and organisation to add them"}
    # After the deadline: "late", not 'mailer registrations add --late'.
    app.state.web.now = lambda: AFTER
    r = client.post(url, headers=coordinator, json={"email": "ny@hylte.se", "name": "Ny",
                                                    "organisation": "Hylte kommun"})
    assert r.status_code == 400 and _said(r)["message"] == (
        "registration for 2023-natverk-tjanstepersoner closed at 2023-02-15 23:59 "
        '(Europe/Stockholm); send "late": true to register someone on purpose'), r.text
    # The reminder refused after the deadline, and the problem, say what to do.
    r = client.post(f"/api/invitations/{SLUG}/reminders", headers=coordinator, json={})
    assert r.status_code == 400 and _said(r)["message"] == (
        "cannot send reminders: the registration deadline 2023-02-15 23:59 "
        "(Europe/Stockholm) has passed. If the invitation is still open, move "
        "registration.deadline in its issue.yaml"), r.text
    problems = client.get(f"/api/issues/{SLUG}", headers=coordinator).json()["problems"]
    passed = [p["message"] for p in problems if p["field"] == "registration.deadline"]
    assert passed == ["the deadline 2023-02-15 23:59 has passed; invitations and reminders "
                      "will not be sent. If the invitation is still open, move "
                      "registration.deadline in its issue.yaml"], problems


def test_a_suppressed_sign_up_points_to_the_apis_way_to_lift_it(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """The command line says 'mailer suppressions remove EMAIL'; the API's sign-up answers
    the outcome, and its description names the API's route."""
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
    coordinator = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    r = client.post("/api/suppressions", headers=coordinator, json={"email": "bo@uppsala.se"})
    assert r.status_code == 201, r.text
    r = client.post("/api/subscribers", headers=coordinator,
                    json={"email": "bo@uppsala.se", "list": "medborgardialog"})
    assert r.status_code == 202 and r.json()["outcome"] == "suppressed", r.text
    spec = client.get("/api/openapi.json").json()["components"]["schemas"]
    described = spec["SubscribeOut"]["properties"]["outcome"]["description"]
    assert "DELETE /api/suppressions/{email}" in described and "mailer " not in described
    assert client.delete("/api/suppressions/bo@uppsala.se",
                         headers=coordinator).status_code == 204
