"""The JSON API: Bearer tokens, role limits, pagination, one error shape, double opt-in."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Subscriber, Subscription
from tests.admin.conftest import token_for
from tests.smtp_server import SmtpServer


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _error(r) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_tokens_are_required_and_errors_have_one_shape(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    r = client.get("/api/lists")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert _error(r)["code"] == "unauthorized"
    r = client.get("/api/lists", headers=_auth("mlr_not-a-real-token"))
    assert r.status_code == 401
    r = client.get("/api/lists", headers={"authorization": "Basic eDp5"})
    assert r.status_code == 401
    token = token_for(engine, "editor")
    assert client.get("/api/lists", headers=_auth(token)).json() == []
    r = client.get("/api/nowhere", headers=_auth(token))
    assert r.status_code == 404 and _error(r)["code"] == "not_found"
    r = client.get("/api/lists/nope", headers=_auth(token))
    assert r.status_code == 404 and "no list 'nope'" in _error(r)["message"]
    r = client.get("/api/subscribers", params={"per_page": 0}, headers=_auth(token))
    assert r.status_code == 422 and _error(r)["field"] == "per_page"
    r = client.post("/api/subscribers", json={"email": "x@example.org"}, headers=_auth(token))
    assert r.status_code == 422 and _error(r)["field"] == "list"
    spec = client.get("/api/openapi.json").json()
    assert "/lists" in spec["paths"] and spec["servers"][0]["url"] == "/api"


def test_a_body_that_is_no_json_object_is_named_as_the_body(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """Not "26: JSON decode error" with the field "26": the body, what is wrong, what to do."""
    headers = {**_auth(token_for(engine, "editor")), "content-type": "application/json"}
    r = client.post("/api/subscribers", content=b'{"email": "x@example.org",', headers=headers)
    error = _error(r)
    assert r.status_code == 422 and error["field"] == "body", error
    assert error["message"] == ("the body is not valid JSON (Expecting property name enclosed "
                                "in double quotes at character 26); send one JSON object "
                                "with the header Content-Type: application/json")
    r = client.post("/api/subscribers", content=b"email=x@example.org&list=x",
                    headers={**headers, "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422 and _error(r)["field"] == "body"
    assert _error(r)["message"].startswith("the body is not a JSON object; send one JSON")
    r = client.post("/api/mailings", json=["2023-06"], headers=headers)
    assert r.status_code == 422 and _error(r)["field"] == "body"


def test_subscribe_with_double_opt_in_then_search_get_and_erase(
        client: TestClient, team: dict[str, int], engine: Engine,
        smtp_server: SmtpServer, settings: Settings) -> None:
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
    token = _auth(token_for(engine, "coordinator"))
    r = client.post("/api/subscribers", headers=token,
                    json={"email": "Anna.Svensson@Hylte.se", "list": "medborgardialog",
                          "name": "Anna Svensson"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["outcome"] == "pending"
    assert deliver_due(engine, settings).sent == 1  # queued with the sign-up; a worker sends it
    mail = smtp_server.wait_for(1)[0]
    assert mail.rcpt_tos == ["Anna.Svensson@hylte.se"]
    assert "/confirm/" in mail.message.get_body(("plain",)).get_content()
    with transaction(engine) as s:
        assert str(s.scalar(select(Subscription.status))) == "unconfirmed"
    r = client.post("/api/subscribers", headers=token,
                    json={"email": "not an address", "list": "medborgardialog"})
    assert r.status_code == 422 and _error(r)["field"] == "email"
    found = client.get("/api/subscribers", params={"q": "hylte"}, headers=token).json()
    assert found["total"] == 1 and found["items"][0]["lists"] == {"medborgardialog": "unconfirmed"}
    assert found["page"] == 1 and found["per_page"] == 50
    sid = body["subscriber_id"]
    person = client.get(f"/api/subscribers/{sid}", headers=token).json()
    assert person["subscriber"]["name"] == "Anna Svensson"
    assert client.delete(f"/api/subscribers/{sid}", headers=token).status_code == 204
    assert client.get(f"/api/subscribers/{sid}", headers=token).status_code == 404
    with transaction(engine) as s:
        assert s.scalars(select(Subscriber)).all() == []


def test_pagination(client: TestClient, team: dict[str, int], engine: Engine) -> None:
    with transaction(engine) as s:
        lst = create_list(s, "stor", "Stor lista")
        for n in range(7):
            sub = Subscriber(email=f"p{n}@example.org", email_key=f"p{n}@example.org")
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))
    token = _auth(token_for(engine, "editor"))
    pages = [client.get("/api/lists/stor/subscribers", headers=token,
                        params={"per_page": 3, "page": p}).json() for p in (1, 2, 3)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert {p["total"] for p in pages} == {7}
    emails = [i["email"] for p in pages for i in p["items"]]
    assert emails == sorted(emails) and len(set(emails)) == 7
    counts = client.get("/api/lists/stor", headers=token).json()
    assert counts["active"] == 7
    # ``after``: the next page starts after the last address of the one before; the total
    # is still every subscriber. On a list and in the search alike.
    for path, params in (("/api/lists/stor/subscribers", {"status": "active"}),
                         ("/api/subscribers", {"q": "example.org"})):
        chained: list[str] = []
        while True:
            after = {"after": chained[-1]} if chained else {}
            r = client.get(path, headers=token, params={**params, "per_page": 3, **after})
            assert r.status_code == 200 and r.json()["total"] == 7, r.text
            if not r.json()["items"]:
                break
            chained += [i["email"] for i in r.json()["items"]]
        assert chained == emails, path
    r = client.get("/api/subscribers", headers=token, params={"after": "p2@example.org",
                                                              "page": 2})
    assert r.status_code == 422 and _error(r)["field"] == "after"
    assert "either after or page" in _error(r)["message"]


def test_role_limits_on_the_api(client: TestClient, team: dict[str, int],
                                engine: Engine) -> None:
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev")
    # Everyone may read; the permission table decides the rest (see test_admin_access).
    for role in ("admin", "editor", "coordinator"):
        assert client.get("/api/lists", headers=_auth(token_for(engine, role))).status_code \
            == 200


def test_paths_the_mount_cannot_match_still_answer_json(client: TestClient) -> None:
    r = client.get("/api/lists%0Ax")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/no-such-page").headers["content-type"].startswith("text/html")
