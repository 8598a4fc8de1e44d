"""The secret key without ceremony: 'mailer init' writes it into the workspace (0600), every
command and the web app use it, the env var overrides it, and rotating it keeps the links
in mail already sent working."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mailer.config import SECRET_FILE, load_settings
from mailer.errors import ConfigError
from mailer.store.db import make_engine
from mailer.web.app import create_app
from tests.cli_support import cli_in
from tests.delivery_support import add_subscribers
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "issues" / "2023-06-nyhetsbrev-6"
BASE = "https://nyhetsbrev.example.org"


def test_init_writes_a_private_key_that_every_command_uses_and_rotation_keeps_links(
        workspace: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", smtp_server.url)
    monkeypatch.setenv("MAILER_BASE_URL", BASE)
    run = cli_in(workspace)
    with pytest.raises(ConfigError, match="mailer init"):
        load_settings(workspace).signing_key()
    out = run("init")
    key_file = workspace / SECRET_FILE
    assert "secret key generated in" in out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text().strip()
    assert len(first) >= 32
    assert "secret key generated" not in run("init")  # never replaced
    assert key_file.read_text().strip() == first

    # Send a real message with the workspace key (no MAILER_SECRET_KEY anywhere).
    engine = make_engine(load_settings(workspace).db_url)
    add_subscribers(engine, 1)
    engine.dispose()
    run("send", str(FLAGSHIP), "--list", "medborgardialog")
    assert "sent 1, failed 0" in run("worker", "--drain")
    header = str(smtp_server.wait_for(1)[0].message["List-Unsubscribe"])
    match = re.search(r"<(https://[^>]+/u/[^>]+)>", header)
    assert match is not None, header
    link = match.group(1)

    def status(url: str) -> int:
        # what 'mailer serve' runs, on the workspace's settings
        with TestClient(create_app(load_settings(workspace)), base_url=BASE) as client:
            return client.get(url).status_code

    assert status(link) == 200
    assert status(link[:-3] + "xyz") in (400, 404)  # a forged link is refused

    # Rotation: a new key signs, the old link still opens the page.
    out = run("secret", "rotate")
    assert "1 earlier key(s) still verify" in out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    settings = load_settings(workspace)
    assert settings.signing_key() != first and settings.signing_keys()[0] == first
    assert status(link) == 200

    # The environment variable overrides the file; the file's keys keep verifying.
    monkeypatch.setenv("MAILER_SECRET_KEY", "an-override-key-from-the-environment")
    settings = load_settings(workspace)
    assert settings.signing_key() == "an-override-key-from-the-environment"
    assert status(link) == 200
    # Old keys can also be listed explicitly once the file is gone.
    key_file.unlink()
    assert status(link) in (400, 404)
    monkeypatch.setenv("MAILER_OLD_SECRET_KEYS", first)
    assert status(link) == 200
    monkeypatch.setenv("MAILER_OLD_SECRET_KEYS", "short")
    with pytest.raises(ConfigError, match="MAILER_OLD_SECRET_KEYS"):
        load_settings(workspace)
