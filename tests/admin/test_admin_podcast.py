"""The issue editor's "Hämta avsnitt från flödet": an episode from a feed on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mailer.config import Settings
from tests.admin.conftest import EMAILS, csrf, login
from tests.feed_server import FeedServer, feed_xml
from tests.test_podcast import E104, E105, SEED

NAME = SEED.name


@pytest.fixture
def issue(settings: Settings) -> Path:
    target = settings.workspace / "issues" / NAME
    shutil.copytree(SEED, target)
    return target


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.pages["/feed.xml"] = (200, feed_xml([E105, E104]))
    yield server
    server.stop()


def test_fetch_an_episode_in_the_editor(client: TestClient, team: dict[str, int],
                                        issue: Path, feeds: FeedServer) -> None:
    login(client, EMAILS["editor"])
    page = client.get(f"/admin/issues/{NAME}")
    assert "Hämta avsnitt från flödet" in page.text and "Poddens RSS-flöde" in page.text
    before = (issue / "issue.yaml").read_bytes()
    r = client.post(f"/admin/issues/{NAME}/podcast",
                    data={"csrf_token": csrf(page.text), "feed_url": feeds.url("/nope.xml")})
    assert r.status_code == 422 and "svarade HTTP 404" in r.text
    assert (issue / "issue.yaml").read_bytes() == before
    r = client.post(f"/admin/issues/{NAME}/podcast",
                    data={"csrf_token": csrf(page.text), "feed_url": feeds.url("/feed.xml"),
                          "episode": "105"})
    assert r.status_code == 303 and r.headers["location"].endswith("#s1-i2")
    page = client.get(r.headers["location"].split("#")[0])
    assert "Avsnittet är hämtat från flödet" in page.text
    assert 'value="Unga som medskapare"' in page.text and 'value="63"' in page.text
    r = client.post(f"/admin/issues/{NAME}/podcast",
                    data={"csrf_token": csrf(page.text), "feed_url": feeds.url("/feed.xml")})
    assert r.status_code == 303 and "podcast-present" in r.headers["location"]
    client.cookies.clear()
    login(client, EMAILS["coordinator"])
    r = client.post(f"/admin/issues/{NAME}/podcast",
                    data={"csrf_token": csrf(client.get("/admin").text),
                          "feed_url": feeds.url("/feed.xml")})
    assert r.status_code == 403
