"""The public archive, view in browser and the Atom feed (from an in-memory archive)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mailer.render.types import RenderedMailing
from mailer.web.archive import ArchivedIssue, StaticArchive
from tests.web.conftest import BASE

ATOM = "{http://www.w3.org/2005/Atom}"
HTML = ("<html lang=\"sv\"><head><style>p{color:#111}</style></head><body>"
        "<p>Hej %%first_name%%!</p><p>%%email%% %%organisation%%</p>"
        "<a href=\"%%unsubscribe_url%%\">Avsluta</a> <a href=\"%%browser_url%%\">Webb</a>"
        "<a href=\"%%preferences_url%%\">Inställningar</a></body></html>")


@pytest.fixture
def archive() -> StaticArchive:
    def issue(mid: int, month: int, slugs: tuple[str, ...]) -> ArchivedIssue:
        return ArchivedIssue(mid, slugs, datetime(2023, month, 15, 6, 0, tzinfo=UTC),
                             RenderedMailing(subject=f"Nyhetsbrev nr {month} 2023", html=HTML,
                                             text="Hej %%name%%", preheader="Dialog & delaktighet"))
    return StaticArchive([issue(1, 5, ("medborgardialog",)), issue(2, 6, ("medborgardialog",)),
                          issue(3, 6, ("natverk-2023",))])


def test_archive_list_and_issue_page(client: TestClient, lists: dict[str, int]) -> None:
    r = client.get("/archive/medborgardialog")
    assert r.status_code == 200
    assert r.text.index("Nyhetsbrev nr 6 2023") < r.text.index("Nyhetsbrev nr 5 2023")
    assert "15 juni 2023" in r.text and "Dialog &amp; delaktighet" in r.text
    assert 'type="application/atom+xml"' in r.text
    view = client.get("/archive/view/2")
    assert view.status_code == 200
    body = view.text
    assert "%%" not in body and "Hej !" in body
    assert f'href="{BASE}/archive/medborgardialog"' in body  # no personal unsubscribe link
    assert f'href="{BASE}/archive/view/2"' in body
    csp = view.headers["content-security-policy"]
    assert "script" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp


def test_private_and_unknown_issues_are_404(client: TestClient, lists: dict[str, int]) -> None:
    assert client.get("/archive/view/3").status_code == 404  # only sent to a private list
    assert client.get("/archive/view/99").status_code == 404
    assert client.get("/archive/view/abc").status_code == 404


def test_atom_feed(client: TestClient, lists: dict[str, int]) -> None:
    r = client.get("/archive/medborgardialog/feed.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.findtext(f"{ATOM}title") == "Nyhetsbrev om medborgardialog"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Nyhetsbrev nr 6 2023",
                                                             "Nyhetsbrev nr 5 2023"]
    assert entries[0].find(f"{ATOM}link").get("href") == f"{BASE}/archive/view/2"  # type: ignore[union-attr]
    assert feed.findtext(f"{ATOM}updated", "").startswith("2023-06-15T06:00:00")
    empty = ET.fromstring(client.get("/archive/seminarier/feed.xml").content)
    assert empty.findall(f"{ATOM}entry") == []
