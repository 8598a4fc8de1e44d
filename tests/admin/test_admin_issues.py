"""Admin issues: list with checks, the editor (typed items, add/move/remove saved to the
YAML), previews at two widths, test sends (a mailing of kind test) to the loopback SMTP
server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ruamel.yaml import YAML
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailer.authoring import load_document
from mailer.authoring.edit import IssueFile
from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.cli import _register
from mailer.cli import app as cli
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.web.app import create_app
from mailer.web.archive import StaticArchive
from tests.admin.conftest import BASE, EMAILS, csrf, login, post_form
from tests.conftest import TEST_SECRET
from tests.smtp_server import SmtpServer


@pytest.fixture
def flagship(settings: Settings) -> Path:
    target = settings.workspace / "issues" / FLAGSHIP
    shutil.copytree(flagship_path(), target)
    return target


def _data(folder: Path) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe").load((folder / "issue.yaml").read_text(encoding="utf-8"))


def test_round_trip_without_changes_keeps_the_file_byte_for_byte(flagship: Path) -> None:
    before = (flagship / "issue.yaml").read_text(encoding="utf-8")
    doc = IssueFile(flagship)
    form: dict[str, str] = {}

    def put(prefix: str, fields) -> None:  # type: ignore[no-untyped-def]
        for spec, vals in fields:
            for k, v in vals.items():
                if k != "file":
                    form[prefix + spec.name + (f".{k}" if k else "")] = v

    view = doc.view()
    put("", view["fields"])
    for s in view["sections"]:
        put(f"s{s['index']}-", s["fields"])
        for it in s["items"]:
            put(f"s{s['index']}-i{it['index']}-", it["fields"])
    doc.apply(form)
    doc.save()
    assert (flagship / "issue.yaml").read_text(encoding="utf-8") == before


def _full_form(doc: IssueFile) -> dict[str, str]:
    """The editor's form for ``doc`` as the page sends it, every field filled."""
    form: dict[str, str] = {}

    def put(prefix: str, fields) -> None:  # type: ignore[no-untyped-def]
        for spec, vals in fields:
            for k, v in vals.items():
                if k != "file":
                    form[prefix + spec.name + (f".{k}" if k else "")] = v

    view = doc.view()
    put("", view["fields"])
    for s in view["sections"]:
        put(f"s{s['index']}-", s["fields"])
        for it in s["items"]:
            put(f"s{s['index']}-i{it['index']}-", it["fields"])
    return form


@pytest.mark.parametrize(("key", "old", "new"), [
    ("s3-i1-title", "Medborgardialog – Skogstorpsparkens lekplats",
     "Medborgardialog om Skogstorpsparken"),
    ("subject", None, "Nyhetsbrev nr 6 om medborgardialog"),
    ("s5-i2-title", "Stärk fullmäktige – en grundutbildning", "Stärk fullmäktige: grundkurs"),
])
def test_saving_one_value_changes_only_its_bytes(flagship: Path, key: str, old: str | None,
                                                 new: str) -> None:
    """Through the same path as the editor (the whole form sent, one value changed): every
    byte before and after the changed value is as it was, comments and blank lines too."""
    path = flagship / "issue.yaml"
    before = path.read_bytes()
    doc = IssueFile(flagship)
    form = _full_form(doc)
    old = old or form[key]
    assert form[key] == old and old.encode() in before
    form[key] = new
    doc.apply(form)
    doc.save()
    after = path.read_bytes()
    start = before.index(old.encode())
    assert before.count(old.encode()) == 1
    # Everything up to the value, and everything after the line it is on, is unchanged.
    assert after[:start] == before[:start]
    rest = before[before.index(b"\n", start):]
    assert after.endswith(rest)
    line = after[start:len(after) - len(rest)].decode()
    assert new in line and "\n" not in line, line
    assert after.count(b"#") == before.count(b"#") and after.count(b"\n\n") == \
        before.count(b"\n\n")


