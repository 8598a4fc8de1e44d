"""Admin lists and subscribers: counts, search, CSV import with its report, export,
GDPR access and erasure."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent, Subscriber
from tests.admin.conftest import EMAILS, csrf, login, post_form

CSV = ("e-post;namn;kommun\n"
       "anna.svensson@hylte.se;Anna Svensson;Hylte kommun\n"
       "bo@uppsala.se;Bo Ek;Uppsala kommun\n"
       "inte-en-adress;Fel Person;Hylte kommun\n"
       "ANNA.svensson@hylte.se;Anna igen;Hylte kommun\n")


def _list(engine: Engine) -> None:
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")


def _import(client: TestClient, dry_run: bool = False):  # type: ignore[no-untyped-def]
    page = client.get("/admin/lists/medborgardialog")
    data = {"csrf_token": csrf(page.text)}
    if dry_run:
        data["dry_run"] = "1"
    return client.post("/admin/lists/medborgardialog/import", data=data,
                       files={"file": ("medlemmar.csv", CSV.encode("utf-8"), "text/csv")})


def test_import_shows_the_report_and_the_rejected_rows(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    _list(engine)
    login(client, EMAILS["coordinator"])
    r = _import(client, dry_run=True)
    assert "Provkörning: ingenting sparades." in r.text
    with transaction(engine) as s:
        assert s.scalars(select(Subscriber)).all() == []
    r = _import(client)
    assert r.status_code == 422  # some rows rejected, the rest imported
    assert "4 rader lästes från ”medlemmar.csv”" in r.text
    assert "<dt>Importerade</dt><dd>2 personer (2 nya i databasen)</dd>" in r.text
    assert "<li>”kommun” → organisation</li>" in r.text
    assert ("<tr><td>5</td><td>dubblett av rad 2 (samma adress; stora och små bokstäver "
            "spelar ingen roll)</td></tr>") in r.text
    assert "/tmp" not in r.text
    link = r.text.split('href="/admin/lists/medborgardialog/import/')[1].split('"')[0]
    rejected = client.get(f"/admin/lists/medborgardialog/import/{link}")
    assert rejected.status_code == 200 and "inte-en-adress" in rejected.text
    # Counts, search, export.
    page = client.get("/admin/lists/medborgardialog")
    assert "anna.svensson@hylte.se" in page.text and "bo@uppsala.se" in page.text
    found = client.get("/admin/subscribers", params={"q": "uppsala"})
    assert "bo@uppsala.se" in found.text and "anna.svensson" not in found.text
    csv = client.get("/admin/lists/medborgardialog/export.csv", params={"excel": "1"})
    assert csv.text.startswith("\ufeffemail;name;organisation")
    assert "Bo Ek;Uppsala kommun" in csv.text
    # A status the export does not know (an edited link): named, in Swedish; was the
    # CLI's English "--status must be one of …".
    bad = client.get("/admin/lists/medborgardialog/export.csv", params={"status": "aktiva"})
    assert bad.status_code == 400
    assert ("tillståndet (status) &#39;aktiva&#39; går inte att exportera; välj ett av "
            "active, unconfirmed, unsubscribed, all") in bad.text, bad.text
    assert "--status" not in bad.text and "must be" not in bad.text


def test_gdpr_export_and_erase_with_confirmation(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    _list(engine)
    login(client, EMAILS["editor"])
    _import(client)
    with transaction(engine) as s:
        bo = s.scalar(select(Subscriber).where(Subscriber.email_key == "bo@uppsala.se"))
        assert bo is not None
        bo_id = bo.id
    data = client.get(f"/admin/subscribers/{bo_id}/data.json")
    assert json.loads(data.text)["subscriber"]["name"] == "Bo Ek"
    r = post_form(client, f"/admin/subscribers/{bo_id}", f"/admin/subscribers/{bo_id}/erase", {})
    assert r.status_code == 303 and "confirm_erase=1" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "Det går inte att ångra" in page.text
    r = client.post(f"/admin/subscribers/{bo_id}/erase",
                    data={"csrf_token": csrf(page.text), "confirm": "erase"})
    assert r.status_code == 303
    with transaction(engine) as s:
        assert s.get(Subscriber, bo_id) is None
        assert s.scalar(select(ConsentEvent).where(ConsentEvent.action == "erase")).source \
            == f"admin:{EMAILS['editor']}"
    assert client.get(f"/admin/subscribers/{bo_id}").status_code == 404


def test_create_list(client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["admin"])
    r = post_form(client, "/admin/lists", "/admin/lists",
                  {"slug": "Bad Slug", "name": "x"})
    assert r.status_code == 422 and "går inte att använda" in r.text  # Swedish
    r = post_form(client, "/admin/lists", "/admin/lists",
                  {"slug": "seminarier", "name": "Seminarier", "public": "1"})
    assert r.headers["location"].startswith("/admin/lists/seminarier")
    assert "Seminarier" in client.get("/admin/lists").text


def _rejected_file(client: TestClient, r) -> str:  # type: ignore[no-untyped-def]
    link = r.text.split('href="/admin/lists/medborgardialog/import/')[1].split('"')[0]
    rejected = client.get(f"/admin/lists/medborgardialog/import/{link}")
    assert rejected.status_code == 200
    return rejected.text


def test_the_rejected_rows_file_is_in_the_readers_language(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    _list(engine)
    login(client, EMAILS["coordinator"])  # Swedish by default
    lines = _rejected_file(client, _import(client, dry_run=True)).splitlines()
    assert lines[0] == "e-post;namn;kommun;rad;orsak"
    assert lines[1] == ("inte-en-adress;Fel Person;Hylte kommun;4;ogiltig e-postadress "
                        "'inte-en-adress': En e-postadress måste ha ett @.")
    assert lines[2].endswith(';5;"dubblett av rad 2 (samma adress; stora och små bokstäver '
                             'spelar ingen roll)"')
    client.get("/admin/lists/medborgardialog?lang=en")
    lines = _rejected_file(client, _import(client, dry_run=True)).splitlines()
    assert lines[0] == "e-post;namn;kommun;line;reason"
    assert lines[1].endswith(";4;invalid e-mail address 'inte-en-adress': An email address "
                             "must have an @-sign.")


def test_the_corrected_rejected_rows_import_without_line_and_reason(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """The rejected file's own columns (rad, orsak) are no attributes of the people on it."""
    _list(engine)
    login(client, EMAILS["coordinator"])
    rejected = _rejected_file(client, _import(client))
    fixed = rejected.replace("inte-en-adress;", "fel.person@hylte.se;", 1)
    page = client.get("/admin/lists/medborgardialog")
    r = client.post("/admin/lists/medborgardialog/import",
                    data={"csrf_token": csrf(page.text)},
                    files={"file": ("medlemmar.rejected.csv", fixed.encode("utf-8"),
                                    "text/csv")})
    assert "<dt>Importerade</dt><dd>1 person (1 ny i databasen)</dd>" in r.text, r.text
    assert "<li>”rad” → " not in r.text
    with transaction(engine) as s:
        person = s.scalars(select(Subscriber).where(
            Subscriber.email == "fel.person@hylte.se")).one()
        assert person.attributes in ({}, None), person.attributes


