"""Issue 15 item 4, end to end: two newsletters in one workspace. Lists name their brand
(CLI, admin, API); issues are sent with the real CLI and worker to aiosmtpd on loopback,
each signed with its newsletter's From, Reply-To, logo and footer; lists of different
brands are refused; each newsletter has its archive page with Atom and RSS 2.0 feeds
(parsed with feedparser); doctor names a brand whose From is not aligned."""

from __future__ import annotations

import html
import re
import shutil
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.authoring.examples import flagship_path
from mailer.config import load_settings
from mailer.delivery.worker import deliver_due
from mailer.errors import ConfigError
from mailer.store.db import transaction
from mailer.store.models import Mailing
from mailer.web.app import create_app
from tests.admin.conftest import PASSWORD, csrf, token_for
from tests.admin.conftest import cheap_hashing as cheap_hashing  # noqa: F401 (fixture)
from tests.admin.conftest import team as team  # noqa: F401 (fixture)
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers
from tests.smtp_server import SmtpServer
from tests.test_brand import PNG
from tests.test_brand import TOML as BRAND_TOML
from tests.test_subscribers_cli import Cli

BASE = "https://nyhetsbrev.example.org"
# test_brand's [brand] (SKR: logo, colour, footer), and two newsletters of our own.
TOML = BRAND_TOML.partition("[brands.")[0] + """
[brands.demokrati]
name = "Demokratibrevet"
from_address = "Demokratibrevet <demokrati@skr.example.org>"
reply_to = "Redaktionen <demokrati-red@skr.example.org>"
description = "Nytt om medborgardialog och delaktighet"

[brands.natverk]
name = "Nätverket för förtroendevalda"
logo = "natverk.png"
colour = "#5B2A86"
footer_address = "Nätverket, Box 1, 111 11 Stockholm"
from_address = "Nätverket <natverk@natverket.example.net>"
reply_to = "natverk-svar@natverket.example.net"
description = "Brev till nätverkets medlemmar"
templates = "templates-natverk"
"""
MARK = "Nätverkets egen mall"


def _issue(workspace: Path, name: str, subject: str, brand: str = "",
           lists: str = "medborgardialog") -> Path:
    folder = workspace / "issues" / name
    shutil.copytree(flagship_path(), folder)
    path = folder / "issue.yaml"
    text = re.sub(r"(?m)^subject: .*$", f'subject: "{subject}"',
                  path.read_text(encoding="utf-8"))
    text = re.sub(r"(?m)^lists: .*$", f"lists: [{lists}]", text)
    path.write_text(text + (f"brand: {brand}\n" if brand else ""), encoding="utf-8")
    return folder


@pytest.fixture
def branded(workspace: Path, db_url: str, smtp_server: SmtpServer,
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SMTP_URL": smtp_server.url,
                       "MAILER_SECRET_KEY": TEST_SECRET, "MAILER_BASE_URL": BASE,
                       "MAILER_FROM": "SKR Nyhetsbrev <nyhetsbrev@skr.example.org>",
                       "MAILER_REPLY_TO": "info@skr.example.org"}.items():
        monkeypatch.setenv(key, value)
    (workspace / "mailer.toml").write_text(TOML, encoding="utf-8")
    (workspace / "brand").mkdir()
    (workspace / "brand" / "skr-logo.png").write_bytes(PNG)
    (workspace / "brand" / "natverk.png").write_bytes(PNG)
    # The network's own template set: the built-in newsletter with a line of its own.
    own = workspace / "templates-natverk"
    own.mkdir()
    builtin = Path(__file__).resolve().parent.parent / "mailer" / "_templates"
    for name in ("newsletter.mjml.j2", "newsletter.txt.j2"):
        text = (builtin / name).read_text(encoding="utf-8")
        if name.endswith("txt.j2"):
            text = text.replace("{% block content %}", "{% block content %}\n" + MARK + "\n", 1)
        (own / name).write_text(text, encoding="utf-8")
    return Cli(workspace, capsys, monkeypatch)