def test_issue_list_shows_checks(client: TestClient, team: dict[str, int], flagship: Path,
                                 settings: Settings) -> None:
    broken = settings.workspace / "issues" / "2023-09-nyhetsbrev-7"
    broken.mkdir()
    (broken / "issue.yaml").write_text("kind: newsletter\nname: X\nnumber: 7\nyear: 2023\n"
                                       "sections: []\n", encoding="utf-8")
    login(client, EMAILS["coordinator"])
    page = client.get("/admin/issues")
    assert page.status_code == 200
    assert "Delaktighetstrappan" in page.text and "2023-09-nyhetsbrev-7" in page.text
    editor = client.get("/admin/issues/2023-09-nyhetsbrev-7")
    assert "Ämnesrad: måste fyllas i; lägg till subject:" in editor.text  # Swedish, by label
    assert "is required" not in editor.text
    assert 'href="#subject"' in editor.text
    # Coordinators may look but not edit or send.
    assert 'id="editor"' not in editor.text
    assert "får inte skicka nyhetsbrev" in editor.text
    r = client.post("/admin/issues/2023-09-nyhetsbrev-7",
                    data={"csrf_token": csrf(editor.text), "action": "save"})
    assert r.status_code == 403
    r = client.post(f"/admin/issues/{FLAGSHIP}/test",
                    data={"csrf_token": csrf(editor.text), "addresses": "a@example.org"})
    assert r.status_code == 403


def test_a_date_that_is_no_date_opens_in_the_form_with_its_error(
        client: TestClient, team: dict[str, int], flagship: Path) -> None:
    # "date: 2023-13-16" typed in a text editor looks like a YAML timestamp but is none:
    # the issue's page was a 500 (ruamel's ValueError); `mailer issue check` named it.
    path = flagship / "issue.yaml"
    text = path.read_text(encoding="utf-8")
    assert "        date: 2023-06-16\n" in text
    path.write_text(text.replace("        date: 2023-06-16\n", "        date: 2023-13-16\n", 1),
                    encoding="utf-8")
    login(client, EMAILS["editor"])
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    assert page.status_code == 200, page.text[-2000:]
    assert "&#39;2023-13-16&#39; är inget datum" in page.text
    assert 'id="editor"' in page.text  # the form opens: the date can be fixed there


def test_compose_an_issue_from_typed_items(client: TestClient, team: dict[str, int],
                                           flagship: Path, settings: Settings) -> None:
    login(client, EMAILS["editor"])
    r = post_form(client, "/admin/issues", "/admin/issues/new",
                  {"title": "Nyhetsbrev om dialog"})
    assert r.status_code == 303
    name = r.headers["location"].split("/admin/issues/")[1].split("?")[0]
    assert re.fullmatch(r"\d{4}-nr\d{2}-[a-z]+", name), name  # year, number, month: sorts
    folder = settings.workspace / "issues" / name
    page = client.get(f"/admin/issues/{name}")
    token = csrf(page.text)
    # Add an event to the first section; its required fields are empty, so it shows problems.
    r = client.post(f"/admin/issues/{name}", data={"csrf_token": token, "action": "add:0",
                                                    "add-type-0": "event"})
    assert r.status_code == 303 and r.headers["location"].endswith("#s0-i1")
    page = client.get(f"/admin/issues/{name}")
    assert "måste fyllas i" in page.text
    assert "fortfarande exempeltexten" in page.text  # the scaffold's intro is flagged
    # Fill it in, move it to the top, remove the scaffold's placeholder report.
    fields = {"csrf_token": token, "s0-i1-title": "Seminarium om medborgarbudget",
              "s0-i1-date": "2030-06-16", "s0-i1-start": "10.00", "s0-i1-end": "12:00",
              "s0-i1-online": "Zoom", "s0-i1-cost": "free",
              "s0-i1-summary": "Rad ett.\n\nRad **två**.",
              "s0-i1-link.url": "https://skr.se/kalender/seminarium", "s0-i1-link.text": "Anmälan",
              "s0-i1-registration_required": "1", "intro": "Välkommen till numret.",
              "action": "up:0:1"}
    r = client.post(f"/admin/issues/{name}", data=fields)
    assert r.status_code == 303 and r.headers["location"].endswith("#s0-i0")
    r = client.post(f"/admin/issues/{name}", data={"csrf_token": token, "action": "remove:0:1"})
    assert r.status_code == 303
    data = _data(folder)
    items = data["sections"][0]["items"]
    assert [i["type"] for i in items] == ["event"]
    event = items[0]
    assert event["title"] == "Seminarium om medborgarbudget"
    assert str(event["date"]) == "2030-06-16" and event["registration_required"] is True
    assert event["link"] == {"url": "https://skr.se/kalender/seminarium", "text": "Anmälan"}
    assert event["summary"] == "Rad ett.\n\nRad **två**.\n"
    loaded = load_document(folder)
    assert loaded.errors == [], loaded.errors
    # Previews at both widths render the saved content; the text part too.
    page = client.get(f"/admin/issues/{name}")
    assert 'width="640"' in page.text and 'width="375"' in page.text
    html = client.get(f"/admin/issues/{name}/preview.html")
    assert html.status_code == 200 and "Seminarium om medborgarbudget" in html.text
    assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
    assert html.headers["x-frame-options"] == "SAMEORIGIN"
    text = client.get(f"/admin/issues/{name}/preview.txt").text
    assert "Seminarium om medborgarbudget" in text
    assert "frame-src 'self'" in page.headers["content-security-policy"]