def test_counts_on_the_list_page_and_dashboard_agree_in_number(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """"1 aktiv prenumerant", "0 obekräftade": not "52 aktiv" under a count."""
    _list(engine)
    login(client, EMAILS["coordinator"])
    _import(client)  # two people
    page = client.get("/admin/lists/medborgardialog").text
    assert ('<span class="n">2</span>aktiva prenumeranter</div>' in page
            and '<span class="n">0</span>obekräftade prenumeranter</div>' in page
            and '<span class="n">0</span>avregistrerade personer</div>' in page), page
    assert "2 träffar" in page
    one = client.get("/admin/lists/medborgardialog", params={"q": "uppsala"}).text
    assert "1 träff ·" in one or "1 träff<" in one, one
    assert "<span class=\"n\">2</span> aktiva prenumeranter" in client.get("/admin").text
    english = client.get("/admin/lists/medborgardialog?lang=en").text
    assert '<span class="n">0</span>unsubscribed people</div>' in english


def test_a_file_the_import_cannot_use_comes_back_beside_the_file_field(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """No e-mail column, an empty file: the list's page again (not an error page) with the
    reason in Swedish beside the file field, the accepted names' fields in Swedish too."""
    from tests.admin.test_admin_swedish import english_words

    _list(engine)
    login(client, EMAILS["coordinator"])
    page = client.get("/admin/lists/medborgardialog")
    for content in (b"namn;kommun\nAnna;Hylte kommun\n", b""):
        r = client.post("/admin/lists/medborgardialog/import",
                        data={"csrf_token": csrf(page.text)},
                        files={"file": ("medlemmar.csv", content, "text/csv")})
        assert r.status_code == 422, r.text
        assert 'aria-describedby="file-error"' in r.text and 'id="file-error"' in r.text
        assert "Importera från CSV" in r.text and "Nyhetsbrev om medborgardialog" in r.text
        error = r.text.split('id="file-error" role="alert">')[1].split("</p>")[0]
        assert error.startswith("medlemmar.csv: "), error
        wording = error.split("Godtagna namn")[0]  # the names accepted are data
        assert english_words(f"<p>{wording}</p>")[0] == set(), error
        assert "(or " not in error and "sv or en" not in error and "name:" not in error
    assert "rubrikraden har ingen kolumn för e-post" in client.post(
        "/admin/lists/medborgardialog/import", data={"csrf_token": csrf(page.text)},
        files={"file": ("medlemmar.csv", b"namn\nAnna\n", "text/csv")}).text
    r = client.post("/admin/lists/medborgardialog/import",
                    data={"csrf_token": csrf(page.text)},
                    files={"file": ("x.csv", b"namn\nAnna\n", "text/csv")})
    assert "språk: language, språk (sv eller en)" in r.text.replace("&#39;", "'")


def test_the_subscribers_page_shows_local_times_and_swedish_words(
        client: TestClient, team: dict[str, int], engine: Engine, settings) -> None:  # type: ignore[no-untyped-def]
    """Its times were the report's UTC text (an hour off beside every other admin time),
    its consent log said "import"/"confirm", its language "sv"."""
    from datetime import UTC, datetime

    _list(engine)
    login(client, EMAILS["editor"])
    _import(client)
    when = datetime(2023, 6, 15, 6, 30, tzinfo=UTC)  # 08:30 in Stockholm
    with transaction(engine) as s:
        bo = s.scalar(select(Subscriber).where(Subscriber.email_key == "bo@uppsala.se"))
        assert bo is not None
        bo_id = bo.id
        for event in s.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == bo.id)):
            event.at = when
        for sub in bo.subscriptions:
            sub.updated_at = when
    page = client.get(f"/admin/subscribers/{bo_id}").text
    local = when.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    assert local != "2023-06-15 06:30" and f"<td>{local}</td>" in page, page
    assert "2023-06-15 06:30" not in page
    assert "<td>importerad</td>" in page and "<dd>svenska</dd>" in page
    # The mail sent to them in a table of its own, not in the JSON of other data.
    assert 'id="deliveries"' in page and "deliveries&#34;" not in page
    # Where a subscription or consent came from, in words ("import:medlemmar.csv",
    # "one-click" were the stored keys).
    assert "<td>importerad: medlemmar.csv</td>" in page and "import:" not in page
    from mailer.services.subscriptions import unsubscribe_everywhere

    with transaction(engine) as s:
        unsubscribe_everywhere(s, bo_id, now=when, ip=None, source="one-click")
    page = client.get(f"/admin/subscribers/{bo_id}").text
    assert "<td>avregistrering med ett klick</td>" in page and "one-click" not in page


def test_an_unknown_subscriber_or_mailing_is_refused_in_swedish(
        client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["editor"])
    r = client.get("/admin/subscribers/999999")
    assert r.status_code == 404 and "personen finns inte (raderad, eller så är länken fel)" \
        in r.text and "no such subscriber" not in r.text
    r = client.get("/admin/mailings/99999")
    assert r.status_code == 404 and "utskicket 99999 finns inte" in r.text, r.text
