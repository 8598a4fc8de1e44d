"""Every word a reader sees comes from the sv/en catalogues (Babel), plural forms included:
no ``if language == "sv"`` branch writes Swedish or English by hand."""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from icalendar import Calendar

from mailer.authoring.scaffold import new_issue
from mailer.domain.invitation import (
    Cost,
    Seats,
    meetings,
    parse_invitation,
    people,
    seats_text,
)
from mailer.render import i18n
from mailer.render.i18n import Translator
from mailer.render.ics import meetings_ics
from mailer.render.invitation import cost_text, register_href
from tests.invite_helpers import SLUG, invitation_data

ROOT = Path(__file__).resolve().parent.parent
MAILER = ROOT / "mailer"
NOW = dt.datetime(2023, 2, 1, 10, tzinfo=dt.UTC)

#: Words chosen by language in Python sources, allowed by (path, function or table name),
#: with the reason.
ALLOWED_PY: dict[tuple[str, str], str] = {
    ("mailer/render/i18n.py", "_TIME_PATTERN"): "a CLDR pattern, not words",
    ("mailer/render/i18n.py", "_DATE_PATTERN"): "a CLDR pattern, not words",
    ("mailer/render/i18n.py", "_DAY_MONTH_PATTERN"): "a CLDR pattern, not words",
}
#: The same in page templates (file, the words on the line) and why.
ALLOWED_TEMPLATE = {
    # the link to the other language names it in that language ("På svenska" on an
    # English page): an autonym, not a translation
    ("mailer/web/templates/base.html", '"På svenska" if other_lang == "sv" else "In English"'),
    ("mailer/web/admin/templates/base.html",
     '"På svenska" if other_lang == "sv" else "In English"'),
    # which language option is selected: no words chosen
    ("mailer/web/templates/preferences.html", "values['language'] == 'sv' %} selected"),
    ("mailer/web/templates/preferences.html", "values['language'] == 'en' %} selected"),
}
_LANGUAGE = {"sv", "en"}
_TEMPLATE_COMPARISON = re.compile(r"""[!=]=\s*["'](?:sv|en)["']|["'](?:sv|en)["']\s*[!=]="""
                                  # a plural made by hand: {% if n == 1 %}…{% else %}
                                  r"""|\{%-?\s*if\s[^%]*[!=]=\s*1\s*-?%\}""")


def language_branches(source: str) -> list[tuple[int, str]]:
    """(line, where) of each ``x == "sv"`` / ``"en" != x`` (where: the enclosing function)
    and each table keyed by the languages, ``{"sv": …, "en": …}`` (where: its name)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = (child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                    else function)
            if isinstance(child, ast.Compare) and any(
                    isinstance(op, ast.Eq | ast.NotEq) for op in child.ops):
                operands = [child.left, *child.comparators]
                if any(isinstance(o, ast.Constant) and o.value in _LANGUAGE for o in operands):
                    found.append((child.lineno, function))
            if isinstance(child, ast.Assign | ast.AnnAssign) and isinstance(
                    child.value, ast.Dict) and {
                    k.value for k in child.value.keys if isinstance(k, ast.Constant)} == _LANGUAGE:
                target = child.targets[0] if isinstance(child, ast.Assign) else child.target
                found.append((child.lineno, ast.unparse(target)))
            visit(child, name)

    visit(ast.parse(source), "<module>")
    return found


def test_the_guard_finds_a_hand_written_language_branch() -> None:
    source = ('def label(language):\n'
              '    return "Kontakt" if language == "sv" else "Contact"\n'
              'x = "en" != lang\n'
              'ok = lang in ("sv", "en")\n'
              'WORD = {"sv": "RADERA", "en": "ERASE"}\n'
              'ALIASES = {"sv": "sv", "svenska": "sv", "en": "en"}\n')
    assert language_branches(source) == [(2, "label"), (3, "<module>"), (5, "WORD")]


def test_no_python_source_writes_a_language_by_hand() -> None:
    found = []
    for path in sorted(MAILER.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, where in language_branches(path.read_text(encoding="utf-8")):
            if (rel, where) not in ALLOWED_PY:
                found.append(f"{rel}:{line} ({where})")
    assert found == [], ("words chosen by the language; put them in "
                         "mailer/locale/{sv,en}/*.po and use Translator(language).gettext/"
                         f"ngettext or msg/msgn: {found}")


def hand_made_plurals(source: str) -> list[int]:
    """Lines of ``"" if n == 1 else "s"``-style plurals: words chosen by a comparison
    with 1 (the catalogue's Plural-Forms, through msgn/ngettext, says that)."""
    def words(node: ast.expr) -> bool:
        return (isinstance(node, ast.Constant) and isinstance(node.value, str)
                or isinstance(node, ast.JoinedStr))

    return sorted(node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare)
            and all(isinstance(op, ast.Eq | ast.NotEq) for op in node.test.ops)
            and any(isinstance(c, ast.Constant) and c.value == 1
                    for c in (node.test.left, *node.test.comparators))
            and words(node.body) and words(node.orelse))


