"""`mailer podcast add`: episodes from a feed served on loopback into a real issue file."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.authoring import load_document
from mailer.domain.content import PodcastEpisode
from mailer.errors import MailerError
from mailer.services.podcast import add_from_feed
from tests.feed_server import FeedServer, episode_xml, feed_xml

SEED = Path(__file__).parents[1] / "mailer" / "_issues" / "2023-06-nyhetsbrev-6"
TODAY = dt.date(2023, 6, 10)
E103 = episode_xml(103, "Otillåten påverkan", date="Mon, 15 May 2023 06:00:00 +0200",
                   duration="2710", link="https://skr.se/demokratiresan/avsnitt/"
                   "103-otillaten-paverkan", notes="<p>Om otillåten påverkan.</p>")
E104 = episode_xml(104, "Medborgardialog för funktionshinderpolitik",
                   date="Mon, 29 May 2023 06:00:00 +0200", duration="38:05",
                   link="https://skr.se/demokratiresan/avsnitt/"
                   "104-medborgardialog-for-funktionshinderpolitik", notes="<p>Vänersborg.</p>")
E105 = episode_xml(
    105, "Unga som medskapare", date="Mon, 05 Jun 2023 00:30:00 +0200", duration="1:02:31",
    link="https://skr.se/demokratiresan/avsnitt/105-unga-som-medskapare",
    notes=('<p>Hur får kommuner <strong>unga</strong> att vara med på riktigt? '
           '<a href="https://skr.se/unga">Läs mer</a>.</p><script>alert(1)</script>'
           '<p onclick="x()">Andra stycket.</p><p>Tredje.</p><p>Fjärde, med sponsorer.</p>'),
    people=[("Anders Nordh", "host"), ("Sara Ung", "guest"), ("Olle Råd", "guest")])


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.pages["/feed.xml"] = (200, feed_xml([E105, E104, E103]))
    server.pages["/broken.xml"] = (200, feed_xml([E105])[:-40])
    server.pages["/page.html"] = (200, b"<!doctype html><html><body><p>Podd</p></body></html>")
    server.pages["/gone.xml"] = (410, b"gone")
    yield server
    server.stop()


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    folder = tmp_path / "2023-06-nyhetsbrev-6"
    shutil.copytree(SEED, folder)
    return folder


def test_episode_added_with_every_fact_and_the_file_keeps_its_look(
        issue: Path, feeds: FeedServer) -> None:
    before = (issue / "issue.yaml").read_text(encoding="utf-8")
    r = add_from_feed(issue, feeds.url("/feed.xml"), episode=105, today=TODAY)
    assert [(i, e.number) for i, e in r.added] == [(2, 105)]
    assert (r.section, r.section_created, r.problems) == (1, False, [])
    after = (issue / "issue.yaml").read_text(encoding="utf-8")
    # Round trip: everything that was there is still there, byte for byte (comments,
    # folded text, key order); the new item follows episode 104.
    head = before[: before.index("  - title: \"SKR: Faktablad")]
    assert after.startswith(head.rstrip("\n"))
    assert after.replace(after[len(head.rstrip("\n")): after.index("  - title: \"SKR: Fakt")],
                         "\n\n") == before.replace(
        before[len(head.rstrip("\n")): before.index("  - title: \"SKR: Fakt")], "\n\n")
    loaded = load_document(issue, today=TODAY)
    assert loaded.ok, loaded.problems
    item = loaded.document.sections[1].items[2]
    assert isinstance(item, PodcastEpisode)
    assert (item.series, item.number, item.title) == ("Demokratiresan", 105,
                                                      "Unga som medskapare")
    assert item.date == dt.date(2023, 6, 5)  # the feed's own date, not UTC's 4 June
    assert item.minutes == 63
    assert item.link is not None and item.link.url.endswith("/105-unga-som-medskapare")
    assert [p.name for p in item.participants] == ["Sara Ung", "Olle Råd"]
    assert item.host is not None and item.host.name == "Anders Nordh"
    assert item.summary == ("Hur får kommuner **unga** att vara med på riktigt? "
                            "[Läs mer](https://skr.se/unga).\n\nAndra stycket.\n\nTredje.")
    assert r.added[0][1].shortened  # the fourth paragraph was left out
    assert "alert" not in after and "onclick" not in after


def test_latest_skips_episodes_already_in_the_issue(issue: Path, feeds: FeedServer) -> None:
    r = add_from_feed(issue, feeds.url("/feed.xml"), latest=3, today=TODAY)
    assert [e.number for _, e in r.added] == [105]
    assert [e.number for e in r.already] == [103, 104]
    again = add_from_feed(issue, feeds.url("/feed.xml"), guid="dr-105", today=TODAY)
    assert again.added == [] and [e.number for e in again.already] == [105]


def test_a_new_section_named_after_the_podcast_or_the_one_asked_for(
        issue: Path, feeds: FeedServer) -> None:
    feeds.pages["/other.xml"] = (200, feed_xml([E105], title="Kommunpodden"))
    r = add_from_feed(issue, feeds.url("/other.xml"), section="Nätverk", today=TODAY)
    assert (r.section, r.section_created) == (4, False)
    text = (issue / "issue.yaml").read_text(encoding="utf-8")
    # The section with podcast items now is Nätverk; an issue without any gets a new one.
    issue2 = issue.parent / "copy"
    shutil.copytree(SEED, issue2)
    data = (issue2 / "issue.yaml").read_text(encoding="utf-8").replace(
        "type: podcast", "type: report")
    (issue2 / "issue.yaml").write_text(data, encoding="utf-8")
    r = add_from_feed(issue2, feeds.url("/other.xml"), today=TODAY)
    assert r.section_created and r.section == 6
    assert "- title: Kommunpodden" in (issue2 / "issue.yaml").read_text(encoding="utf-8")
    assert "series: Kommunpodden" in text


@pytest.mark.parametrize(("path", "message"), [
    ("/broken.xml", "not well-formed XML at line 2"),
    ("/page.html", "not an RSS or Atom feed"),
    ("/gone.xml", "answered HTTP 410; check the feed address"),
    ("/missing.xml", "answered HTTP 404"),
])
def test_a_bad_feed_is_a_clear_error_and_changes_nothing(
        issue: Path, feeds: FeedServer, path: str, message: str) -> None:
    before = (issue / "issue.yaml").read_bytes()
    with pytest.raises(MailerError, match=message):
        add_from_feed(issue, feeds.url(path), today=TODAY)
    assert (issue / "issue.yaml").read_bytes() == before


def test_unreachable_feed_and_unknown_episode(issue: Path, feeds: FeedServer) -> None:
    before = (issue / "issue.yaml").read_bytes()
    closed = FeedServer().start()
    url = closed.url("/feed.xml")
    closed.stop()  # nothing listens on that port now
    with pytest.raises(MailerError, match="cannot reach http://127.0.0.1"):
        add_from_feed(issue, url, today=TODAY)
    with pytest.raises(MailerError, match=r"episode 99 is not in the feed \(it has 103–105\)"):
        add_from_feed(issue, feeds.url("/feed.xml"), episode=99, today=TODAY)
    with pytest.raises(MailerError, match="one of --episode, --guid or --latest"):
        add_from_feed(issue, feeds.url("/feed.xml"), episode=105, latest=2, today=TODAY)
    with pytest.raises(MailerError, match="must be an http"):
        add_from_feed(issue, "file:///etc/passwd", today=TODAY)
    assert (issue / "issue.yaml").read_bytes() == before


def test_cli(issue: Path, feeds: FeedServer, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_subscribers_cli import Cli

    cli = Cli(issue.parent, capsys, monkeypatch)
    code, out, err = cli("podcast", "add", str(issue), feeds.url("/feed.xml"),
                         "--episode", "105")
    assert code == 0, err
    assert "added #105 Unga som medskapare as item 3 of section 2 (2023-06-05, 63 min, " \
           "3 named)" in out
    assert "shortened to a summary" in out
    code, out, err = cli("podcast", "add", str(issue), feeds.url("/broken.xml"))
    assert code == 2 and "error: http://127.0.0.1" in err and "not well-formed" in err


@pytest.mark.parametrize(("notes", "markdown"), [
    ("Rad ett\nRad två\n\nNytt stycke *inte fet* & _inte kursiv_",
     "Rad ett\\\nRad två\n\nNytt stycke \\*inte fet\\* & \\_inte kursiv\\_"),
    ("<p>00:00 Intro<br>05:10 Samtal</p><ul><li>ett</li><li>två</li></ul>"
     "<p style='x'><img src='https://t.example/p.gif'>Slut</p>",
     "00:00 Intro\\\n05:10 Samtal\n\n- ett\n- två\n\nSlut"),
])
def test_show_notes_become_safe_markdown(notes: str, markdown: str) -> None:
    from mailer.authoring.podcast import show_notes_markdown

    assert show_notes_markdown(notes) == (markdown, False)
