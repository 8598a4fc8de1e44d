"""An issue's images and files: uploaded in the admin (type, content and size checked),
used by the issue (an image, a fact sheet's file:), served publicly from /media/… once
sent — a really sent message's image and PDF links are fetched — and checked."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring import load_document
from mailer.authoring.examples import FLAGSHIP
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from tests.admin.conftest import BASE, EMAILS, csrf, login
from tests.admin.test_admin_mailings import _schedule, ready  # noqa: F401
from tests.images import png
from tests.smtp_server import SmtpServer

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _upload(client: TestClient, name: str, data: bytes, **extra: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    return client.post(f"/admin/issues/{FLAGSHIP}/files",
                       data={"csrf_token": csrf(page.text), **extra},
                       files={"file": (name, data, "application/octet-stream")})


def test_files_are_uploaded_used_and_served_once_the_issue_is_sent(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,  # noqa: F811
        settings: Settings, smtp_server: SmtpServer) -> None:
    folder = settings.workspace / "issues" / FLAGSHIP
    login(client, EMAILS["editor"], lang="en")
    image = png()
    r = _upload(client, "Trappan.PNG", image)
    assert r.status_code == 303 and r.headers["location"].endswith("#files"), r.text
    r = _upload(client, "Faktablad Walk and Talk.pdf", PDF)
    assert r.status_code == 303
    assert (folder / "trappan.png").read_bytes() == image
    assert (folder / "faktablad-walk-and-talk.pdf").read_bytes() == PDF
    # Checked: type by name and by content, no silent overwrite.
    r = _upload(client, "virus.exe", b"MZ...")
    assert r.status_code == 400 and "only these file types" in r.text
    r = _upload(client, "fake.pdf", b"<html>not a pdf</html>")
    assert r.status_code == 400 and "does not hold a PDF file" in r.text
    # ... said beside the upload field on the issue's own page, not on a bare error
    # page whose only way on is the dashboard.
    field = r.text.split('id="files"')[1].split("</section>")[0]
    assert 'id="upload-file-error"' in field and "does not hold a PDF file" in field
    assert 'id="editor"' in r.text
    r = _upload(client, "trappan.png", png(3, 3))
    assert r.status_code == 400 and "exists already" in r.text
    assert (folder / "trappan.png").read_bytes() == image
    page = client.get(f"/admin/issues/{FLAGSHIP}").text
    assert f"{BASE}/media/{FLAGSHIP}/faktablad-walk-and-talk.pdf" in page

    # The issue uses them: an image on the report, a fact sheet offering the PDF.
    yaml = folder / "issue.yaml"
    text = yaml.read_text(encoding="utf-8")
    text = text.replace("        title: Delaktighetstrappan\n",
                        "        title: Delaktighetstrappan\n        image:\n"
                        "          src: trappan.png\n          alt: Delaktighetstrappan\n", 1)
    text = text.replace(
        "        link:\n          url: https://skr.se/download/18.faktablad/faktablad-walk-and-"
        "talk.pdf\n          text: Ladda ned faktablad om ”Walk and Talk”\n",
        "        file: faktablad-walk-and-talk.pdf\n", 1)
    yaml.write_text(text, encoding="utf-8")
    loaded = load_document(folder)
    assert loaded.ok, loaded.problems
    # The preview shows them (behind the login) before anything is public.
    assert client.get(f"/admin/issues/{FLAGSHIP}/media/trappan.png").content == image
    public_image = f"/media/{FLAGSHIP}/trappan.png"
    assert client.get(public_image).status_code == 404

    _schedule(client)
    deliver_due(engine, settings)
    message = smtp_server.wait_for(3)[0].message
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    urls = set(re.findall(rf'"({re.escape(BASE)}/media/[^"]+)"', html))
    assert urls == {f"{BASE}{public_image}", f"{BASE}/media/{FLAGSHIP}/faktablad-walk-and-talk.pdf"}
    client.cookies.clear()  # a reader: not logged in
    for url in sorted(urls):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "public" in r.headers["cache-control"] and "max-age" in r.headers["cache-control"]
        if url.endswith(".png"):
            assert r.headers["content-type"] == "image/png" and r.content == image
        else:
            assert r.headers["content-type"] == "application/pdf" and r.content == PDF
    text_part = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{BASE}/media/{FLAGSHIP}/faktablad-walk-and-talk.pdf" in text_part
    for bad in (f"/media/{FLAGSHIP}/issue.yaml", f"/media/{FLAGSHIP}/..%2Fissue.yaml",
                f"/media/{FLAGSHIP}/nothing.png", "/media/..%2F..%2Fetc/passwd"):
        assert client.get(bad).status_code == 404, bad


def test_the_issue_check_names_missing_and_large_files(
        ready: None, settings: Settings) -> None:  # noqa: F811
    folder: Path = settings.workspace / "issues" / FLAGSHIP
    yaml = folder / "issue.yaml"
    text = yaml.read_text(encoding="utf-8").replace(
        "        link:\n          url: https://skr.se/download/18.faktablad/faktablad-walk-and-"
        "talk.pdf\n          text: Ladda ned faktablad om ”Walk and Talk”\n",
        "        file: walk.pdf\n", 1)
    yaml.write_text(text, encoding="utf-8")
    problems = [str(p) for p in load_document(folder).problems]
    assert any("file 'walk.pdf' not found" in p and "upload it" in p for p in problems)
    (folder / "walk.pdf").write_bytes(PDF + b"0" * (11 * 1024 * 1024))
    loaded = load_document(folder)
    assert loaded.ok
    assert any("'walk.pdf' is 11.0 MB" in str(w) for w in loaded.warnings), loaded.warnings


def test_the_issue_check_warns_on_links_to_the_issues_files_that_are_not_there(
        ready: None, settings: Settings) -> None:  # noqa: F811
    """A fact sheet linked by its stable /media/ address (as the admin shows it after an
    upload), in an item's link and in the intro's Markdown: a file that is not in the
    folder (renamed, never uploaded) is a warning naming the link; once there, none."""
    folder: Path = settings.workspace / "issues" / FLAGSHIP
    media = f"{BASE}/media/{FLAGSHIP}"
    yaml = folder / "issue.yaml"
    old = "https://skr.se/download/18.faktablad/faktablad-walk-and-talk.pdf"
    text = yaml.read_text(encoding="utf-8")
    assert old in text
    yaml.write_text(text.replace(old, f"{media}/walk.pdf", 1), encoding="utf-8")
    intro = folder / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8")
                     + f"\n\nLäs [rapporten]({media}/rapport%202023.pdf).\n", encoding="utf-8")
    loaded = load_document(folder)
    assert loaded.ok, loaded.problems  # a warning, not an error
    warned = [str(w) for w in loaded.warnings if "/media/" in str(w)]
    assert len(warned) == 2, loaded.warnings
    assert any("'walk.pdf'" in w and "upload it on the issue's page" in w for w in warned)
    assert any("'rapport 2023.pdf'" in w for w in warned), warned
    (folder / "walk.pdf").write_bytes(PDF)
    (folder / "rapport 2023.pdf").write_bytes(PDF)
    assert not [w for w in load_document(folder).warnings if "/media/" in str(w)]


def test_api_adds_a_file_to_an_issue(client: TestClient, team: dict[str, int],
                                     ready: None, engine: Engine,  # noqa: F811
                                     settings: Settings) -> None:
    from tests.admin.conftest import token_for

    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post(f"/api/issues/{FLAGSHIP}/files", headers=editor,
                    files={"file": ("Område 3.pdf", PDF, "application/pdf")})
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "omrade-3.pdf", "content_type": "application/pdf",
                        "size": len(PDF), "url": f"{BASE}/media/{FLAGSHIP}/omrade-3.pdf"}
    assert (settings.workspace / "issues" / FLAGSHIP / "omrade-3.pdf").read_bytes() == PDF
    r = client.post(f"/api/issues/{FLAGSHIP}/files", headers=editor,
                    files={"file": ("x.pdf", b"not a pdf", "application/pdf")})
    assert r.status_code == 400
    # It named the type as "a application/pdf file", and no field.
    assert r.json()["error"] == {
        "code": "bad_request", "field": "file",
        "message": "'x.pdf' does not hold a PDF file, though its name ends in .pdf; save it "
                   "again as PDF, or give it the ending of the format it is in"}
    r = client.post(f"/api/issues/{FLAGSHIP}/files", headers=editor,
                    files={"file": ("Område 3.pdf", PDF, "application/pdf")})
    assert r.status_code == 400 and r.json()["error"]["field"] == "replace"
    coordinator = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    r = client.post(f"/api/issues/{FLAGSHIP}/files", headers=coordinator,
                    files={"file": ("y.pdf", PDF, "application/pdf")})
    assert r.status_code == 403


def test_a_file_of_several_megabytes_is_uploaded_in_the_admin_and_the_api(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,  # noqa: F811
        settings: Settings) -> None:
    """Files up to 25 MB are accepted (the check warns above 10 MB), but the admin's and
    the API's upload were held to the forms' 1 MiB body limit: a 3 MB PDF got a bare 413
    ('larger than 1 MB')."""
    from mailer.domain.media import MAX_UPLOAD_BYTES
    from tests.admin.conftest import token_for

    big = PDF[:-6] + b"0" * (3 << 20) + b"\n%%EOF\n"
    folder = settings.workspace / "issues" / FLAGSHIP
    login(client, EMAILS["editor"], lang="en")
    r = _upload(client, "Rapport.pdf", big)
    assert r.status_code == 303, r.text[:500]
    assert (folder / "rapport.pdf").read_bytes() == big
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post(f"/api/issues/{FLAGSHIP}/files", headers=editor,
                    files={"file": ("Bilaga.pdf", big, "application/pdf")})
    assert r.status_code == 201, r.text[:500]
    assert r.json()["size"] == len(big)
    # Over the 25 MB: the service's own refusal, naming the limit.
    huge = PDF[:-6] + b"0" * MAX_UPLOAD_BYTES + b"\n%%EOF\n"
    r = client.post(f"/api/issues/{FLAGSHIP}/files", headers=editor,
                    files={"file": ("Stor.pdf", huge, "application/pdf")})
    assert r.status_code == 400 and "'Stor.pdf' is larger than 25 MB" in r.json()["error"][
        "message"], r.text[:500]