def _sent(smtp: SmtpServer, n: int) -> dict[str, list]:  # type: ignore[type-arg]
    """The received messages by recipient domain (one domain per list)."""
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for r in smtp.wait_for(n):
        out.setdefault(r.rcpt_tos[0].rpartition("@")[2], []).append(r)
    return out


def test_two_newsletters_send_sign_and_archive_as_themselves(
        branded: Cli, engine: Engine, smtp_server: SmtpServer, workspace: Path) -> None:
    cli = branded
    assert cli("init")[0] == 0
    add_subscribers(engine, 2, slug="demokratidialog", domain="demokrati.test")
    add_subscribers(engine, 3, slug="natverk-2024", domain="natverk.test")
    assert cli("lists", "edit", "demokratidialog", "--brand", "demokrati")[0] == 0
    code, out, _ = cli("lists", "edit", "natverk-2024", "--brand", "natverk",
                       "--name", "Nätverket 2024")
    assert code == 0 and "brand 'natverk'" in out
    code, out, err = cli("lists", "create", "tomma", "--name", "Tomma", "--brand", "nope")
    assert code == 2
    assert "brand 'nope' is not in mailer.toml (defined: demokrati, natverk)" in out + err
    code, out, _ = cli("lists")
    assert re.search(r"natverk-2024 .* Nätverket 2024  \[brand natverk\]", out)

    _issue(workspace, "demo-1", "Demokratibrevet nr 1")
    _issue(workspace, "natverk-1", "Nätverksbrevet nr 1")
    _issue(workspace, "blandat", "Till båda")
    _issue(workspace, "okand", "Okänt märke", brand="nope")
    # An issue naming its brand wins over its lists': this one goes to the democracy list
    # signed as the network.
    _issue(workspace, "natverk-extra", "Nätverket om demokrati", brand="natverk",
           lists="demokratidialog")

    code, out, err = cli("send", str(workspace / "issues" / "demo-1"), "--list", "demokratidialog")
    assert code == 0, out + err
    code, out, _ = cli("send", str(workspace / "issues" / "natverk-1"), "--list", "natverk-2024")
    assert code == 0
    natverk_id = re.search(r"mailing (\d+) queued", out).group(1)  # type: ignore[union-attr]
    code, out, _ = cli("mailings", "show", natverk_id)
    assert "from Nätverket <natverk@natverket.example.net> (brand natverk)" in out
    code, out, err = cli("send", str(workspace / "issues" / "blandat"), "--list", "demokratidialog",
                         "--list", "natverk-2024")
    assert code == 2
    assert ("these lists belong to different newsletters: demokratidialog (demokrati), "
            "natverk-2024 (natverk)") in out + err
    code, out, err = cli("send", str(workspace / "issues" / "okand"), "--list", "demokratidialog")
    assert code == 2
    assert re.search(r"issues/okand/issue.yaml: brand 'nope' is not in mailer.toml "
                     r"\(defined: demokrati, natverk\)", out + err)
    code, out, err = cli("issue", "check", str(workspace / "issues" / "okand"))
    assert code == 1
    assert re.search(r"okand/issue.yaml:\d+: brand: brand 'nope' is not in mailer.toml "
                     r"\(defined: demokrati, natverk\)", out + err), out + err
    assert cli("issue", "check", str(workspace / "issues" / "natverk-extra"))[0] == 0
    code, out, err = cli("worker", "--drain")
    assert code == 0, out + err

    got = _sent(smtp_server, 5)
    for r in got["demokrati.test"]:
        m = r.message
        assert parseaddr(m["From"]) == ("Demokratibrevet", "demokrati@skr.example.org")
        assert parseaddr(m["Reply-To"]) == ("Redaktionen", "demokrati-red@skr.example.org")
        assert r.mail_from == "demokrati@skr.example.org"  # SPF aligns with the From
        body = m.get_body(("html",)).get_content()
        text = m.get_body(("plain",)).get_content()
        assert f"{BASE}/brand/skr-logo.png" in body  # [brand]'s logo: demokrati has none
        assert "SKR, 118 82 Stockholm" in body and "SKR, 118 82 Stockholm" in text
        assert "Demokratibrevet" in body and MARK not in text
    for r in got["natverk.test"]:
        m = r.message
        assert parseaddr(m["From"]) == ("Nätverket", "natverk@natverket.example.net")
        assert m["Reply-To"] == "natverk-svar@natverket.example.net"
        assert r.mail_from == "natverk@natverket.example.net"
        body = m.get_body(("html",)).get_content()
        text = m.get_body(("plain",)).get_content()
        assert f"{BASE}/brand/natverk.png" in body and "skr-logo.png" not in body
        assert "#5b2a86" in body.lower()
        assert "Nätverket, Box 1, 111 11 Stockholm" in text
        assert "SKR, 118 82 Stockholm" not in text
        assert MARK in text  # the network's own template set
    with transaction(engine) as s:
        recorded = {m.subject: (m.brand, m.sender, m.reply_to)
                    for m in s.scalars(select(Mailing))}
    assert recorded["Nätverksbrevet nr 1"] == (
        "natverk", "Nätverket <natverk@natverket.example.net>",
        "natverk-svar@natverket.example.net")

    # The issue that names its brand goes to the democracy list as the network.
    assert cli("send", str(workspace / "issues" / "natverk-extra"),
               "--list", "demokratidialog")[0] == 0
    assert cli("worker", "--drain")[0] == 0
    extra = smtp_server.wait_for(7)[5:]
    assert {parseaddr(r.message["From"])[1] for r in extra} == {"natverk@natverket.example.net"}

    settings = load_settings(workspace)
    with TestClient(create_app(settings), base_url=BASE) as web:
        # A newsletter's archive: every issue sent as it to a public list.
        page = web.get("/archive/natverk")
        assert page.status_code == 200
        body = page.text
        assert "Nätverksbrevet nr 1" in body and "Nätverket om demokrati" in body
        assert "Demokratibrevet nr 1" not in body
        assert 'src="/brand/natverk.png"' in body and "Nätverket för förtroendevalda" in body
        assert "/brand.css?b=natverk" in body
        assert ('<link rel="alternate" type="application/rss+xml" title="Nätverket för '
                'förtroendevalda (RSS)" href="/archive/natverk/rss.xml">') in body
        assert 'type="application/atom+xml"' in body
        assert "Följ som nyhetsflöde (RSS)" in body  # Swedish by default
        assert "Follow as a news feed (RSS)" in web.get("/archive/natverk?lang=en").text
        css = web.get("/brand.css?b=natverk").text
        assert "#5b2a86" in css
        # A list's archive wears its newsletter's look.
        lst = web.get("/archive/demokratidialog").text
        assert "Demokratibrevet nr 1" in lst and "Nätverksbrevet nr 1" not in lst
        assert "Demokratibrevet" in lst and 'href="/archive/demokratidialog/rss.xml"' in lst
        assert web.get("/archive/nope").status_code == 404
        # The list's other public pages wear its newsletter's look too.
        sub = web.get("/subscribe/natverk-2024").text
        assert 'src="/brand/natverk.png"' in sub and "Nätverket för förtroendevalda" in sub
        assert "/brand.css?b=natverk" in sub

        rss = web.get("/archive/natverk/rss.xml")
        assert rss.headers["content-type"].startswith("application/rss+xml")
        feed = feedparser.parse(rss.content)
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.version == "rss20"
        assert feed.feed.title == "Nätverket för förtroendevalda"
        assert feed.feed.link == f"{BASE}/archive/natverk"
        assert feed.feed.subtitle == "Brev till nätverkets medlemmar"  # <description>
        assert feed.feed.language == "sv"
        assert feed.feed.image.href == f"{BASE}/brand/natverk.png"
        titles = [e.title for e in feed.entries]
        assert titles == ["Nätverket om demokrati", "Nätverksbrevet nr 1"]
        for e in feed.entries:
            assert re.fullmatch(rf"{BASE}/archive/view/\d+", e.link)
            assert e.id == e.link  # <guid isPermaLink="true">
            assert e.published_parsed is not None
        assert re.search(r"<pubDate>\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
                         r"</pubDate>", rss.text)  # RFC 822 (RFC 2822) dates

        atom = feedparser.parse(web.get("/archive/natverk/feed.xml").content)
        assert not atom.bozo and atom.version == "atom10"
        assert atom.feed.title == "Nätverket för förtroendevalda"
        assert atom.feed.logo == f"{BASE}/brand/natverk.png"
        assert [e.title for e in atom.entries] == titles
        lst_rss = feedparser.parse(web.get("/archive/demokratidialog/rss.xml").content)
        assert [e.title for e in lst_rss.entries] == ["Nätverket om demokrati",
                                                      "Demokratibrevet nr 1"]
        assert lst_rss.feed.link == f"{BASE}/archive/demokratidialog"

    # doctor: the network's From is under another domain than the bounce address's.
    code, out, _ = cli("doctor")
    assert "[brands.natverk]" not in out  # no bounce address, no DKIM: nothing to align
    cli.monkeypatch.setenv("MAILER_BOUNCE_ADDRESS", "bounces@skr.example.org")
    code, out, _ = cli("doctor")
    assert code == 1
    assert ("FAIL [brands.natverk]: From domain natverket.example.net aligns with the bounce "
            "address domain skr.example.org (SPF)") in out
    assert "ok   [brands.demokrati]: From domain skr.example.org aligns" in out
    assert '_dmarc.example.net. IN TXT' in out


