"""Branding from mailer.toml: the workspace's organisation name, logo, colours and footer
address in every mail and on the public pages, and a named brand per newsletter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring import load_document
from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import load_settings
from mailer.domain.brand import contrast
from mailer.errors import ConfigError, MailerError
from mailer.render.documents import options_for, render_document
from mailer.web.app import create_app
from mailer.web.archive import StaticArchive
from tests.conftest import TEST_SECRET

TOML = """
[brand]
name = "Sveriges Kommuner och Regioner"
logo = "skr-logo.png"
colour = "#00345C"
footer_address = "SKR, 118 82 Stockholm"

[brands.natverk]
name = "Nätverket för förtroendevalda"
colour = "#5B2A86"
"""
# A 1×1 PNG.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture
def branded(workspace: Path, db_url: str) -> Path:
    (workspace / "mailer.toml").write_text(TOML, encoding="utf-8")
    (workspace / "brand").mkdir()
    (workspace / "brand" / "skr-logo.png").write_bytes(PNG)
    shutil.copytree(flagship_path(), workspace / "issues" / FLAGSHIP)
    return workspace


def _render(workspace: Path, db_url: str) -> tuple[str, str]:
    settings = load_settings(workspace, database_url=db_url, secret_key=TEST_SECRET,
                             base_url="https://nyhetsbrev.example.org")
    folder = workspace / "issues" / FLAGSHIP
    loaded = load_document(folder)
    assert loaded.ok, loaded.problems
    r = render_document(loaded.document, loaded.kind, options_for(settings, folder))
    return r.html, r.text


def test_the_workspace_brand_is_in_every_mail(branded: Path, db_url: str) -> None:
    html, text = _render(branded, db_url)
    assert "https://nyhetsbrev.example.org/brand/skr-logo.png" in html
    assert 'alt="Sveriges Kommuner och Regioner"' in html
    assert "#00345c" in html.lower()  # the masthead in the brand's colour
    assert "SKR, 118 82 Stockholm" in html and "SKR, 118 82 Stockholm" in text


def test_an_issue_names_its_newsletter_brand(branded: Path, db_url: str) -> None:
    path = branded / "issues" / FLAGSHIP / "issue.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "brand: natverk\n", encoding="utf-8")
    html, text = _render(branded, db_url)
    assert "#5b2a86" in html.lower() and "#00345c" not in html.lower()
    assert "Nätverket för förtroendevalda" in html and "Nätverket för förtroendevalda" in text
    # What the named brand leaves empty comes from [brand]: the logo and the address.
    assert "/brand/skr-logo.png" in html and "SKR, 118 82 Stockholm" in text
    path.write_text(path.read_text(encoding="utf-8").replace("brand: natverk", "brand: nope"),
                    encoding="utf-8")
    with pytest.raises(MailerError, match=r"brand 'nope' is not in mailer.toml \(defined: "
                                          r"natverk\)"):
        _render(branded, db_url)


def test_the_public_pages_carry_the_brand(branded: Path, db_url: str,
                                          engine: Engine) -> None:
    settings = load_settings(branded, database_url=db_url, secret_key=TEST_SECRET,
                             base_url="https://nyhetsbrev.example.org")
    app = create_app(settings, engine=engine, archive=StaticArchive())
    with TestClient(app, base_url="https://nyhetsbrev.example.org") as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "Skickas av Sveriges Kommuner och Regioner." in page.text
        assert "Nyhetsbrev" not in page.text.split("<footer")[1]
        assert "SKR, 118 82 Stockholm" in page.text
        assert '<link rel="stylesheet" href="/brand.css">' in page.text
        assert 'src="/brand/skr-logo.png"' in page.text
        css = client.get("/brand.css")
        assert css.status_code == 200 and "--header-bg: #00345c;" in css.text
        logo = client.get("/brand/skr-logo.png")
        assert logo.status_code == 200 and logo.content == PNG
        assert logo.headers["content-type"] == "image/png"
        assert client.get("/brand/..%2Fmailer.toml").status_code == 404
        assert client.get("/brand/mailer.toml").status_code == 404


def test_bad_brand_settings_say_where_and_what_to_do(workspace: Path) -> None:
    (workspace / "mailer.toml").write_text('[brand]\ncolour = "#ffdd00"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(workspace)
    assert "[brand] colour in" in str(err.value) and "too light behind white text" in str(
        err.value)
    (workspace / "mailer.toml").write_text('[brands.Stora]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"short name"):
        load_settings(workspace)
    (workspace / "mailer.toml").write_text('[brand]\nlogo = "../secret.png"\n',
                                           encoding="utf-8")
    with pytest.raises(ConfigError, match=r"brand/ folder"):
        load_settings(workspace)
    assert round(contrast("#000000", "#ffffff")) == 21
