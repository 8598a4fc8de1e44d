"""The web's mails take the one outbound path: planned with the sign-up, sent by the worker.

With the SMTP server down, a sign-up through the form and through the API each leave a
queued ``confirmation`` mailing; the worker's retries deliver it when the server is back,
with a confirm link that works, and ``mailer mailings`` shows it with its kind.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from mailer.cli import main
from mailer.config import Settings, load_settings
from mailer.delivery.worker import RetryPolicy, deliver_due
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Mailing, OutboxRow, OutboxStatus, Subscriber, utcnow
from mailer.web.app import create_app
from tests.admin.conftest import cheap_hashing, team, token_for  # noqa: F401 (fixtures)
from tests.conftest import TEST_SECRET
from tests.smtp_server import SmtpServer
from tests.web.conftest import BASE, csrf, subscription_status

LINK_RE = re.compile(r"https://nyhetsbrev\.example\.org/confirm/\S+")


@pytest.fixture
def down() -> Iterator[SmtpServer]:
    """An SMTP server not started yet: nothing listens on its port until ``start()``."""
    server = SmtpServer()
    yield server
    if server.controller._thread is not None:  # started by the test
        server.stop()
    else:
        server.release_port()


@pytest.fixture
def down_settings(workspace: Path, db_url: str, down: SmtpServer) -> Settings:
    # A server that refuses connections rests (the worker claims nothing meanwhile);
    # an hour's rest makes the drain below stop at once instead of waiting for it.
    return load_settings(workspace, database_url=db_url, smtp_url=down.url,
                         secret_key=TEST_SECRET, base_url=BASE, smtp_rest_seconds=3600)


def _queued(engine: Engine) -> list[tuple[str, str, str, int | None]]:
    with transaction(engine) as s:
        return [(str(m.kind), m.name, str(row.status), row.subscriber_id)
                for row, m in s.execute(select(OutboxRow, Mailing).join(
                    Mailing, Mailing.id == OutboxRow.mailing_id))]


def _deliver_when_back(engine: Engine, settings: Settings, server: SmtpServer) -> str:
    """A worker run while SMTP is down pauses and gives the row back (no attempt used);
    once the server is up and the row is due, the next run delivers it. Returns the
    mail's confirm link."""
    report = deliver_due(engine, settings, retry=RetryPolicy(base_seconds=3600))
    assert report.sent == 0 and report.failed == 0 and "cannot connect" in report.paused
    assert [status for *_, status, _sid in _queued(engine)] == [OutboxStatus.queued.value]
    server.start()
    with transaction(engine) as s:  # an hour later: the retry is due
        s.execute(update(OutboxRow).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert deliver_due(engine, settings).sent == 1
    (got,) = server.wait_for(1)
    msg = got.message
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Content-Language"] == "sv"
    assert "List-Unsubscribe" not in msg  # not list mail: a reply to the person's action
    match = LINK_RE.search(msg.get_body(("plain",)).get_content())
    assert match is not None
    return match.group(0)


def _confirm(client: TestClient, link: str) -> None:
    page = client.get(link)
    assert page.status_code == 200
    done = client.post(link, data={"csrf_token": csrf(page.text)})
    assert done.status_code == 200 and "är bekräftad" in done.text


def _new_list(engine: Engine) -> int:
    with transaction(engine) as s:
        return create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog").id


def test_form_sign_up_with_smtp_down_is_queued_and_delivered_later(
        engine: Engine, down_settings: Settings, down: SmtpServer) -> None:
    list_id = _new_list(engine)
    with TestClient(create_app(down_settings, engine=engine), base_url=BASE,
                    follow_redirects=False) as client:
        form = client.get("/subscribe/medborgardialog")
        r = client.post("/subscribe/medborgardialog",
                        data={"csrf_token": csrf(form.text), "email": "Åsa.Öberg@hylte.se"})
        assert r.status_code == 303  # answered at once: no SMTP in the request
        with transaction(engine) as s:
            sid = s.scalar(select(Subscriber.id))
        assert _queued(engine) == [("confirmation", "medborgardialog: bekräftelselänk", "queued", sid)]
        link = _deliver_when_back(engine, down_settings, down)
        _confirm(client, link)
    assert subscription_status(engine, "åsa.öberg@hylte.se", list_id) == "active"


@pytest.mark.usefixtures("team")
def test_api_sign_up_with_smtp_down_is_queued_and_delivered_later(
        engine: Engine, down_settings: Settings, down: SmtpServer) -> None:
    list_id = _new_list(engine)
    token = token_for(engine, "coordinator")
    with TestClient(create_app(down_settings, engine=engine), base_url=BASE,
                    follow_redirects=False) as client:
        r = client.post("/api/subscribers", headers={"authorization": f"Bearer {token}"},
                        json={"email": "anna.svensson@hylte.se", "list": "medborgardialog"})
        assert r.status_code == 202, r.text
        sid = r.json()["subscriber_id"]
        assert _queued(engine) == [("confirmation", "medborgardialog: bekräftelselänk", "queued", sid)]
        link = _deliver_when_back(engine, down_settings, down)
        _confirm(client, link)
    assert subscription_status(engine, "anna.svensson@hylte.se", list_id) == "active"


def test_confirmation_shows_in_mailer_mailings_without_the_address(
        engine: Engine, settings: Settings, workspace: Path, db_url: str,
        smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _new_list(engine)
    with TestClient(create_app(settings, engine=engine), base_url=BASE,
                    follow_redirects=False) as client:
        form = client.get("/subscribe/medborgardialog")
        client.post("/subscribe/medborgardialog",
                    data={"csrf_token": csrf(form.text), "email": "lisa.holm@hylte.se"})
    assert deliver_due(engine, settings).sent == 1
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setattr("sys.argv", ["mailer", "-w", str(workspace), "mailings"])
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    try:
        main()
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "medborgardialog" in x]
    assert line.split()[1:3] == ["confirmation", "done"], out
    # Named in the sign-up's language, not by the code's word for its state ("pending").
    assert "medborgardialog: bekräftelselänk" in line
    assert "lisa" not in out and "hylte" not in out  # the name carries no address


def test_access_report_lists_the_confirmation_and_erase_removes_it(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    from mailer.services import subscriptions

    _new_list(engine)
    with TestClient(create_app(settings, engine=engine), base_url=BASE,
                    follow_redirects=False) as client:
        form = client.get("/subscribe/medborgardialog")
        client.post("/subscribe/medborgardialog",
                    data={"csrf_token": csrf(form.text), "email": "asa@hylte.example"})
    with transaction(engine) as s:
        (delivery,) = subscriptions.access_report_by_email(s, "ASA@hylte.example")["deliveries"]
        assert delivery["status"] == "queued" and delivery["address"] == "asa@hylte.example"
        subscriptions.erase_by_email(s, "asa@hylte.example")
    with transaction(engine) as s:
        assert s.scalars(select(OutboxRow)).all() == []
