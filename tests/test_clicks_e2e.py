"""Issue 15 item 2, end to end: a mailing with click statistics goes to aiosmtpd; the
links of the really sent messages are followed in Chromium against the live app and land
on a local HTTP server; the counts show in the CLI (and CSV); a tampered token answers
400 without a redirect; a mailing without tracking keeps its links untouched."""

from __future__ import annotations

import dataclasses
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from mailer.config import Settings, load_settings
from mailer.delivery.worker import deliver_due
from mailer.services.mailings import TrackClicks, plan_mailing
from mailer.store.db import transaction
from mailer.store.models import ClickTag, PersonClick
from mailer.web.app import create_app
from tests.browser_support import LiveServer, launch_chromium
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.feed_server import FeedServer
from tests.smtp_server import SmtpServer, free_port
from tests.test_subscribers_cli import Cli

HREF = re.compile(r'href="([^"]+)"')


PAGES = ("/rapport?a=1&b=2", "/podd")


@pytest.fixture
def target() -> Iterator[FeedServer]:
    """The site the links point at: a real HTTP server on loopback, noting its visits."""
    t = FeedServer(content_type="text/html; charset=utf-8")
    t.pages = {p: (200, f"<!doctype html><title>Mål {p}</title><p>ok".encode()) for p in PAGES}
    t.start()
    yield t
    t.stop()


def _visits(t: FeedServer) -> list[str]:
    return [p for p in t.visits if p != "/favicon.ico"]  # Chromium asks on its own


def _mail_html(target: FeedServer, base: str) -> str:
    return (
        '<!doctype html><html lang="sv"><body><p>Hej %%first_name%%!</p>'
        f'<p><a href="{target.url("/rapport?a=1&amp;b=2")}">Läs rapporten</a></p>'
        f'<p><a href="{target.url("/podd")}">Lyssna</a> och '
        f'<a class="x" href="{target.url("/rapport?a=1&amp;b=2")}">rapporten igen</a></p>'
        '<p><a href="mailto:red@example.org">Skriv till oss</a> '
        f'<a href="{base}/archive/medborgardialog">Arkivet</a></p>'
        '<p><a href="%%browser_url%%">Visa i webbläsaren</a> · '
        '<a href="%%preferences_url%%">Inställningar</a> · '
        '<a href="%%unsubscribe_url%%">Avregistrera dig</a></p></body></html>')


