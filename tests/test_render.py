"""Rendering the flagship: size, language, images, links, Swedish text, placeholders."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailer.authoring import load_valid
from mailer.authoring.examples import flagship_path
from mailer.domain.content import Issue
from mailer.render import i18n
from mailer.render.engine import DEFAULT_TEMPLATES, RenderOptions
from mailer.render.newsletter import render_issue
from mailer.render.personalise import FIELDS, html_template, text_template
from mailer.render.types import RenderedMailing
from tests.images import png

OPTIONS = RenderOptions(asset_base_url="https://nyhetsbrev.example.org/media/x")


@pytest.fixture(scope="module")
def issue() -> Issue:
    return load_valid(flagship_path())


@pytest.fixture(scope="module")
def rendered(issue: Issue) -> RenderedMailing:
    return render_issue(issue, OPTIONS)


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    c = Collector()
    c.feed(html)
    return c.tags


def test_html_is_small_enough_for_gmail(rendered: RenderedMailing) -> None:
    assert len(rendered.html.encode("utf-8")) < 102 * 1024


def test_html_has_lang_and_title(rendered: RenderedMailing) -> None:
    assert re.search(r'<html[^>]* lang="sv"', rendered.html)
    assert "<title>Nyhetsbrev nr 6 år 2023: Delaktighetstrappan" in rendered.html


def test_every_image_has_alt_and_no_link_is_relative(rendered: RenderedMailing) -> None:
    tags = _tags(rendered.html)
    for tag, attrs in tags:
        if tag == "img":
            assert attrs.get("alt"), attrs
        for name in ("href", "src"):
            value = attrs.get(name)
            if value is not None and tag in ("a", "img", "link"):
                assert re.match(r"(https://|mailto:|tel:|%%\w+%%$)", value), (tag, value)
    assert sum(1 for t, _ in tags if t == "a") > 30


def test_no_remote_fonts_by_default(issue: Issue, rendered: RenderedMailing) -> None:
    assert "fonts.googleapis" not in rendered.html
    assert "<link" not in rendered.html


def test_placeholders_survive_mjml(rendered: RenderedMailing) -> None:
    for field in ("unsubscribe_url", "preferences_url", "browser_url"):
        assert f'href="%%{field}%%"' in rendered.html
        assert f"%%{field}%%" in rendered.text
    assert html_template(rendered.html).fields >= {"unsubscribe_url", "browser_url", "email"}
    assert set(html_template(rendered.html).fields) <= set(FIELDS)


def test_swedish_survives(rendered: RenderedMailing) -> None:
    assert rendered.subject.startswith("Nyhetsbrev nr 6 år 2023")
    for word in ("Örnsköldsvik", "Stärk fullmäktige", "Sista anmälningsdag", "Målgrupp",
                 "Kostnadsfritt men en anmälan krävs.", "Ulrika Stöök", "16 juni 2023",
                 "10.00–12.00", "Digitalt via Zoom", "9 juni 2023", "Avsluta prenumerationen"):
        assert word in rendered.html, word
        assert word in rendered.text, word
    assert "&ouml;" not in rendered.html and "Ã" not in rendered.html


def test_text_has_every_item_title_and_link(issue: Issue, rendered: RenderedMailing) -> None:
    flat = re.sub(r"\s+", " ", rendered.text)
    for _, item in issue.all_items():
        assert item.title in flat, item.title
        for link in item.links:
            assert link.url in rendered.text.split(), link.url
            if link.text:
                assert link.text in flat
    assert "anna-Lena.pogulis@skr.se" in rendered.text
    assert issue.editor is not None and issue.editor.phone in rendered.text


def test_text_lines_stay_short_once_the_address_is_filled_in(rendered: RenderedMailing) -> None:
    """The footer's "… at %%email%% because …" was wrapped as if the address were 9
    characters: filled in, its line ran to 97."""
    from mailer.render.sample import personalise

    values = {"email": "anna-lena.andersson@regionhalland.se", "name": "Anna-Lena Andersson",
              "first_name": "Anna-Lena", "greeting": "Hej Anna-Lena!",
              "organisation": "Region Halland", "unsubscribe_url": "https://x.se/u/1",
              "preferences_url": "https://x.se/p/1", "browser_url": "https://x.se/b/1",
              "register_url": "https://x.se/r"}
    text = personalise(rendered, values)[1]
    assert "anna-lena.andersson@regionhalland.se" in text
    too_long = [line for line in text.splitlines()
                if len(line) > 76 and " " in line and not line.startswith("https://")]
    assert too_long == []


def test_text_reads_well(rendered: RenderedMailing) -> None:
    text = rendered.text
    assert text.startswith("SKR:s nyhetsbrev om medborgardialog\nNyhetsbrev nr 6 år 2023\n")
    assert "<" not in text.replace("<anders", "")  # no markup leaks into the text part
    assert "\n\n\n" not in text
    assert all(len(line) <= 76 or line.startswith(("https://", "%%")) or " " not in line
               for line in text.splitlines())
    event = text[text.index("SKR: Introduktion till medborgarbudget"):]
    assert ("Datum: 16 juni 2023\nTid: 10.00–12.00\nPlats: Digitalt via Zoom\n"
            "Kostnad: Kostnadsfritt men en anmälan krävs.\nSista anmälningsdag: 9 juni 2023\n"
            ) in event
    assert ("Medverkande: Catharina Lindstedt, organisationsutvecklare mot otillåten\n"
            "påverkan, Göteborgs stad; Christina Kiernan, samordnare mot välfärdsbrott,\n"
            "SKR\nSamtalsledare: Anders Nordh, SKR\n") in text
    assert 'Ladda ned faktablad om ”E-förslag”:\nhttps://skr.se/' in text
    assert text.rstrip().endswith("Sveriges Kommuner och Regioner")


def test_personalised_copy(rendered: RenderedMailing) -> None:
    values = {"email": "a&b@example.org", "unsubscribe_url": "https://x.se/u/1?a=1&b=2",
              "preferences_url": "https://x.se/p/1", "browser_url": "https://x.se/v/1"}
    html = html_template(rendered.html).fill(values)
    assert 'href="https://x.se/u/1?a=1&amp;b=2"' in html and "%%" not in html
    text = text_template(rendered.text).fill(values)
    assert "https://x.se/u/1?a=1&b=2" in text and "%%" not in text


def test_english_issue(tmp_path: Path) -> None:
    (tmp_path / "issue.yaml").write_text("""\
