"""A sign-up's mail goes to the address we hold, in the language of the form the person
used, and the pages its links open speak that language too (over HTTP, real SMTP)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.config import Settings
from tests.smtp_server import SmtpServer
from tests.web.conftest import add_subscriber, deliver
from tests.web.test_subscribe import submit

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