def test_no_plural_is_made_by_hand() -> None:
    assert hand_made_plurals('a = f"{n} item{\'\' if n == 1 else \'s\'}"\n'
                             'b = "waits" if n == 1 else "wait"\n'
                             'c = singular if n == 1 else plural\n') == [1, 2]
    found = [f"{path.relative_to(ROOT).as_posix()}:{line}"
             for path in sorted(MAILER.rglob("*.py"))
             for line in hand_made_plurals(path.read_text(encoding="utf-8"))]
    assert found == [], f"use msgn (mailer.domain.findings) or ngettext: {found}"


def test_no_template_writes_a_language_by_hand() -> None:
    for hand_made in ("{{ 'Kontakt' if lang == 'sv' else 'Contact' }}",
                      '{% if "en" != lang %}', "{% if found.count == 1 %}person{% else %}"):
        assert _TEMPLATE_COMPARISON.search(hand_made), hand_made
    assert not _TEMPLATE_COMPARISON.search('{% if pages > 1 %}{{ _n("%(n)s item", x, n) }}')
    templates = [*MAILER.rglob("*.html"), *MAILER.rglob("*.j2"),
                 *(ROOT / "templates").rglob("*.j2")]
    assert len(templates) > 20
    found = []
    for path in templates:
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _TEMPLATE_COMPARISON.search(line) and not any(
                    rel == f and snippet in line for f, snippet in ALLOWED_TEMPLATE):
                found.append(f"{rel}:{n}")
    assert found == [], f"use _() / _n() in the template instead: {found}"


@pytest.mark.parametrize(("cost", "sv", "en"), [
    ({"amount": 900}, "900 kr/år/person", "SEK 900 per person and year"),
    ({"amount": 8000, "per": "organisation"}, "8\xa0000 kr/år/organisation",
     "SEK 8,000 per organisation and year"),
    ({"amount": 1500, "period": "once"}, "1\xa0500 kr/person", "SEK 1,500 per person"),
    ({"amount": 500, "per": "organisation", "period": "once"}, "500 kr/organisation",
     "SEK 500 per organisation"),
    ({"amount": 8000, "per": "organisation", "first_year_free": True},
     "8\xa0000 kr/år/organisation (första året kostnadsfritt)",
     "SEK 8,000 per organisation and year (the first year is free)"),
    ("kostnadsfritt", "Kostnadsfritt", "Free of charge"),
    # öre are shown, not cut off (it said "99 kr")
    ({"amount": "99.50", "period": "once"}, "99,50 kr/person", "SEK 99.50 per person"),
    ({"amount": 900, "currency": "sek"}, "900 kr/år/person", "SEK 900 per person and year"),
])
def test_cost_in_swedish_and_english(cost: object, sv: str, en: str) -> None:
    c = Cost.model_validate(cost)
    assert (cost_text(c, "sv"), cost_text(c, "en")) == (sv, en)


def test_kronor_in_swedish_and_english() -> None:
    assert i18n.format_kronor(1500, "sv") == "1\xa0500 kr"
    assert i18n.format_kronor(1500, "en") == "SEK 1,500"
    assert i18n.format_kronor(Decimal("1234.5"), "sv") == "1\xa0234,50 kr"
    assert i18n.format_kronor(Decimal("900.00"), "en") == "SEK 900"