def test_autosave_answers_with_the_problems(client: TestClient, team: dict[str, int],
                                            flagship: Path, engine: Engine) -> None:
    from mailer.services.lists import create_list
    from mailer.store.db import transaction

    with transaction(engine) as s:  # the issue's list: its only error is the title
        create_list(s, "medborgardialog", "Medborgardialog", language="sv")
    login(client, EMAILS["editor"])
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    r = client.post(f"/admin/issues/{FLAGSHIP}", headers={"accept": "application/json"},
                    data={"csrf_token": csrf(page.text), "s0-i0-title": "",
                          "s0-i1-link.url": "http://skr.se/x", "s0-i1-link.text": "x"})
    body = r.json()
    assert body["saved"] and body["errors"] == 1
    problems = {p["anchor"]: p["severity"] for p in body["problems"]}
    assert problems["s0-i0-title"] == "error" and problems["s0-i1-link"] == "warning"


def test_test_send_is_a_test_mailing_the_worker_delivers(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    login(client, EMAILS["editor"])
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/test",
                  {"addresses": "anna@example.org, bo@example.org"})
    assert r.status_code == 303, r.text
    assert "done=test-queued" in r.headers["location"]  # queued, not sent
    # Queued in the outbox like any mailing: it shows in `mailer mailings` with its kind.
    assert smtp_server.received == []
    for key, value in (("MAILER_DATABASE_URL", settings.db_url),
                       ("MAILER_SMTP_URL", smtp_server.url),
                       ("MAILER_SECRET_KEY", TEST_SECRET)):
        monkeypatch.setenv(key, value)
    _register()
    listed = CliRunner().invoke(cli, ["--workspace", str(settings.workspace), "mailings"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if " test " in line)
    assert row.split()[1:3] == ["test", "sending"], row
    assert "anna@example.org, bo@example.org" in row and "queued 2" in listed.output
    # The issue page lists it among the issue's mailings.
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    assert "[TEST] Nyhetsbrev nr 6" in page.text and "anna@example.org" in page.text
    # Its name is the addresses and the subject, no English "to " on a Swedish page.
    assert "anna@example.org, bo@example.org: [TEST] Nyhetsbrev nr 6" in page.text
    assert "to anna@example.org" not in page.text
    report = deliver_due(engine, settings)
    assert report.sent == 2
    got = smtp_server.wait_for(2)
    assert sorted(x.rcpt_tos[0] for x in got) == ["anna@example.org", "bo@example.org"]
    msg = got[0].message
    assert str(msg["Subject"]).startswith("[TEST] Nyhetsbrev nr 6 år 2023")
    assert msg.get_body(("html",)) is not None and msg.get_body(("plain",)) is not None
    assert msg["List-Unsubscribe"] is None  # a test names no list and unsubscribes nobody
    listed = CliRunner().invoke(cli, ["--workspace", str(settings.workspace), "mailings"])
    row = next(line for line in listed.output.splitlines() if " test " in line)
    assert row.split()[1:3] == ["test", "done"], row
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/test",
                  {"addresses": "not an address"})
    assert r.status_code == 400 and "inte e-postadresser: not, an, address" in r.text