def test_the_admin_and_the_api_set_a_list_brand_and_refuse_mixed_sends(
        branded: Cli, engine: Engine, workspace: Path, smtp_server: SmtpServer,
        team: dict[str, int]) -> None:  # noqa: F811
    add_subscribers(engine, 1, slug="demokratidialog", domain="demokrati.test")
    _issue(workspace, "blandat", "Till båda")
    settings = load_settings(workspace)
    with TestClient(create_app(settings, engine=engine), base_url=BASE,
                    follow_redirects=False) as client:
        page = client.get("/admin/login")
        r = client.post("/admin/login", data={"email": "ada@example.org", "password": PASSWORD,
                                              "csrf_token": csrf(page.text), "next": "/admin"})
        assert r.status_code == 303
        form = client.get("/admin/lists")
        assert 'name="brand"' in form.text
        assert "Nätverket för förtroendevalda (natverk)" in form.text
        assert "Nyhetsbrev (varumärke)" in form.text  # Swedish admin
        r = client.post("/admin/lists", data={
            "slug": "natverk-2024", "name": "Nätverket", "language": "sv", "public": "1",
            "double_opt_in": "1", "brand": "natverk", "csrf_token": csrf(form.text)})
        assert r.status_code == 303, r.text
        # The preview of an issue naming no brand wears its lists' newsletter.
        _issue(workspace, "utkast", "Utkast", lists="natverk-2024")
        preview = client.get("/admin/issues/utkast/preview.html")
        assert preview.status_code == 200
        assert f"{BASE}/brand/natverk.png" in preview.text and "#5b2a86" in preview.text.lower()
        one = client.get("/admin/lists/demokratidialog")
        assert 'action="/admin/lists/demokratidialog/brand"' in one.text
        r = client.post("/admin/lists/demokratidialog/brand",
                        data={"brand": "nope", "csrf_token": csrf(one.text)})
        assert r.status_code == 422
        assert "varumärket 'nope' finns inte i mailer.toml (där finns: demokrati, natverk)" \
            in html.unescape(r.text)
        r = client.post("/admin/lists/demokratidialog/brand",
                        data={"brand": "demokrati", "csrf_token": csrf(one.text)})
        assert r.status_code == 303
        # Sending one issue to both newsletters' lists: refused beside the lists field.
        issue = client.get("/admin/issues/blandat")
        r = client.post("/admin/issues/blandat/schedule", data={
            "lists": ["demokratidialog", "natverk-2024"], "confirm": "1",
            "csrf_token": csrf(issue.text)})
        assert r.status_code == 400
        assert ("listorna hör till olika nyhetsbrev: demokratidialog (demokrati), "
                "natverk-2024 (natverk)") in html.unescape(r.text)

        auth = {"authorization": f"Bearer {token_for(engine, 'admin')}"}
        lists = {x["slug"]: x for x in client.get("/api/lists", headers=auth).json()}
        assert lists["demokratidialog"]["brand"] == "demokrati"
        assert lists["natverk-2024"]["brand"] == "natverk"
        r = client.post("/api/lists", headers=auth, json={
            "slug": "tredje", "name": "Tredje", "brand": "demokrati"})
        assert r.status_code == 201 and r.json()["brand"] == "demokrati"
        r = client.patch("/api/lists/tredje", headers=auth, json={"brand": "nope"})
        assert r.status_code == 400
        assert "defined: demokrati, natverk" in r.json()["error"]["message"]
        r = client.patch("/api/lists/tredje", headers=auth, json={"brand": ""})
        assert r.status_code == 200 and r.json()["brand"] == ""
        r = client.post("/api/mailings", headers=auth, json={
            "issue": "blandat", "lists": ["demokratidialog", "natverk-2024"]})
        assert r.status_code == 400
        assert "belong to different newsletters" in r.json()["error"]["message"]

        # A sign-up to the network's list is confirmed by the network, signing as itself.
        r = client.post("/api/subscribers", headers=auth, json={
            "email": "ny@natverket.example.net", "list": "natverk-2024"})
        assert r.status_code == 202, r.text
    assert deliver_due(engine, settings).sent == 1
    (confirm,) = smtp_server.wait_for(1)
    assert parseaddr(confirm.message["From"]) == ("Nätverket", "natverk@natverket.example.net")
    assert confirm.message["Reply-To"] == "natverk-svar@natverket.example.net"
    assert "Nätverket för förtroendevalda" in confirm.message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(("key", "value"), [("from_address", "Nätverket <inte-en-adress>"),
                                            ("reply_to", "svar@example")])
