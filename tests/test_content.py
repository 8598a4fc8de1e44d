"""Content model and loader: the flagship passes; each kind of mistake gets file:line."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from mailer.authoring import load_document, load_valid, register_kind
from mailer.authoring.examples import flagship_path
from mailer.domain.content import Event, Issue, PodcastEpisode
from mailer.domain.markdown import markdown_to_text, render_markdown
from mailer.domain.urls import BadUrl, normalise_url
from mailer.errors import MailerError
from tests.images import png

DELEGIA = ("https://www.delegia.com/app/attendee/new_registration.asp?PROJECTID=19425&CLEAR=yes"
           "&REGLINENO=1&REGLINEID=110935&EDIT=of f&REGLINEPAGENO=1&LANGUAGEID=1")


@pytest.fixture
def flagship(tmp_path: Path) -> Path:
    """A private copy of the flagship issue folder to break."""
    target = tmp_path / "2023-06-nyhetsbrev-6"
    shutil.copytree(flagship_path(), target)
    return target


def test_flagship_is_valid_and_complete() -> None:
    loaded = load_document(flagship_path(), today=dt.date(2023, 6, 1))
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.problems == []  # not even a warning before the event
    issue: Issue = loaded.document
    assert (issue.number, issue.year, issue.language) == (6, 2023, "sv")
    types = [item.type for _, item in issue.all_items()]  # type: ignore[attr-defined]
    assert types.count("report") == 2
    assert types.count("factsheet") == 5
    assert types.count("example") == 3
    assert types.count("network") == 1
    assert types.count("event") == 1
    assert types.count("offer") == 3
    podcasts = [i for _, i in issue.all_items() if isinstance(i, PodcastEpisode)]
    assert [p.number for p in podcasts] == [103, 104]
    assert all(len(p.participants) == 2 and p.host for p in podcasts)
    event = next(i for _, i in issue.all_items() if isinstance(i, Event))
    assert (event.date, event.registration_deadline) == (dt.date(2023, 6, 16), dt.date(2023, 6, 9))
    assert (event.start, event.end) == (dt.time(10), dt.time(12))
    assert event.online == "Zoom" and event.is_free
    assert issue.editor and issue.editor.phone == "08-452 74 35"
    offers = [i for _, i in issue.all_items() if i.type == "offer"]  # type: ignore[attr-defined]
    assert offers[0].contact.email == "anna-Lena.pogulis@skr.se"  # type: ignore[attr-defined]


def test_past_event_is_a_warning_not_an_error() -> None:
    loaded = load_document(flagship_path(), today=dt.date(2024, 1, 1))
    assert loaded.ok
    assert [p.field for p in loaded.warnings] == ["sections[6].items[2].date"]


def _line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


# (what to replace, replacement, text on the line the problem must name, message part)
BROKEN = {
    "unknown item type": ("type: podcast\n        series: Demokratiresan\n        number: 103",
                          "type: podcats\n        series: Demokratiresan\n        number: 103",
                          "type: podcats", "unknown item type 'podcats'; did you mean 'podcast'"),
    "missing title": ("        title: Delaktighetstrappan\n", "", "- type: report",
                      "title: is required"),
    "bad date": ("date: 2023-06-16", "date: 2023-06-31", "date: 2023-06-31",
                 "'2023-06-31' is not a date; write YYYY-MM-DD"),
    "deadline after the event": ("registration_deadline: 2023-06-09",
                                 "registration_deadline: 2023-06-19",
                                 "registration_deadline: 2023-06-19",
                                 "is after the event (2023-06-16)"),
    "broken Markdown link": ("forskningsöversikt om hur medborgardialoger kan inkludera "
                             "marginaliserade\n",
                             "forskningsöversikt [om hur](https://skr.se/x medborgardialoger kan "
                             "inkludera marginaliserade\n",
                             "forskningsöversikt [om hur]", "broken Markdown link"),
    "image without alt text": ("        title: Delaktighetstrappan\n",
                               "        title: Delaktighetstrappan\n"
                               "        image: {src: bild.png}\n",
                               "image: {src: bild.png}", "alt: is required"),
    "relative link": ("url: https://www.uppsala.se/skogstorpsparken",
                      "url: skogstorpsparken.html", "url: skogstorpsparken.html",
                      "relative link 'skogstorpsparken.html'"),
    "missing image file": ("        title: Delaktighetstrappan\n",
                           "        title: Delaktighetstrappan\n"
                           "        image: {src: saknas.png, alt: En trappa}\n",
                           "saknas.png", "image file 'saknas.png' not found"),
    "unknown field": ("        audience: >-\n", "        audiense: >-\n", "audiense:",
                      "unknown field; did you mean 'audience'?"),
    "end before start": ('end: "12.00"', 'end: "09.00"', 'end: "09.00"', "ends (09:00) before"),
    "bad time": ('start: "10.00"', 'start: "25.00"', 'start: "25.00"', "not a time of day"),
    "bad e-mail": ("email: anders.nordh@skr.se", "email: anders.nordh(at)skr.se",
                   "anders.nordh(at)skr.se", "not a valid e-mail address"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_mistake_is_reported_at_its_line(flagship: Path, case: str) -> None:
    old, new, marker, message = BROKEN[case]
    yaml_path = flagship / "issue.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    assert old in text, case
    yaml_path.write_text(text.replace(old, new, 1), encoding="utf-8")
    loaded = load_document(flagship)
    assert not loaded.ok
    expected_line = _line_of(yaml_path, marker)
    hits = [p for p in loaded.errors if message in str(p)]
    assert hits, [str(p) for p in loaded.problems]
    assert hits[0].file == str(yaml_path)
    assert hits[0].line == expected_line, str(hits[0])
    assert str(hits[0]).startswith(f"{yaml_path}:{expected_line}: ")


def test_problem_in_included_markdown_names_that_file(flagship: Path) -> None:
    intro = flagship / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8") + "\n![](saknas.png) [x](rapport.pdf)\n",
                     encoding="utf-8")
    loaded = load_document(flagship)
    line = len(intro.read_text(encoding="utf-8").splitlines())
    where = {(p.file, p.line) for p in loaded.errors}
    assert where == {(str(intro), line)}
    assert len(loaded.errors) == 3  # no alt text, file missing, relative link


def test_an_items_missing_image_is_reported_with_its_typo(flagship: Path) -> None:
    # One run shows both: fixing the typo must not reveal a second problem in the item.
    yaml_path = flagship / "issue.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    yaml_path.write_text(text.replace(
        "        title: Delaktighetstrappan\n        summary:",
        "        title: Delaktighetstrappan\n        image: {src: trappan.png, alt: Trappan}\n"
        "        sumary: x\n        summary:", 1), encoding="utf-8")
    messages = [p.message for p in load_document(flagship).errors]
    assert any("unknown field; did you mean 'summary'" in m for m in messages), messages
    assert any("image file 'trappan.png' not found" in m for m in messages), messages


def test_every_problem_at_once(flagship: Path) -> None:
    yaml_path = flagship / "issue.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    for old, new, _, _ in BROKEN.values():
        if old in text:
            text = text.replace(old, new, 1)
    yaml_path.write_text(text, encoding="utf-8")
    loaded = load_document(flagship)
    assert len(loaded.errors) >= 8  # some mistakes above hit the same item
    with pytest.raises(MailerError) as err:
        load_valid(flagship)
    assert "problem(s)" in str(err.value)


@pytest.mark.parametrize(("content", "message", "line"), [
    ("name: [x\n", "YAML syntax: a list in [ ] or a mapping in { } is not closed", 1),
    ("name: a\nname: b\n", "the field 'name' appears twice", 2),
    ("- just\n- a list\n", "expected a mapping", 1),
    ("kind: newsleter\n", "unknown kind 'newsleter'; known kinds:", 1),
    ("number: 6\n", "name: is required", 1),
])
def test_bad_files(tmp_path: Path, content: str, message: str, line: int) -> None:
    (tmp_path / "issue.yaml").write_text(content, encoding="utf-8")
    loaded = load_document(tmp_path)
    assert any(message in str(p) and p.line == line for p in loaded.errors), \
        [str(p) for p in loaded.problems]


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "issue.yaml").write_bytes("name: Ö\n".encode("cp1252"))
    loaded = load_document(tmp_path)
    assert "UTF-8" in loaded.errors[0].message


def test_included_markdown_not_utf8_is_a_problem_in_swedish_too(tmp_path: Path) -> None:
    from mailer.render.i18n import describe_problem

    (tmp_path / "issue.yaml").write_text("name: N\nintro: {file: intro.md}\n", encoding="utf-8")
    (tmp_path / "intro.md").write_bytes("Hej världen\n".encode("cp1252"))
    problem = next(p for p in load_document(tmp_path).errors if p.line == 2)
    assert "'intro.md' is not UTF-8 text" in problem.message
    assert "'intro.md' är ingen UTF-8-text" in describe_problem(problem, "sv")


def test_references_that_expand_exponentially_are_refused_at_once(tmp_path: Path) -> None:
    # "Billion laughs": nine levels of nine references would be 387 million values; the
    # check (and the admin, which runs it) must answer, not exhaust the machine's memory.
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    (tmp_path / "issue.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_document(tmp_path)
    assert [p.message for p in loaded.errors] == [
        "the file holds over 100000 values (a reference *name counts each time it is used); "
        "write the issue out without & and * references"]


def test_registry_accepts_a_new_kind(tmp_path: Path) -> None:
    from pydantic import BaseModel, ConfigDict

    class Note(BaseModel):
        model_config = ConfigDict(extra="forbid")
        kind: str
        text: str

    register_kind("note-for-test", Note)
    (tmp_path / "issue.yaml").write_text("kind: note-for-test\ntext: hej\n", encoding="utf-8")
    assert load_valid(tmp_path).text == "hej"
    (tmp_path / "issue.yaml").write_text("kind: note-for-test\ntxt: hej\n", encoding="utf-8")
    problems = load_document(tmp_path).errors
    assert any("did you mean 'text'" in p.message and p.line == 2 for p in problems)


# --- URLs and Markdown ------------------------------------------------------------------
def test_url_with_space_is_encoded_not_broken() -> None:
    url = normalise_url(DELEGIA)
    assert " " not in url and "EDIT=of%20f&REGLINEPAGENO=1" in url
    assert normalise_url("https://www.örnsköldsvik.se/a b").startswith("https://www.xn--")
    assert normalise_url("tel:08-452 74 35") == "tel:084527435"
    for bad in ("rapport.pdf", "javascript:alert(1)", "", "https://"):
        with pytest.raises(BadUrl):
            normalise_url(bad)


def test_markdown_link_with_space_is_a_link() -> None:
    result = render_markdown(f"Anmäl dig [här]({DELEGIA}).")
    assert not result.findings
    assert result.links == [normalise_url(DELEGIA)]
    assert 'href="https://www.delegia.com/' in result.html
    assert "EDIT=of%20f" in markdown_to_text(f"[här]({DELEGIA})")


def test_markdown_is_sanitised() -> None:
    result = render_markdown("<script>alert(1)</script> <b onclick=x>hej</b> "
                             "[x](javascript:alert(1))")
    assert "<script" not in result.html and "<b " not in result.html
    assert "javascript:" not in result.html.replace("[x](javascript:alert(1))", "")
    assert any("broken Markdown link" in f.message or "scheme" in f.message
               for f in result.findings)


# The first bytes of real files of each type, as their formats lay them out: a JPEG with
# a JFIF segment before its (progressive) frame header, a GIF, and WebP's three forms.
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xdb\x00\x05\x00\x01\x02" + b"\xff\xc2\x00\x11\x08\x01\xdd\x02\xd0\x03"
        + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01" + b"\xff\xd9")
GIF = b"GIF89a\xcc\x01\xf1\x01\x80\x00\x00" + b"\x00" * 20
WEBP_LOSSY = (b"RIFF\x30\x00\x00\x00WEBPVP8 \x24\x00\x00\x00" + b"\x30\x01\x00"
              + b"\x9d\x01\x2a" + (37).to_bytes(2, "little") + (21).to_bytes(2, "little")
              + b"\x00" * 16)
WEBP_LOSSLESS = (b"RIFF\x20\x00\x00\x00WEBPVP8L\x10\x00\x00\x00\x2f"
                 + (36 | (20 << 14)).to_bytes(4, "little") + b"\x00" * 8)
WEBP_EXTENDED = (b"RIFF\x30\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00"
                 + (36).to_bytes(3, "little") + (20).to_bytes(3, "little") + b"\x00" * 8)


def test_image_sizes_read_from_their_headers() -> None:
    from mailer.domain.media import image_size, sniff

    for data, kind, size in ((png(37, 21), "image/png", (37, 21)),
                             (JPEG, "image/jpeg", (720, 477)), (GIF, "image/gif", (460, 497)),
                             (WEBP_LOSSY, "image/webp", (37, 21)),
                             (WEBP_LOSSLESS, "image/webp", (37, 21)),
                             (WEBP_EXTENDED, "image/webp", (37, 21))):
        assert sniff(data) == kind
        assert image_size(data, kind) == size, kind
        assert image_size(data[:8], kind) is None  # cut off: damaged, not a traceback
    assert image_size(JPEG.replace(b"\xff\xc2", b"\xff\xda"), "image/jpeg") is None


def test_an_image_is_checked_to_be_one_of_its_type_and_not_too_large(flagship: Path) -> None:
    """A random 6 MB file named .jpg went into the mail; now the check reads the file."""
    import os

    (flagship / "bild.jpg").write_bytes(os.urandom(6 * 1024 * 1024))
    (flagship / "kopia.jpg").write_bytes(png(40, 30))  # a PNG with the wrong ending
    (flagship / "trasig.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # cut off
    (flagship / "karta.svg").write_text("<svg/>", encoding="utf-8")
    (flagship / "stor.png").write_bytes(png(3000, 20, padding=1536 * 1024))
    for name, data in (("ok.png", png(600, 300)), ("ok.jpg", JPEG), ("ok.gif", GIF),
                       ("ok.webp", WEBP_LOSSY)):
        (flagship / name).write_bytes(data)
    yaml_path = flagship / "issue.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    yaml_path.write_text(text.replace(
        "        title: Delaktighetstrappan\n",
        "        title: Delaktighetstrappan\n        image: {src: bild.jpg, alt: En bild}\n", 1),
        encoding="utf-8")
    intro = flagship / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8") + "\n![a](kopia.jpg) ![b](trasig.png) "
                     "![c](karta.svg) ![d](stor.png)\n\n![e](ok.png) ![f](ok.jpg) ![g](ok.gif) "
                     "![h](ok.webp)\n", encoding="utf-8")
    loaded = load_document(flagship, today=dt.date(2023, 6, 1))
    errors = sorted(p.message for p in loaded.errors)
    assert errors == [
        "'bild.jpg' is not an image: its content is not a JPEG file, nor any other picture; "
        "save the picture again as JPEG",
        "'karta.svg' is not an image a mail can show; use a PNG, JPEG, GIF or WebP file",
        "'kopia.jpg' is a PNG image, but its name says JPEG; rename it to end in .png",
        "'trasig.png' is damaged: its size in pixels cannot be read; save the picture again",
    ], [str(p) for p in loaded.problems]
    assert [str(p.message) for p in loaded.warnings] == [
        "'stor.png' is 1.5 MB (3000 × 20 px); an image over 1 MB makes the mail slow to "
        "open: save it smaller, e.g. 1200 px wide"]
    assert all(p.file in (str(yaml_path), str(intro)) and p.line for p in loaded.problems)


def test_a_bare_address_in_markdown_is_a_link() -> None:
    """"Se https://skr.se/rapport" stayed text in the mail; a reader expects a link."""
    text = ("Läs https://skr.se/rapport. Frågor till anna@skr.se; www.skr.se är utan "
            "schema.")
    result = render_markdown(text)
    assert '<a href="https://skr.se/rapport"' in result.html
    assert '<a href="mailto:anna@skr.se"' in result.html
    assert "www.skr.se" in result.html and "http://www.skr.se" not in result.html
    assert result.links == ["https://skr.se/rapport", "mailto:anna@skr.se"]
    assert result.findings == []
    # The text part shows each address once, not "https://… (https://…)".
    assert markdown_to_text(text) == text
