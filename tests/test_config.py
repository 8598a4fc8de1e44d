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
    with pytest.raises(ConfigError, match="langauge") as err:
        load_settings(workspace)
    assert "did you mean 'language'?" in str(err.value)
    assert "(or '" not in str(err.value)  # no other name to use: it is a typo


@pytest.mark.parametrize(("toml", "expected"), [
    ('from = "SKR <info@skr.example>"\n', 'MAILER_FROM = "Name <address@example.org>"'),
    ('[brand]\ncolr = "#00345c"\n', "[brand] colr in "),
    ('[brand]\ncolr = "#00345c"\n', "did you mean 'colour'?"),
    ('[brands.natverk]\nnme = "Nätverket"\n', "[brands.natverk] nme in "),
    ('[brands.natverk]\nnme = "Nätverket"\n', "did you mean 'name'?"),
])
def test_an_unknown_key_names_its_table_and_the_key_meant(workspace: Path, toml: str,
                                                          expected: str) -> None:
    """A typo in [brand] named 'brand' as the unknown setting; the sender's key (which
    keeps its MAILER_ prefix in mailer.toml) is named when 'from' is written."""
    (workspace / "mailer.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(workspace)
    assert expected in str(err.value)
    assert "unknown setting 'brand" not in str(err.value)


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


BRANDS = """
[brands.natverk]
from_address = "Nätverket <natverk@natverk.example.org>"
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('dkim_selector = "natverk 2026"',
         "[brands.natverk] dkim_selector = 'natverk 2026': a DKIM selector is letters"),
        ('dkim_selector = "n1"\ndkim_domain = "not a domain"',
         "[brands.natverk] dkim_domain = 'not a domain': must be a domain name"),
        ('dkim_key_file = "dkim/n1.pem"',
         "[brands.natverk]: dkim_key_file and dkim_domain need dkim_selector too"),
        ('dkim_selector = "n1"',
         "[brands.natverk] dkim_key_file: {ws}/dkim/n1.pem does not exist; create the key "
         "with 'mailer dkim keygen --selector n1 --domain natverk.example.org --brand "
         "natverk'"),
        ('dkim_selector = "n1"\ndkim_key_file = "keys/nat.pem"\n'
         'dkim_domain = "mail.natverk.example.org"',
         "[brands.natverk] dkim_key_file: {ws}/keys/nat.pem does not exist; create the key "
         "with 'mailer dkim keygen --selector n1 --domain mail.natverk.example.org --brand "
         "natverk'"),
    ],
)
def test_a_brands_dkim_key_is_checked_at_load(workspace: Path, extra: str,
                                              expected: str) -> None:
    (workspace / "mailer.toml").write_text(BRANDS + extra + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(workspace)
    assert expected.format(ws=workspace.resolve()) in str(err.value)


def test_the_workspace_brand_takes_no_dkim_key(workspace: Path) -> None:
    (workspace / "mailer.toml").write_text('[brand]\ndkim_selector = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[brand\]: the workspace's DKIM key is "
                                          "dkim_selector"):
        load_settings(workspace)


def test_a_brands_dkim_key_file_is_not_inherited_and_defaults(workspace: Path) -> None:
    (workspace / "dkim").mkdir()
    (workspace / "dkim" / "n1.pem").write_text("x", encoding="utf-8")
    (workspace / "mailer.toml").write_text(
        BRANDS + 'dkim_selector = "n1"\n[brands.other]\nname = "O"\n', encoding="utf-8")
    s = load_settings(workspace)
    assert s.brand_dkim_path("natverk") == workspace.resolve() / "dkim" / "n1.pem"
    assert s.brand_dkim_domain("natverk") == "natverk.example.org"
    assert s.brand_dkim_path("other") is None and s.brand_dkim_path("") is None
    assert s.brand_from_domain("other") == "example.org"  # MAILER_FROM's
