"""Subscribe form and double opt-in over HTTP, on SQLite and PostgreSQL, with real SMTP."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent
from tests.smtp_server import SmtpServer
from tests.web.conftest import (
    BASE,
    add_subscriber,
    consent_actions,
    csrf,
    deliver,
    subscription_status,
)

FORM = "/subscribe/medborgardialog"
LINK_RE = re.compile(r"https://nyhetsbrev\.example\.org/\S+")


def submit(client: TestClient, email: str, name: str = "", path: str = FORM,
           lang: str = "sv") -> tuple[object, str]:
    page = client.get(path, params={"lang": lang})
    assert page.status_code == 200
    r = client.post(f"{path}?lang={lang}", data={"csrf_token": csrf(page.text), "email": email,
                                                  "name": name})
    return r, page.text


def mail_text(msg) -> str:  # type: ignore[no-untyped-def]
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_double_opt_in_end_to_end(client: TestClient, engine: Engine, lists: dict[str, int],
                                  smtp_server: SmtpServer, settings: Settings) -> None:
    r, form_html = submit(client, "Anna.Berg@Hylte.se", "Anna Berg")
    assert r.status_code == 303
    assert r.headers["location"] == "/subscribe/medborgardialog/thanks?lang=sv"
    assert "Anna" not in r.headers["location"]  # no personal data in URLs
    thanks = client.get(r.headers["location"])
    assert "Titta i din inkorg" in thanks.text
    assert subscription_status(engine, "anna.berg@hylte.se", lists["medborgardialog"]) == \
        "unconfirmed"

    assert smtp_server.received == []  # planned in the outbox; the worker sends it
    (received,) = deliver(engine, settings, smtp_server, 1)
    msg = received.message
    assert received.rcpt_tos == ["Anna.Berg@hylte.se"]
    assert msg["Subject"] == "Bekräfta din prenumeration på Nyhetsbrev om medborgardialog"
    assert msg["Auto-Submitted"] == "auto-generated"
    link = LINK_RE.search(mail_text(msg)).group(0)  # type: ignore[union-attr]
    assert link.startswith(f"{BASE}/confirm/")
    html_part = msg.get_body(preferencelist=("html",)).get_content()
    assert link in html_part and 'lang="sv"' in html_part

    # Following the link shows a page; only its button confirms (scanners only GET).
    page = client.get(link)
    assert page.status_code == 200 and "Bekräfta prenumerationen" in page.text
    assert subscription_status(engine, "anna.berg@hylte.se", lists["medborgardialog"]) == \
        "unconfirmed"
    done = client.post(link, data={"csrf_token": csrf(page.text)})
    assert done.status_code == 200 and "är bekräftad" in done.text
    assert subscription_status(engine, "anna.berg@hylte.se", lists["medborgardialog"]) == \
        "active"

    with transaction(engine) as s:
        events = list(s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))
    assert [e.action for e in events] == ["subscribe", "confirm"]
    confirm_event = events[1]
    assert confirm_event.list_id == lists["medborgardialog"]
    assert confirm_event.ip == "testclient"
    assert confirm_event.at is not None and confirm_event.at.tzinfo is not None
    # The exact wording shown is logged, both on the form and on the confirmation page.
    assert events[0].wording and events[0].wording in form_html
    assert confirm_event.wording == events[0].wording
    assert confirm_event.wording in page.text
    assert len(confirm_event.email_hash) == 64 and "anna" not in confirm_event.email_hash

    # Confirming again changes nothing and logs nothing more.
    again = client.get(link)
    assert "redan bekräftad" in again.text
    assert len(consent_actions(engine)) == 2


def test_same_answer_whatever_the_address_state(client: TestClient, engine: Engine,
                                                lists: dict[str, int],
                                                smtp_server: SmtpServer,
                                                settings: Settings) -> None:
    lid = lists["medborgardialog"]
    add_subscriber(engine, "active@example.org", {lid: "active"})
    add_subscriber(engine, "gone@example.org", {lid: "unsubscribed"})
    add_subscriber(engine, "pending@example.org", {lid: "unconfirmed"})
    answers = []
    for email in ("new@example.org", "active@example.org", "gone@example.org",
                  "pending@example.org"):
        r, _ = submit(client, email)
        thanks = client.get(r.headers["location"])
        answers.append((r.status_code, r.headers["location"],
                        re.sub(r'value="[^"]+"', "", thanks.text)))
    assert len(set(answers)) == 1
    received = deliver(engine, settings, smtp_server, 4)
    by_rcpt = {m.rcpt_tos[0]: m.message for m in received}
    assert set(by_rcpt) == {"new@example.org", "active@example.org", "gone@example.org",
                            "pending@example.org"}
    # The active subscriber gets a harmless note, no second confirmation link.
    assert by_rcpt["active@example.org"]["Subject"].startswith("Du prenumererar redan")
    assert "/confirm/" not in mail_text(by_rcpt["active@example.org"])
    for email in ("new@example.org", "gone@example.org", "pending@example.org"):
        assert "/confirm/" in mail_text(by_rcpt[email])
        assert subscription_status(engine, email, lid) == "unconfirmed"
    assert subscription_status(engine, "active@example.org", lid) == "active"


def test_single_opt_in_is_active_at_once(client: TestClient, engine: Engine,
                                         lists: dict[str, int], smtp_server: SmtpServer,
                                         settings: Settings) -> None:
    r, _ = submit(client, "per@uppsala.se", path="/subscribe/seminarier", lang="en")
    assert r.status_code == 303
    assert subscription_status(engine, "per@uppsala.se", lists["seminarier"]) == "active"
    (received,) = deliver(engine, settings, smtp_server, 1)
    assert received.message["Subject"] == "Welcome to Seminarier och utbildningar"
    assert "/u/" in mail_text(received.message) and "/p/" in mail_text(received.message)


def test_validation_messages(client: TestClient, engine: Engine, lists: dict[str, int],
                             smtp_server: SmtpServer) -> None:
    for email, name, expect in [
        ("", "", "Ange din e-postadress."),
        ("not-an-address", "", "Ange en e-postadress i formen"),
        ("a@example.org", "x" * 201, "Namnet får vara högst 200 tecken"),
        ("a@example.org", "<script>", "Skriv ditt namn utan tecknen"),
    ]:
        r, _ = submit(client, email, name)
        assert r.status_code == 422, email
        assert expect in r.text
        assert 'aria-invalid="true"' in r.text and 'class="error-summary"' in r.text
        assert "<script>" not in r.text
    r, _ = submit(client, "", lang="en")
    assert "Enter your e-mail address." in r.text
    assert consent_actions(engine) == []
    assert smtp_server.received == []


def test_csrf_is_required(client: TestClient, engine: Engine, lists: dict[str, int],
                          smtp_server: SmtpServer, app) -> None:  # type: ignore[no-untyped-def]
    page = client.get(FORM)
    token = csrf(page.text)
    # A token from another browser (no matching cookie) is refused.
    with TestClient(app, base_url=BASE) as other:
        r = other.post(FORM, data={"csrf_token": token, "email": "x@example.org"})
        assert r.status_code == 403 and "Formuläret hade gått ut" in r.text
    r = client.post(FORM, data={"csrf_token": token + "x", "email": "x@example.org"})
    assert r.status_code == 403 and "Formuläret kunde inte tas emot" in r.text
    assert consent_actions(engine) == []


def test_embedded_snippet_lands_on_our_confirmation_form(
        client: TestClient, engine: Engine, lists: dict[str, int],
        smtp_server: SmtpServer, app) -> None:  # type: ignore[no-untyped-def]
    snippet_page = client.get("/subscribe/medborgardialog/embed")
    assert snippet_page.status_code == 200
    assert f'action="{BASE}/subscribe/medborgardialog?lang=sv"' in snippet_page.text.replace(
        "&#34;", '"').replace("&quot;", '"')
    # The snippet's POST from another site: no cookie, no token -> our page, prefilled.
    with TestClient(app, base_url=BASE, follow_redirects=False) as stranger:
        r = stranger.post(FORM, data={"email": "lisa@ornskoldsvik.se", "name": "Lisa"})
        assert r.status_code == 200
        assert 'value="lisa@ornskoldsvik.se"' in r.text and 'name="csrf_token"' in r.text
        assert consent_actions(engine) == [] and smtp_server.received == []
        r2 = stranger.post(FORM, data={"csrf_token": csrf(r.text),
                                       "email": "lisa@ornskoldsvik.se", "name": "Lisa"})
        assert r2.status_code == 303
    assert subscription_status(engine, "lisa@ornskoldsvik.se",
                               lists["medborgardialog"]) == "unconfirmed"


def test_rate_limits(client: TestClient, engine: Engine, lists: dict[str, int],
                     smtp_server: SmtpServer, settings: Settings,
                     app) -> None:  # type: ignore[no-untyped-def]
    web = app.state.web
    clock = [1000.0]
    web.monotonic = lambda: clock[0]
    # Per address: the 4th request within the hour gets the same page but no mail.
    for _ in range(4):
        r, _ = submit(client, "same@example.org")
        assert r.status_code == 303
    assert len(deliver(engine, settings, smtp_server, 3)) == 3
    # Per IP: 20 sign-ups per 10 minutes, then a friendly 429 page.
    for i in range(16):
        r, _ = submit(client, f"p{i}@example.org")
        assert r.status_code == 303
    r, _ = submit(client, "one-too-many@example.org")
    assert r.status_code == 429 and "För många försök" in r.text
    assert r.headers["retry-after"] == "600"
    assert subscription_status(engine, "one-too-many@example.org",
                               lists["medborgardialog"]) is None
    clock[0] += 601
    r, _ = submit(client, "one-too-many@example.org")
    assert r.status_code == 303


def test_unknown_and_private_lists_are_404(client: TestClient, lists: dict[str, int]) -> None:
    for path in ("/subscribe/natverk-2023", "/subscribe/nope", "/archive/natverk-2023"):
        r = client.get(path)
        assert r.status_code == 404 and "Sidan finns inte" in r.text


def test_index_lists_public_lists_only(client: TestClient, lists: dict[str, int]) -> None:
    r = client.get("/", headers={"accept-language": "en-GB,en;q=0.9,sv;q=0.5"})
    assert r.status_code == 200 and '<html lang="en">' in r.text
    assert "Nyhetsbrev om medborgardialog" in r.text and "Nätverket 2023" not in r.text
    assert '<html lang="sv">' in client.get("/").text