def _settings(workspace: Path, db_url: str, smtp: SmtpServer, base: str,
              monkeypatch: pytest.MonkeyPatch, per_person: bool = False) -> Settings:
    env = {"MAILER_DATABASE_URL": db_url, "MAILER_SMTP_URL": smtp.url,
           "MAILER_SECRET_KEY": TEST_SECRET, "MAILER_BASE_URL": base,
           "MAILER_CLICK_TRACKING_PER_PERSON": "true" if per_person else "false"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(workspace)


def _html_of(message: object) -> str:
    part = message.get_body(("html",))  # type: ignore[attr-defined]
    return str(part.get_content())


def _status(url: str) -> tuple[int, str | None]:
    """GET without following redirects: (status, Location)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as r:
            return r.status, r.headers.get("location")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("location")


def test_tracked_links_followed_in_chromium_are_counted_in_aggregate(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        target: FeedServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = _settings(workspace, db_url, smtp_server, base, monkeypatch)
    add_subscribers(engine, 3)
    rendered = dataclasses.replace(synthetic_rendered(2_000), html=_mail_html(target, base))
    with transaction(engine) as s:
        tracked, _ = plan_mailing(s, rendered, kind="newsletter", now=datetime.now(UTC),
                                  list_slugs=["medborgardialog"],
                                  track_clicks=TrackClicks.of(settings))
        plain, _ = plan_mailing(s, rendered, kind="newsletter", now=datetime.now(UTC),
                                list_slugs=["medborgardialog"])
    report = deliver_due(engine, settings)
    assert report.sent == 6
    got = smtp_server.wait_for(6)
    by_mailing: dict[int, list[list[str]]] = {}
    for r in got:
        mid = int(r.message["Message-ID"].strip("<>").split(".")[1])
        by_mailing.setdefault(mid, []).append(HREF.findall(_html_of(r.message)))

    # Without tracking the links are exactly as rendered.
    for hrefs in by_mailing[plain.id]:
        assert hrefs[0] == target.url("/rapport?a=1&amp;b=2")
        assert not any("/l/" in h for h in hrefs)

    # With tracking: the two targets are rewritten (the same URL to the same link), our
    # own pages, mailto and the personal links are not; each copy has its own tag.
    copies = by_mailing[tracked.id]
    tags = set()
    for hrefs in copies:
        assert all(h.startswith(f"{base}/l/") for h in hrefs[:3]), hrefs
        assert hrefs[0] == hrefs[2] != hrefs[1]
        assert hrefs[3] == "mailto:red@example.org"
        assert hrefs[4] == f"{base}/archive/medborgardialog"
        assert hrefs[5].startswith(f"{base}/archive/view/{tracked.id}/")  # signed, untouched
        assert hrefs[6].startswith(f"{base}/p/") and hrefs[7].startswith(f"{base}/u/")
        tags.add(hrefs[0].rsplit("/", 1)[1])
    assert len(tags) == 3
    text = got[0].message.get_body(("plain",)).get_content()
    assert "/l/" not in text  # the plain-text part carries no tracked links

    app = create_app(settings)
    with LiveServer(app, port), launch_chromium() as browser:
        page = browser.new_page()
        page.goto(copies[0][0])
        assert page.url == target.url("/rapport?a=1&b=2")
        assert page.title() == "Mål /rapport?a=1&b=2"
        page.goto(copies[0][2])  # the same person, the same link again
        page.goto(copies[1][0])  # a second person
        page.goto(copies[1][1])
        assert _visits(target) == ["/rapport?a=1&b=2"] * 3 + ["/podd"]

        # Tampered: another mailing's id under the same signature, a changed signature.
        token = copies[0][0].split("/l/")[1].split("/")[0]
        forged = f"{base}/l/{tracked.id + 1}{token[token.index('.'):]}/x"
        broken = f"{base}/l/{token[:-2]}zz/x"
        for url in (forged, broken, f"{base}/l/nonsense"):
            code, location = _status(url)
            assert (code, location) == (400, None), url
        page.goto(broken)
        assert "/l/" in page.url  # stayed on our page: no redirect
    assert len(_visits(target)) == 4

    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(PersonClick)) == 0  # off: nobody
        assert s.scalar(select(func.count()).select_from(ClickTag)) == 3
    cli = Cli(workspace, capsys, monkeypatch)
    code, out, _ = cli("mailings", "show", str(tracked.id))
    assert code == 0, out
    assert "clicks: 4 on 2 links; unique clickers 2 of 3 sent (66.7%)" in out
    assert re.search(r"1\s+3\s+2\s+" + re.escape(target.url("/rapport?a=1&b=2")), out), out
    assert re.search(r"2\s+1\s+1\s+" + re.escape(target.url("/podd")), out), out
    code, out, _ = cli("mailings", "show", str(plain.id))
    assert "clicks: not counted" in out
    code, out, _ = cli("mailings", "show", str(tracked.id), "--csv", "-")
    assert out.splitlines() == [
        "mailing,position,url,clicks,unique_clickers",
        f"{tracked.id},1,{target.url('/rapport?a=1&b=2')},3,2",
        f"{tracked.id},2,{target.url('/podd')},1,1"]


def test_cli_send_track_clicks_stores_the_links_and_show_reports_them(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from mailer.authoring.examples import FLAGSHIP, flagship_path
    from mailer.store.models import MailingLink

    _settings(workspace, db_url, smtp_server, "https://nyhetsbrev.example.org", monkeypatch)
    add_subscribers(engine, 2)
    folder = workspace / "issues" / FLAGSHIP
    shutil.copytree(flagship_path(), folder)
    cli = Cli(workspace, capsys, monkeypatch)
    code, out, _ = cli("send", str(folder), "--list", "medborgardialog", "--track-clicks")
    assert code == 0, out
    mailing_id = int(out.split()[1])
    with transaction(engine) as s:
        urls = list(s.scalars(select(MailingLink.url).where(
            MailingLink.mailing_id == mailing_id).order_by(MailingLink.position)))
    assert len(urls) >= 2 and not any(u.startswith("https://nyhetsbrev.example.org/")
                                      for u in urls)
    code, out, _ = cli("mailings", "show", str(mailing_id))
    assert f"clicks: 0 on {len(urls)} links; unique clickers 0 of 0 sent" in out
    code, out, _ = cli("send", str(folder), "--list", "medborgardialog", "--again",
                       "--include-received")
    assert code == 0, out
    plain = int(out.split()[1])
    code, out, _ = cli("mailings", "show", str(plain))
    assert "clicks: not counted" in out
    code, out, _ = cli("mailings")  # the list without a subcommand still works
    assert code == 0 and f"{plain:>4} newsletter" in out
