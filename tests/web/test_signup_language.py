"""A sign-up's mail goes to the address we hold, in the language of the form the person
used, and the pages its links open speak that language too (over HTTP, real SMTP)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent
from tests.smtp_server import SmtpServer
from tests.web.conftest import add_subscriber, csrf, deliver, subscription_status
from tests.web.test_subscribe import mail_text, submit

LINK_RE = re.compile(r"https://nyhetsbrev\.example\.org/\S+")


def test_the_mail_goes_to_the_address_we_hold(
        client: TestClient, engine: Engine, lists: dict[str, int], smtp_server: SmtpServer,
        settings: Settings) -> None:
    """Anna (on the seminar list) signs up for the newsletter typing her address in
    capitals: the confirmation went to "ANNA.TEST@…", every other mail to her goes to the
    address we hold."""
    add_subscriber(engine, "anna.test@hylte.se", {lists["seminarier"]: "active"},
                   language="sv")
    r, form = submit(client, "ANNA.TEST@hylte.se", lang="en")
    assert r.status_code == 303  # type: ignore[attr-defined]
    (received,) = deliver(engine, settings, smtp_server, 1)
    assert received.rcpt_tos == ["anna.test@hylte.se"]  # as every other mail to her
    assert received.message["To"] == "anna.test@hylte.se"


def test_a_swedish_subscriber_on_the_english_form(
        client: TestClient, engine: Engine, lists: dict[str, int], smtp_server: SmtpServer,
        settings: Settings) -> None:
    """Anna (Swedish, on the seminar list) signs up for the newsletter on the English form:
    the mail was English, the pages its link opened were Swedish, and the consent log held
    the Swedish wording beside the English one of the form."""
    add_subscriber(engine, "anna.test@hylte.se", {lists["seminarier"]: "active"},
                   language="sv")
    r, form = submit(client, "anna.test@hylte.se", lang="en")
    assert r.status_code == 303  # type: ignore[attr-defined]
    (received,) = deliver(engine, settings, smtp_server, 1)
    assert received.message["Subject"].startswith("Confirm your subscription")
    link = LINK_RE.search(mail_text(received.message)).group(0)  # type: ignore[union-attr]
    page = client.get(link)
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "Confirm subscription" in page.text and "Bekräfta" not in page.text
    done = client.post(link, data={"csrf_token": csrf(page.text)})
    assert done.status_code == 200 and "is confirmed" in done.text
    assert subscription_status(engine, "anna.test@hylte.se", lists["medborgardialog"]) == \
        "active"
    with transaction(engine) as s:
        wordings = [e.wording for e in s.scalars(select(ConsentEvent)
                                                 .order_by(ConsentEvent.id))]
    assert wordings[0] in form and wordings[1] == wordings[0]  # both the English one
    # what follows from the confirmed page is English too
    prefs = re.search(r'href="(https://nyhetsbrev\.example\.org/p/[^"]+)"', done.text)
    assert prefs is not None
    assert '<html lang="en">' in client.get(prefs.group(1).replace("&amp;", "&")).text