def test_a_test_to_a_suppressed_address_is_refused_beside_the_field(
        client: TestClient, team: dict[str, int], flagship: Path, engine: Engine) -> None:
    # Planning leaves a suppressed address out; "test sent" would then be a false promise.
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from mailer.store import suppressions
    from mailer.store.db import transaction
    from mailer.store.models import Mailing, SuppressionReason

    with transaction(engine) as s:
        suppressions.suppress(s, "bo@example.org", SuppressionReason.complaint,
                              now=datetime.now(UTC))
    login(client, EMAILS["editor"])
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/test",
                  {"addresses": "anna@example.org, bo@example.org"})
    assert r.status_code == 400, r.text
    assert ("bo@example.org (klagomål) är spärrad och får ingen e-post, inte heller test; "
            "ta bort spärren under Spärrar") in r.text
    assert 'value="anna@example.org, bo@example.org"' in r.text  # the input is kept
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Mailing)) == 0


def test_under_mailer_serve_a_test_arrives_without_a_worker(
        settings: Settings, engine: Engine, team: dict[str, int], flagship: Path,
        smtp_server: SmtpServer) -> None:
    app = create_app(settings, engine=engine, archive=StaticArchive(), deliver=True)
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        login(client, EMAILS["editor"])
        r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/test",
                      {"addresses": "anna@example.org"})
        assert r.status_code == 303, r.text
        got = smtp_server.wait_for(1)
    assert got[0].rcpt_tos == ["anna@example.org"]
    assert str(got[0].message["Subject"]).startswith("[TEST] ")


def test_names_cannot_leave_the_issues_folder(client: TestClient, team: dict[str, int],
                                              flagship: Path) -> None:
    login(client, EMAILS["admin"])
    for path in ("/admin/issues/..%2F..%2Fetc", "/admin/issues/.hidden",
                 f"/admin/issues/{FLAGSHIP}/media/..%2Fissue.yaml",
                 f"/admin/issues/{FLAGSHIP}/media/issue.yaml"):
        assert client.get(path).status_code == 404, path


def test_a_stale_form_never_overwrites_newer_files(client: TestClient, team: dict[str, int],
                                                    flagship: Path) -> None:
    login(client, EMAILS["editor"])
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    version = page.text.split('name="version" value="')[1].split('"')[0]
    yaml = flagship / "issue.yaml"
    yaml.write_text(yaml.read_text(encoding="utf-8").replace(
        "Delaktighetstrappan\n", "Delaktighetstrappan (ny)\n"), encoding="utf-8")
    r = client.post(f"/admin/issues/{FLAGSHIP}", data={
        "csrf_token": csrf(page.text), "version": version, "s0-i0-title": "Gammal rubrik"})
    assert r.status_code == 409 and "sparades inte" in r.text
    assert "Delaktighetstrappan (ny)" in yaml.read_text(encoding="utf-8")
    r = client.post(f"/admin/issues/{FLAGSHIP}", headers={"accept": "application/json"},
                    data={"csrf_token": csrf(page.text), "version": version,
                          "s0-i0-title": "Gammal rubrik"})
    assert r.status_code == 409 and r.json()["conflict"] is True


