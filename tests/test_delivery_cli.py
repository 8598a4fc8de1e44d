"""The deliver CLI and the catcher, end to end on a real workspace."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailer.cli import _register, app
from mailer.config import load_settings
from mailer.delivery.catcher import Catcher
from mailer.store.db import make_engine, upgrade
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "issues" / "2023-06-nyhetsbrev-6"


@pytest.fixture
def catcher(tmp_path: Path) -> Catcher:
    c = Catcher(tmp_path / "Maildir", smtp_port=0, web_port=0).start()
    yield c
    c.stop()


def test_send_flagship_to_catcher_and_read_it_on_the_web(
        workspace: Path, catcher: Catcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAILER_SMTP_URL", catcher.smtp_url)
    settings = load_settings(workspace)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    add_subscribers(engine, 25)
    _register()
    run = CliRunner().invoke
    ws = ["--workspace", str(workspace)]
    r = run(app, [*ws, "send", str(FLAGSHIP), "--list", "medborgardialog"])
    assert r.exit_code == 0, r.output
    assert "queued for 25 recipients" in r.output
    r = run(app, [*ws, "worker", "--drain"])
    assert r.exit_code == 0, r.output
    assert "sent 25, failed 0" in r.output
    r = run(app, [*ws, "mailings"])
    assert "done" in r.output and "25" in r.output
    assert catcher.received == 25
    page = urllib.request.urlopen(catcher.web_url).read().decode()
    assert "Nyhetsbrev nr 6" in page and page.count("/m/") == 25
    key = page.split('href="/m/', 1)[1].split('"', 1)[0]
    msg = urllib.request.urlopen(catcher.web_url + "m/" + key).read().decode()
    assert "List-Unsubscribe" in msg and "<iframe sandbox" in msg
    with urllib.request.urlopen(catcher.web_url + f"m/{key}/html") as resp:
        assert resp.headers["Content-Security-Policy"].startswith("sandbox")
        assert "Delaktighetstrappan" in resp.read().decode()
    r = run(app, [*ws, "pause", "1"])
    assert r.exit_code != 0 and "only a sending or scheduled" in str(r.exception or r.output)
    engine.dispose()


def test_send_at_time_in_the_past_is_refused(workspace: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    engine = make_engine(load_settings(workspace).db_url)
    upgrade(engine)
    add_subscribers(engine, 1)
    _register()
    r = CliRunner().invoke(app, ["--workspace", str(workspace), "send", str(FLAGSHIP),
                                 "--list", "medborgardialog", "--at", "2020-01-01 08:00"])
    assert r.exit_code != 0 and "in the past" in str(r.exception)
    r = CliRunner().invoke(app, ["--workspace", str(workspace), "send", str(FLAGSHIP),
                                 "--list", "medborgardialog", "--at", "soon"])
    assert "is not a date and time" in str(r.exception)
    engine.dispose()
    assert os.environ["MAILER_SECRET_KEY"] == TEST_SECRET


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_taken_port_is_named_with_the_way_out(workspace: Path, catcher: Catcher,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """'cannot listen on 127.0.0.1 ([Errno 98] …)' named neither the port nor which of the
    two it was."""
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    _register()
    web_port = int(catcher.web_url.rsplit(":", 1)[1].strip("/"))
    for args, said in (
            (["--smtp-port", str(catcher.smtp_port), "--web-port", str(_free_port())],
             f"cannot listen for SMTP on 127.0.0.1:{catcher.smtp_port}: address already in "
             "use. Another program (perhaps another 'mailer catcher') uses that port: stop "
             "it, or choose another port with --smtp-port PORT (and MAILER_SMTP_URL to "
             "match)"),
            (["--smtp-port", str(_free_port()), "--web-port", str(web_port)],
             f"cannot listen for the web page on 127.0.0.1:{web_port}: address already in "
             "use. Another program (perhaps another 'mailer catcher') uses that port: stop "
             "it, or choose another port with --web-port PORT")):
        r = CliRunner().invoke(app, ["--workspace", str(workspace), "catcher", *args])
        assert r.exit_code != 0 and str(r.exception) == said
