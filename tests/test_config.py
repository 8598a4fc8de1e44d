"""Settings: defaults, environment, mailer.toml, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.config import SmtpUrl, load_settings
from mailer.errors import ConfigError


def test_defaults(workspace: Path) -> None:
    s = load_settings(workspace)
    assert s.timezone == "Europe/Stockholm"
    assert s.language == "sv"
    assert s.db_url == f"sqlite:///{workspace.resolve() / 'mailer.db'}"
    assert s.sender.address == "nyhetsbrev@example.org"


def test_environment_wins_over_toml(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workspace / "mailer.toml").write_text(
        'language = "en"\ntimezone = "Europe/London"\nMAILER_FROM = "SKR <info@skr.example>"\n'
    )
    monkeypatch.setenv("MAILER_TIMEZONE", "Europe/Helsinki")
    s = load_settings(workspace)
    assert s.language == "en"
    assert s.timezone == "Europe/Helsinki"
    assert s.sender.name == "SKR"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("MAILER_SMTP_URL", "http://mail", "MAILER_SMTP_URL"),
        ("MAILER_SMTP_URL", "smtp://host:99999", "port"),
        ("MAILER_TIMEZONE", "Mars/Olympus", "IANA"),
        ("MAILER_LANGUAGE", "de", "MAILER_LANGUAGE"),
        ("MAILER_FROM", "not an address", "MAILER_FROM"),
        ("MAILER_BASE_URL", "/relative", "absolute"),
        ("MAILER_SECRET_KEY", "short", "16 characters"),
        ("MAILER_DATABASE_URL", "mysql://x", "sqlite"),
        ("MAILER_SMTP_CONNECTIONS", "zero", "MAILER_SMTP_CONNECTIONS"),
    ],
)
def test_bad_values_name_the_variable(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                      var: str, value: str, expected: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings(workspace)
    assert var in str(err.value)
    assert expected in str(err.value)


def test_bad_toml_names_the_file(workspace: Path) -> None:
    (workspace / "mailer.toml").write_text("language = \n")
    with pytest.raises(ConfigError, match="mailer.toml"):
        load_settings(workspace)


def test_unknown_toml_key(workspace: Path) -> None:
    (workspace / "mailer.toml").write_text('langauge = "sv"\n')
    with pytest.raises(ConfigError, match="langauge"):
        load_settings(workspace)


def test_smtp_url_forms() -> None:
    u = SmtpUrl.parse("smtps://user%40x:p%3Ass@mail.example.org")
    assert (u.host, u.port, u.username, u.password, u.use_tls) == (
        "mail.example.org", 465, "user@x", "p:ss", True)
    u = SmtpUrl.parse("smtp://relay:587?starttls=required")
    assert (u.port, u.starttls, u.use_tls) == (587, "required", False)
    assert "***" in SmtpUrl.parse("smtp://a:secret@h:25").redacted()


def test_secret_key_required_outside_demo(workspace: Path) -> None:
    with pytest.raises(ConfigError, match="MAILER_SECRET_KEY"):
        load_settings(workspace).signing_key()
    demo = load_settings(workspace, demo=True)
    key = demo.signing_key()
    assert len(key) >= 32 and demo.signing_key() == key