def test_a_brand_address_is_checked_when_mailer_toml_is_loaded(
        workspace: Path, key: str, value: str) -> None:
    (workspace / "mailer.toml").write_text(
        f'[brands.natverk]\nname = "Nätverket"\n{key} = "{value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"\[brands.natverk\] {key} = .*is not a valid "
                                          r"e-mail address"):
        load_settings(workspace)


def test_an_invitation_its_confirmations_and_reminders_sign_as_their_newsletter(
        branded: Cli, engine: Engine, smtp_server: SmtpServer, workspace: Path) -> None:
    """An invitation takes its lists' brand (or its own ``brand:``), and so do the
    registration confirmations and the reminders it sends later: From, Reply-To, the
    envelope sender and the look."""
    from tests.invite_helpers import ROOT, SLUG

    cli = branded
    assert cli("init")[0] == 0
    add_subscribers(engine, 3, slug="natverk-2024", domain="natverk.test")
    add_subscribers(engine, 1, slug="demokratidialog", domain="demokrati.test")
    assert cli("lists", "edit", "natverk-2024", "--brand", "natverk")[0] == 0
    assert cli("lists", "edit", "demokratidialog", "--brand", "demokrati")[0] == 0
    folder = workspace / "issues" / SLUG
    shutil.copytree(ROOT / "issues" / SLUG, folder)
    path = folder / "issue.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^lists: .*$", "lists: [natverk-2024]", text),
                    encoding="utf-8")

    code, out, err = cli("invite", SLUG, "--now", "2023-01-20 09:00")
    assert code == 0, out + err
    code, out, err = cli("registrations", "add", SLUG, "person1@natverk.test",
                         "--send-confirmation", "--now", "2023-02-01 10:00")
    assert code == 0, out + err
    # A list of another newsletter is refused before anything is planned for it.
    code, out, err = cli("invite", SLUG, "--list", "demokratidialog",
                         "--now", "2023-02-01 10:00")
    assert code == 2
    assert ("these lists belong to different newsletters: natverk-2024 (natverk), "
            "demokratidialog (demokrati)") in out + err
    # 7 days before the deadline: a reminder to the two who have not registered.
    code, out, err = cli("worker", "--drain", "--now", "2023-02-08 09:30")
    assert code == 0, out + err
    got = smtp_server.wait_for(3 + 1 + 2)
    subjects = sorted(str(r.message["Subject"]).split(" ")[0].rstrip(":") for r in got)
    assert subjects == ["Bekräftelse"] + ["Inbjudan"] * 3 + ["Påminnelse"] * 2, subjects
    for r in got:
        assert parseaddr(r.message["From"]) == ("Nätverket", "natverk@natverket.example.net")
        assert parseaddr(r.message["Reply-To"])[1] == "natverk-svar@natverket.example.net"
        assert r.mail_from == "natverk@natverket.example.net"
        assert "Nätverket, Box 1, 111 11 Stockholm" in r.message.get_body(
            ("plain",)).get_content()

    # Its own brand: wins over its lists' (the demokrati list may be invited now).
    path.write_text(path.read_text(encoding="utf-8") + "brand: demokrati\n", encoding="utf-8")
    smtp_server.received.clear()
    code, out, err = cli("invite", SLUG, "--list", "demokratidialog",
                         "--now", "2023-02-09 10:00")
    assert code == 0, out + err
    assert cli("worker", "--drain", "--now", "2023-02-09 10:01")[0] == 0
    (r,) = smtp_server.wait_for(1)
    assert parseaddr(r.message["From"]) == ("Demokratibrevet", "demokrati@skr.example.org")

    # lists: edited later to span both newsletters, with no brand: of its own. The
    # follow-ups are not refused: a confirmation signs as the newsletter of the list its
    # person was invited through; a reminder to invitees of both, as the last invitation.
    text = path.read_text(encoding="utf-8").replace("brand: demokrati\n", "")
    path.write_text(re.sub(r"(?m)^lists: .*$", "lists: [natverk-2024, demokratidialog]", text),
                    encoding="utf-8")
    smtp_server.received.clear()
    code, out, err = cli("registrations", "cancel", SLUG, "person1@natverk.test",
                         "--now", "2023-02-10 10:00")
    assert code == 0, out + err
    code, out, err = cli("registrations", "add", SLUG, "person1@natverk.test",
                         "--send-confirmation", "--now", "2023-02-10 10:05")
    assert code == 0, out + err
    code, out, err = cli("worker", "--drain", "--now", "2023-02-14 09:30")  # 1 day before
    assert code == 0, out + err
    got = smtp_server.wait_for(1 + 3)
    signed = sorted((str(r.message["Subject"]).split(" ")[0].rstrip(":"), r.rcpt_tos[0],
                     parseaddr(r.message["From"])[1]) for r in got)
    assert signed == [
        ("Bekräftelse", "person1@natverk.test", "natverk@natverket.example.net"),
        ("Påminnelse", "person0@demokrati.test", "demokrati@skr.example.org"),
        ("Påminnelse", "person0@natverk.test", "demokrati@skr.example.org"),
        ("Påminnelse", "person2@natverk.test", "demokrati@skr.example.org")], signed