name: Citizen dialogue news
number: 2
year: 2024
language: en
subject: Newsletter no. 2 – seminar on participatory budgeting
intro: Welcome! Read about [our seminar](https://example.se/seminar).
sections:
  - title: Events
    items:
      - type: event
        title: Participatory budgeting for housing companies
        date: 2024-06-14
        start: "10:00"
        end: "12:00"
        online: Zoom
        cost: free
        registration_deadline: 2024-06-07
        link: https://example.se/seminar
      - type: podcast
        number: 7
        title: Undue influence
        participants: [{name: Kim Berg, role: analyst, organisation: City of Gothenburg}]
        host: {name: Anders Nordh}
        link: https://example.se/podcast/7
""", encoding="utf-8")
    rendered = render_issue(load_valid(tmp_path), OPTIONS)
    assert re.search(r'<html[^>]* lang="en"', rendered.html)
    for text in (rendered.html, rendered.text):
        assert "Newsletter no. 2, 2024" in text
        assert "14 June 2024" in text and "10:00–12:00" in text and "7 June 2024" in text
        assert "Registration deadline" in text and "Free of charge" in text
        assert "Online via Zoom" in text and "Unsubscribe" in text
        assert "Taking part" in text and "Listen to episode 7" in text
        assert "Sista" not in text and "juni" not in text


def test_formats() -> None:
    import datetime as dt
    assert i18n.format_day(dt.date(2023, 6, 16), "sv") == "16 juni 2023"
    assert i18n.format_day(dt.date(2023, 6, 16), "en") == "16 June 2023"
    assert i18n.format_time_range(dt.time(10), dt.time(12), "sv") == "10.00–12.00"
    assert i18n.format_time_range(dt.time(10), dt.time(12), "en") == "10:00–12:00"
    assert i18n.format_kronor(1500, "sv") == "1\xa0500 kr"


def test_every_template_string_is_translated() -> None:
    pattern = re.compile(r'_\("((?:[^"\\]|\\.)*)"')
    ids = {m for f in DEFAULT_TEMPLATES.rglob("*.j2") for m in pattern.findall(f.read_text())}
    ids.add("Newsletter no. %(number)s, %(year)s")
    assert len(ids) > 25
    sv, en = i18n.catalogue("sv"), i18n.catalogue("en")
    missing = sorted(i for i in ids if i not in sv or sv[i] == i or i not in en)
    assert not missing


def test_workspace_template_overrides_default(tmp_path: Path, issue: Issue) -> None:
    (tmp_path / "templates" / "partials").mkdir(parents=True)
    original = (DEFAULT_TEMPLATES / "partials" / "editor.mjml.j2").read_text()
    (tmp_path / "templates" / "partials" / "editor.mjml.j2").write_text(
        original.replace("{{ ed.name }}", "{{ ed.name }} (egen mall)"))
    rendered = render_issue(issue, RenderOptions(workspace=tmp_path,
                                                 asset_base_url=OPTIONS.asset_base_url))
    assert "Anders Nordh (egen mall)" in rendered.html


def _image_issue(folder: Path, file: str, intro: str, alt: str) -> None:
    """An issue whose intro (Markdown) and one report show the image ``file``."""
    (folder / file).write_bytes(png())
    (folder / "issue.yaml").write_text(f"""\
name: N
number: 1
year: 2024
subject: S
intro: "{intro}"
sections:
  - items:
      - type: report
        title: R
        image: {{src: {file}, alt: {alt}}}
        link: https://skr.se/r.pdf
""", encoding="utf-8")


def test_local_image_gets_absolute_url(tmp_path: Path) -> None:
    _image_issue(tmp_path, "trappa.png", "![Delaktighetstrappan i fem steg](trappa.png)",
                 "En trappa i fem steg")
    html = render_issue(load_valid(tmp_path), OPTIONS).html
    imgs = [a for t, a in _tags(html) if t == "img"]
    assert {a["src"] for a in imgs} == {"https://nyhetsbrev.example.org/media/x/trappa.png"}
    assert {a["alt"] for a in imgs} == {"En trappa i fem steg", "Delaktighetstrappan i fem steg"}


def test_local_image_named_with_spaces_and_swedish_letters(tmp_path: Path) -> None:
    # Editors put files beside issue.yaml by hand, named as they like: "Sjön vid ån.png".
    # The check finds the file from Markdown too (the parser percent-encodes the name),
    # and every image address in the mail is a valid URL of that very file.
    from urllib.parse import unquote

    from mailer.authoring import load_document

    _image_issue(tmp_path, "Sjön vid ån.png",
                 "![Sjön en sommardag](<Sjön vid ån.png>) och ![](<Sjön vid ån.png>)",
                 "Sjön en sommardag")
    loaded = load_document(tmp_path)
    assert [p.message for p in loaded.errors] == [
        "image 'Sjön vid ån.png' has no alt text; describe it in the brackets: "
        "![what the picture shows](Sjön vid ån.png)"]
    (tmp_path / "issue.yaml").write_text(
        (tmp_path / "issue.yaml").read_text(encoding="utf-8").replace("![](", "![Sjön igen]("),
        encoding="utf-8")
    assert load_document(tmp_path).ok
    html = render_issue(load_valid(tmp_path), OPTIONS).html
    srcs = [a["src"] or "" for t, a in _tags(html) if t == "img"]
    base = OPTIONS.asset_base_url + "/"
    assert len(srcs) == 3
    for src in srcs:
        assert src.startswith(base) and re.fullmatch(r"[A-Za-z0-9%._/:-]+", src), src
        assert unquote(src.removeprefix(base)) == "Sjön vid ån.png"


@pytest.mark.parametrize(("language", "place"), [
    ("sv", "Plats: Hornsgatan 20, Stockholm, eller digitalt via Zoom"),
    ("en", "Place: Hornsgatan 20, Stockholm, or online via Zoom")])
def test_an_event_both_on_site_and_online_says_both(tmp_path: Path, language: str,
                                                    place: str) -> None:
    # A hybrid event: readers far away must learn they can join on Zoom.
    (tmp_path / "issue.yaml").write_text(f"""\
name: N
number: 1
year: 2024
subject: S
language: {language}
sections:
  - items:
      - type: event
        title: Seminarium om medborgarbudget
        date: 2024-06-16
        place: Hornsgatan 20, Stockholm
        online: Zoom
        link: https://skr.se/kalender/seminarium
""", encoding="utf-8")
    rendered = render_issue(load_valid(tmp_path), OPTIONS)
    assert place in rendered.text
    label, where = place.split(": ", 1)
    html_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rendered.html))
    assert f"{label} {where}" in html_text


def _one_item(folder: Path, item: str) -> RenderedMailing:
    """A Swedish issue of one section holding ``item`` (YAML indented as an item)."""
    (folder / "issue.yaml").write_text("name: N\nnumber: 1\nyear: 2024\nsubject: S\n"
                                       "sections:\n  - items:\n" + item, encoding="utf-8")
    return render_issue(load_valid(folder), OPTIONS)


@pytest.mark.parametrize(("title", "shown"), [
    ("#105 Unga och demokrati", "#105 Unga och demokrati"),
    ("# 105 Unga och demokrati", "# 105 Unga och demokrati"),
    ("Unga och demokrati", "#105 Unga och demokrati"),
    ("#1050 Ett annat avsnitt", "#105 #1050 Ett annat avsnitt")])
def test_an_episode_number_already_in_the_title_is_not_said_twice(
        tmp_path: Path, title: str, shown: str) -> None:
    # The seed's titles carry the number ("#103 Otillåten påverkan"); copied with
    # number: 103, the mail said "#103 #103 Otillåten påverkan".
    rendered = _one_item(tmp_path, f"""\
      - type: podcast
        title: "{title}"
        number: 105
        link: https://skr.se/demokratiresan/105
""")
    lines = rendered.text.splitlines()
    assert shown in lines, rendered.text
    html_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rendered.html))
    assert f" {shown} " in html_text
    body = html_text.split("Nyhetsbrev nr 1 år 2024", 1)[1]  # past the styles' colours
    assert len(re.findall(r"#\s?1", body)) == len(re.findall(r"#\s?1", shown)), body


def test_markdown_headings_in_an_item_stay_headings(tmp_path: Path) -> None:
    # "## Program" in a summary: a subheading in the mail (it became bare text, run into
    # the paragraph after it, with no sign of it in the check).
    html = _one_item(tmp_path, """\
      - type: report
        title: R
        summary: |
          # Bakgrund

          Text.

          ## Program

          Mer text.
        link: https://skr.se/r.pdf
""").html
    assert re.search(r"<h3[^>]*>Bakgrund</h3>", html) and re.search(r"<h3[^>]*>Program</h3>",
                                                                     html)


def test_greeting_never_leaves_a_gap_without_a_name() -> None:
    from mailer.render.i18n import greeting

    assert greeting("Anna", "sv") == "Hej Anna!"
    assert greeting("", "sv") == "Hej!"
    assert greeting("Anna", "en") == "Hello Anna,"
    assert greeting("", "en") == "Hello,"
