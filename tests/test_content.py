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