def test_a_cost_in_another_currency_is_refused_not_shown_as_kronor() -> None:
    """``currency: EUR`` was accepted and the amount shown as kronor ("900 kr")."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Cost.model_validate({"amount": 900, "currency": "EUR"})
    assert "currency 'EUR': amounts are shown in kronor" in str(caught.value)


def _invitation(language: str, **changes: Any) -> Any:
    data = invitation_data()
    data["language"] = language
    data.update(changes)
    return parse_invitation(data)


@pytest.mark.parametrize(("language", "subject"), [
    ("sv", "Anmälan: Professionsnätverk"), ("en", "Registration: Professionsnätverk")])
def test_the_registration_e_mail_subject(language: str, subject: str) -> None:
    data = invitation_data()
    data["registration"] = {"mode": "email", "email": "anmalan@example.org",
                            "deadline": "2023-02-15"}
    data["language"] = language
    href = register_href(parse_invitation(data))
    assert href.startswith("mailto:anmalan@example.org?subject=")
    assert unquote(href.split("subject=", 1)[1]).startswith(subject)


def test_the_invitation_subject_is_said_in_the_readers_language() -> None:
    inv = _invitation("en", subject="", title="Masterclass")
    assert str(inv.mail_subject) == "Invitation: Masterclass"
    assert Translator("sv").localise(inv.mail_subject) == "Inbjudan: Masterclass"
    assert Translator("en").localise(inv.mail_subject) == "Invitation: Masterclass"
    own = _invitation("sv", subject="Välkommen till nätverket")
    assert Translator("en").localise(own.mail_subject) == "Välkommen till nätverket"


@pytest.mark.parametrize(("seats", "sv", "en"), [
    ({"max": 1}, "1 person per organisation", "1 person per organisation"),
    ({"min": 3, "max": 3}, "3 personer per organisation", "3 people per organisation"),
    ({"min": 1, "max": 2}, "1–2 personer per organisation", "1–2 people per organisation"),
])
def test_seats_with_their_plural(seats: dict[str, int], sv: str, en: str) -> None:
    text = seats_text(Seats.model_validate(seats))
    assert Translator("sv").localise(text) == sv
    assert Translator("en").localise(text) == en and str(text) == en


@pytest.mark.parametrize(("n", "sv_meetings", "en_meetings", "sv_people", "en_people"), [
    (1, "1 möte", "1 meeting", "1 person", "1 person"),
    (3, "3 möten", "3 meetings", "3 personer", "3 people"),
])
def test_counts_of_meetings_and_people(n: int, sv_meetings: str, en_meetings: str,
                                       sv_people: str, en_people: str) -> None:
    # The command line prints the English (str); a page would show the Swedish.
    assert str(meetings(n)) == en_meetings and str(people(n)) == en_people
    sv = Translator("sv")
    assert (sv.localise(meetings(n)), sv.localise(people(n))) == (sv_meetings, sv_people)


def _locations(language: str, meetings: list[dict[str, Any]]) -> list[str]:
    inv = _invitation(language, meetings=meetings)
    cal = Calendar.from_ical(meetings_ics(inv, SLUG, domain="example.org", now=NOW))
    return [str(e["location"]) for e in cal.walk("VEVENT")]


MEETINGS = [
    {"date": "2023-03-10", "start": "10:00", "online": True, "platform": "Zoom"},
    {"date": "2023-03-11", "start": "10:00", "online": True},
    {"date": "2023-03-12", "start": "10:00", "place": "Stockholm", "platform": "Teams"},
    {"date": "2023-03-13", "start": "10:00", "place": "Stockholm", "online": True},
    {"date": "2023-03-14", "start": "10:00", "place": "Stockholm"},
]


def test_calendar_locations_in_swedish_and_english() -> None:
    assert _locations("sv", MEETINGS) == [
        "Digitalt via Zoom", "Digitalt", "Stockholm, eller digitalt via Teams",
        "Stockholm, eller digitalt", "Stockholm"]
    assert _locations("en", MEETINGS) == [
        "Online via Zoom", "Online", "Stockholm, or online via Teams", "Stockholm, or online",
        "Stockholm"]


@pytest.mark.parametrize(("language", "label"), [("sv", "Kontakt"), ("en", "Contact")])
def test_calendar_contact_line(language: str, label: str) -> None:
    inv = _invitation(language)
    cal = Calendar.from_ical(meetings_ics(inv, SLUG, domain="example.org", now=NOW))
    description = str(next(iter(cal.walk("VEVENT")))["description"])
    assert f"{label}: Anders Nordh <anders.nordh@skr.se>, 070-311 1708" in description


@pytest.mark.parametrize(("language", "heading", "name"), [
    ("sv", "Nyhetsbrev nr 2 år 2026", "Vårt nyhetsbrev"),
    ("en", "Newsletter no. 2, 2026", "Our newsletter"),
])
def test_a_new_issue_is_headed_and_named_in_its_language(
        tmp_path: Path, language: str, heading: str, name: str) -> None:
    issues = tmp_path / "issues"
    (issues / "2026-nr01-juni").mkdir(parents=True)
    (issues / "2026-nr01-juni" / "issue.yaml").write_text(
        f"number: 1\nyear: 2026\nlanguage: {language}\nsubject: S\nsections: []\n",
        encoding="utf-8")
    text = (new_issue(issues, today=dt.date(2026, 7, 1)) / "issue.yaml").read_text(
        encoding="utf-8")
    assert f'subject: "{heading}"' in text and f'intro_title: "{heading}"' in text
    assert f'name: "{name}"' in text


def test_the_erase_word_and_the_language_names_come_from_babel() -> None:
    from mailer.web.admin.pages import language_name
    from mailer.web.routes.preferences import erase_word

    assert (erase_word("sv"), erase_word("en")) == ("RADERA", "ERASE")
    assert [language_name(c) for c in ("sv", "en", "de", "tyska", "", None)] == [
        "svenska", "English", "Deutsch", "tyska", "", ""]


@pytest.mark.parametrize(("language", "title"), [("sv", "Kunde inte visas"),
                                                 ("en", "Cannot render")])
def test_the_admins_preview_that_cannot_render_says_so_in_its_language(
        settings: Any, language: str, title: str) -> None:
    from mailer.authoring.examples import flagship_path
    from mailer.web.admin.issues import render_preview

    own = settings.model_copy(update={"language": language})
    preview = render_preview(own, flagship_path(), "https://nyhetsbrev.example.org/media",
                             brand="nosuch")
    assert not preview.ok and f"<h1 style='font-size:18px;color:#9b1c1c'>{title}</h1>" \
        in preview.html
    assert f"<html lang='{language}'>" in preview.html and "'nosuch'" in preview.text


@pytest.mark.parametrize(("language", "greeting"), [("sv", "Hej Exempel!"),
                                                    ("en", "Hello Exempel,")])
def test_the_sample_recipient_is_greeted_in_the_mailings_language(
        language: str, greeting: str) -> None:
    from mailer.render.sample import sample_values

    values = sample_values("https://nyhetsbrev.example.org", language=language)
    assert values["greeting"] == greeting and values["first_name"] == "Exempel"


@pytest.mark.parametrize(("language", "filename", "location", "contact"), [
    ("sv", "inbjudan.ics", "Digitalt via Zoom", "Kontakt: Anders Nordh"),
    ("en", "invitation.ics", "Online via Zoom", "Contact: Anders Nordh")])
def test_a_confirmation_in_the_readers_language_has_its_calendar_in_it_too(
        language: str, filename: str, location: str, contact: str) -> None:
    from mailer.render.invitation import render_confirmation

    r = render_confirmation(_invitation("sv"), SLUG, domain="example.org", now=NOW,
                            language=language)
    (ics,) = r.attachments
    assert ics.filename == filename and f"({filename})" in " ".join(r.text.split())
    first = next(iter(Calendar.from_ical(ics.data).walk("VEVENT")))
    assert str(first["location"]) == location and contact in str(first["description"])


@pytest.mark.parametrize(("language", "names"), [
    ("sv", [f"{SLUG}: inbjudan", f"{SLUG}: påminnelse 7d"]),
    ("en", [f"{SLUG}: invitation", f"{SLUG}: reminder 7d"])])
def test_an_invitations_mailings_are_named_in_its_language(
        settings: Any, engine: Any, language: str, names: list[str]) -> None:
    from sqlalchemy import select

    from mailer.services.invitation_mail import InvitationMail
    from mailer.store.db import transaction
    from mailer.store.invitations import sync_invitation
    from mailer.store.models import Mailing
    from tests.invite_helpers import INVITED_AT, PEOPLE, add_people

    inv = _invitation(language)
    mailer = InvitationMail(settings)
    with transaction(engine) as s:
        subs = add_people(s, PEOPLE[:2])
        row = sync_invitation(s, SLUG, inv, INVITED_AT).row
        mailer.plan_invitation(s, slug=SLUG, invitation=inv, row=row, list_slug="demo",
                               now=INVITED_AT)
        mailer.plan_reminder(s, slug=SLUG, invitation=inv, row=row, offset_key="7d",
                             subscriber_ids=[sub.id for sub in subs.values()],
                             now=INVITED_AT)
        assert list(s.scalars(select(Mailing.name).order_by(Mailing.id))) == names


def test_the_registration_page_says_when_the_first_year_is_free() -> None:
    from decimal import Decimal

    from mailer.config import Settings
    from mailer.domain.invitation import Cost
    from mailer.render.invitation import cost_text as mail_cost_text
    from mailer.web.pages import make_environment

    # The registration page's filter (it said "900 kr per person och år").
    page_cost_text = make_environment(Settings()).filters["cost"]
    cost = Cost(amount=Decimal(8000), per="organisation", first_year_free=True)
    assert page_cost_text(cost, "sv") == \
        "8\xa0000 kr/år/organisation (första året kostnadsfritt)"
    assert page_cost_text(cost, "en") == \
        "SEK 8,000 per organisation and year (the first year is free)"
    # The page words it as the invitation's mail does (it said "900 kr per person och år").
    assert page_cost_text(Cost(amount=Decimal(900)), "sv") == "900 kr/år/person" == \
        mail_cost_text(Cost(amount=Decimal(900)), "sv")
    assert page_cost_text(Cost(amount=Decimal(900), period="once"), "sv") == \
        "900 kr/person"