def test_editor_checks_lists_against_the_workspace_as_issue_check_does(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine) -> None:
    """A name in lists: that is none of the workspace's lists is an error on the issue's
    page and in the autosave's answer (services.issues.check_issue, as 'mailer issue
    check'), in the reader's language, not first when the issue is sent."""
    from mailer.services.lists import create_list
    from mailer.store.db import transaction

    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Medborgardialog", language="sv")
    text = (flagship / "issue.yaml").read_text(encoding="utf-8")
    assert "\nlists: [medborgardialog]\n" in text
    (flagship / "issue.yaml").write_text(text.replace(
        "\nlists: [medborgardialog]\n", "\nlists: [medborgardialog, finns-inte]\n"),
        encoding="utf-8")
    login(client, EMAILS["editor"])
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    assert ("Listor: listan &#39;finns-inte&#39; finns inte; befintliga listor: "
            "medborgardialog</a>") in page.text, page.text
    assert "medborgardialog&#39; finns inte" not in page.text
    r = client.post(f"/admin/issues/{FLAGSHIP}", headers={"accept": "application/json"},
                    data={"csrf_token": csrf(page.text)})
    body = r.json()
    assert body["saved"] and body["errors"] == 1, body
    [error] = [p for p in body["problems"] if p["severity"] == "error"]
    assert error["anchor"] == "lists"
    assert error["text"].startswith("Listor: listan 'finns-inte' finns inte"), error
    # the same check as the command line's
    _register()
    r = CliRunner().invoke(cli, ["--workspace", str(settings.workspace), "issue", "check",
                                 str(flagship), "--today", "2023-06-01"],
                           env={"MAILER_DATABASE_URL": settings.db_url,
                                "MAILER_SECRET_KEY": TEST_SECRET})
    assert r.exit_code == 1 and "lists: no list 'finns-inte'" in r.output, r.output


def test_lists_are_checked_everywhere_and_beside_other_errors(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine) -> None:
    """One check (services.issues.check_issue) on the issue list, the issue's page, the
    API's issue and its list of issues, and the command line; an unknown list is found
    also when the issue has other errors (it was checked only once those were fixed, so
    the editor met it in a second round, and the list and the API never found it)."""
    from mailer.services.lists import create_list
    from mailer.store.db import transaction
    from tests.admin.conftest import token_for

    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Medborgardialog", language="sv")
    yaml = flagship / "issue.yaml"
    text = yaml.read_text(encoding="utf-8")
    assert "\nlists: [medborgardialog]\n" in text and "\nnumber: 6\n" in text
    yaml.write_text(text.replace("\nlists: [medborgardialog]\n", "\nlists: [finns-inte]\n")
                    .replace("\nnumber: 6\n", "\nnumber: sex\n"), encoding="utf-8")
    unknown = "no list 'finns-inte'; known lists: medborgardialog"

    _register()

    r = CliRunner().invoke(cli, ["--workspace", str(settings.workspace), "issue", "check",
                                 str(flagship), "--today", "2023-06-01"],
                           env={"MAILER_DATABASE_URL": settings.db_url,
                                "MAILER_SECRET_KEY": TEST_SECRET})
    assert r.exit_code == 1 and f"lists: {unknown}" in r.output, r.output
    assert "number" in r.output  # the other error, in the same round

    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    detail = client.get(f"/api/issues/{FLAGSHIP}", headers=editor)
    assert detail.status_code == 200, detail.text
    fields = {p["field"]: p["message"] for p in detail.json()["problems"]
              if p["severity"] == "error"}
    assert fields.get("lists") == unknown and "number" in fields, fields
    [listed] = [i for i in client.get("/api/issues", headers=editor).json()
                if i["name"] == FLAGSHIP]
    assert listed["errors"] == len(fields) == 2, listed

    login(client, EMAILS["editor"], lang="en")
    page = client.get("/admin/issues")
    row = page.text.split(f"<code>{FLAGSHIP}</code>")[1].split("</tr>")[0]
    assert "2 errors" in row and "<td>finns-inte</td>" in row, row
