"""The archive and view-in-browser pages show mailings really sent, without personal data."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.render.types import RenderedMailing
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.web.app import create_app
from tests.delivery_support import add_subscribers
from tests.smtp_server import SmtpServer

RENDERED = RenderedMailing(
    subject="Nyhetsbrev nr 6 år 2023", language="sv", preheader="Delaktighetstrappan",
    html="<html lang='sv'><body><p>Hej %%name%%, <a href='%%unsubscribe_url%%'>avregistrera"
         "</a> <a href='%%browser_url%%'>webbläsare</a></p><p>Medborgardialog</p></body></html>",
    text="Hej %%name%%\n%%unsubscribe_url%%\n")


def test_sent_issue_is_in_the_archive_and_view_page(engine: Engine, settings: Settings,
                                                    smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 3)
    with transaction(engine) as s:
        mailing, _ = plan_mailing(s, RENDERED, kind="newsletter", now=datetime.now(UTC),
                                  list_slugs=["medborgardialog"])
    assert deliver_due(engine, settings).sent == 3
    sent = smtp_server.wait_for(3)[0].message
    view_url = next(part for part in sent.get_body(("html",)).get_content().split("'")
                    if "/archive/view/" in part)
    client = TestClient(create_app(settings, engine=engine))
    page = client.get(view_url.replace(settings.base_url, ""))
    assert page.status_code == 200
    assert "Medborgardialog" in page.text
    assert "person0@" not in page.text and "/u/" not in page.text  # nothing personal
    listing = client.get("/archive/medborgardialog")
    assert listing.status_code == 200 and "Nyhetsbrev nr 6 år 2023" in listing.text
    feed = client.get("/archive/medborgardialog/feed.xml")
    assert feed.status_code == 200 and f"/archive/view/{mailing.id}" in feed.text
    assert client.get("/archive/view/999999").status_code == 404


def test_view_in_browser_opens_for_an_issue_sent_only_to_a_private_list(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    # An internal newsletter (a private list): its readers' "Öppna det i webbläsaren" link
    # must open the issue (it was the 404 page for every one of them), while the issue
    # stays out of the public archive, its unsigned page and shared caches.
    from sqlalchemy import update

    from mailer.store.models import MailingList

    list_id = add_subscribers(engine, 2, slug="internt")
    with transaction(engine) as s:
        s.execute(update(MailingList).where(MailingList.id == list_id).values(public=False))
        mailing, _ = plan_mailing(s, RENDERED, kind="newsletter", now=datetime.now(UTC),
                                  list_slugs=["internt"])
        other, _ = plan_mailing(s, RENDERED, kind="newsletter", now=datetime.now(UTC),
                                list_slugs=["internt"])
    assert deliver_due(engine, settings).sent == 4
    sent = [r.message for r in smtp_server.wait_for(4)]
    views = {part for m in sent for part in m.get_body(("html",)).get_content().split("'")
             if "/archive/view/" in part}
    view_url = next(v for v in views if f"/archive/view/{mailing.id}/" in v)
    client = TestClient(create_app(settings, engine=engine))
    page = client.get(view_url.replace(settings.base_url, ""))
    assert page.status_code == 200, view_url
    assert "Medborgardialog" in page.text and "person0@" not in page.text
    assert "/u/" not in page.text and "/archive/internt" not in page.text
    assert page.headers["cache-control"].startswith("private")
    assert page.headers["x-robots-tag"] == "noindex"
    token = view_url.rsplit("/", 1)[1]
    assert client.get(f"/archive/view/{mailing.id}").status_code == 404
    assert client.get(f"/archive/view/{other.id}/{token}").status_code == 404  # not its token
    assert client.get(f"/archive/view/{mailing.id}/{token[:-2]}xx").status_code == 404
    assert "Nyhetsbrev nr 6" not in client.get("/archive/internt").text


def test_view_in_browser_of_a_test_copy_opens(engine: Engine, settings: Settings,
                                              smtp_server: SmtpServer) -> None:
    # The editor checks the links of the test copy: "Öppna det i webbläsaren" opens it.
    from mailer.services.mailings import plan_test

    add_subscribers(engine, 1)
    with transaction(engine) as s:
        planned = plan_test(s, RENDERED, ["redaktor@example.test"], base_url=settings.base_url,
                            source="issues/x", now=datetime.now(UTC))
    assert deliver_due(engine, settings).sent == 1
    html = smtp_server.wait_for(1)[0].message.get_body(("html",)).get_content()
    view_url = next(p for p in html.split("'") if "/archive/view/" in p)
    client = TestClient(create_app(settings, engine=engine))
    page = client.get(view_url.replace(settings.base_url, ""))
    assert page.status_code == 200 and "Medborgardialog" in page.text
    assert client.get(f"/archive/view/{planned.mailing_id}").status_code == 404
    assert "Nyhetsbrev nr 6" not in client.get("/archive/medborgardialog").text


def test_an_image_named_beyond_latin_1_is_served(engine: Engine, settings: Settings) -> None:
    # "Sjön – 2023.png" (an en dash, as word processors write it) beside issue.yaml: once
    # the issue went out, readers get it (it was a 500: a header cannot carry the dash).
    from urllib.parse import quote, unquote

    folder = settings.workspace / "issues" / "2026-nr01-juni"
    folder.mkdir(parents=True)
    name = "Sjön – 2023.png"
    (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    add_subscribers(engine, 1)
    with transaction(engine) as s:
        plan_mailing(s, RENDERED, kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"], source="issues/2026-nr01-juni")
    client = TestClient(create_app(settings, engine=engine))
    r = client.get(f"/media/2026-nr01-juni/{quote(name)}")
    assert r.status_code == 200 and r.content == b"\x89PNG\r\n\x1a\n"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("inline; filename*=utf-8''")
    assert unquote(disposition.split("''", 1)[1]) == name


def test_archive_is_paged_and_reads_while_a_writer_holds_the_lock(
        engine: Engine, settings: Settings) -> None:
    import threading

    from sqlalchemy import text

    add_subscribers(engine, 1)
    with transaction(engine) as s:
        for n in range(120):
            plan_mailing(s, RenderedMailing(subject=f"Nummer {n}", language="sv",
                                            html="<p>x</p>", text="x"),
                         kind="newsletter", now=datetime.now(UTC),
                         list_slugs=["medborgardialog"])
    client = TestClient(create_app(settings, engine=engine))
    first = client.get("/archive/medborgardialog")
    assert first.text.count('href="/archive/view/') == 50 and "Sida 1 av 3" in first.text
    last = client.get("/archive/medborgardialog", params={"page": 3})
    assert last.text.count('href="/archive/view/') == 20
    assert client.get("/archive/medborgardialog", params={"page": 4}).status_code == 404
    if engine.dialect.name != "sqlite":
        return
    # A writer holds SQLite's write lock (as a long import would): pages that only read
    # answer at once instead of waiting for it.
    fresh = TestClient(create_app(settings, engine=engine))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with engine.connect() as conn:  # BEGIN IMMEDIATE: the write lock
            conn.execute(text("UPDATE lists SET name = name"))
            holding.set()
            release.wait(30)
            conn.commit()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        assert fresh.get("/archive/medborgardialog", params={"page": 2}).status_code == 200
        assert fresh.get("/").status_code == 200
        assert fresh.get("/subscribe/medborgardialog").status_code == 200
    finally:
        release.set()
        thread.join()


def test_an_issue_sent_again_is_listed_once_as_it_first_went_out(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    """'mailer send --again' (or a second segment of the list) makes a second mailing of
    the same folder: the archive listed the issue twice, and its feeds gave it again as a
    new entry. Now once, with the first mailing's date and permalink; the second's
    view-in-browser link still opens. Another folder is another issue."""
    from dataclasses import replace

    add_subscribers(engine, 2)
    source = "issues/2023-nr06-juni"
    ids = []
    for rendered, folder in ((RENDERED, source), (RENDERED, source),
                             (replace(RENDERED, subject="Nyhetsbrev nr 7 år 2023"),
                              "issues/2023-nr07-augusti")):
        with transaction(engine) as s:
            mailing, _ = plan_mailing(s, rendered, kind="newsletter", now=datetime.now(UTC),
                                      list_slugs=["medborgardialog"], source=folder)
            ids.append(mailing.id)
        assert deliver_due(engine, settings).sent == 2
    client = TestClient(create_app(settings, engine=engine))
    listing = client.get("/archive/medborgardialog").text
    assert listing.count("Nyhetsbrev nr 6 år 2023") == 1, listing
    assert "Nyhetsbrev nr 7 år 2023" in listing
    for feed in ("feed.xml", "rss.xml"):
        text = client.get(f"/archive/medborgardialog/{feed}").text
        assert f"/archive/view/{ids[0]}" in text and f"/archive/view/{ids[2]}" in text
        assert f"/archive/view/{ids[1]}" not in text, feed
    assert client.get(f"/archive/view/{ids[1]}").status_code == 200