def test_an_invitation_registration_page_wears_its_newsletter(
        branded: Cli, engine: Engine, smtp_server: SmtpServer, workspace: Path) -> None:
    """The registration form an invitation links to looks like the invitation: its
    newsletter's logo, colours and name, not the workspace's [brand]."""
    from tests.invite_helpers import SLUG, copy_network

    cli = branded
    assert cli("init")[0] == 0
    add_subscribers(engine, 2, slug="natverk-2024", domain="natverk.test")
    assert cli("lists", "edit", "natverk-2024", "--brand", "natverk")[0] == 0
    copy_network(workspace, "natverk-2024", form=True)
    code, out, err = cli("invite", SLUG, "--now", "2023-01-20 09:00")
    assert code == 0, out + err
    assert cli("worker", "--drain", "--now", "2023-01-20 09:01")[0] == 0
    invitation = smtp_server.wait_for(2)[0].message.get_body(("plain",)).get_content()
    link = re.search(rf"{BASE}(/register/{SLUG}/\S+)", invitation)
    assert link, invitation
    app = create_app(load_settings(workspace))
    app.state.web.now = lambda: datetime(2023, 2, 1, 9, 0, tzinfo=UTC)  # before the deadline
    with TestClient(app, base_url=BASE) as web:
        page = web.get(link.group(1))
    assert page.status_code == 200, page.text
    assert 'src="/brand/natverk.png"' in page.text and "/brand.css?b=natverk" in page.text
    assert "skr-logo.png" not in page.text
