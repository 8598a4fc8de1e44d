"""Check messages in Swedish and English: every ``msg()`` id has a Swedish text with the
same placeholders, plural forms follow the catalogue, and a problem names its section and
item by their titles."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from babel.messages.extract import extract

from mailer.authoring import load_document
from mailer.authoring.examples import flagship_path
from mailer.domain.findings import msg
from mailer.render.i18n import Translator, describe_problem

ROOT = Path(__file__).resolve().parent.parent / "mailer"
SOURCES = [*ROOT.glob("domain/*.py"), *ROOT.rglob("authoring/**/*.py"),
           ROOT / "services" / "mailings.py", ROOT / "web" / "admin" / "routes" / "preview.py"]


def _ids() -> set[str]:
    ids: set[str] = set()
    for path in SOURCES:
        with path.open("rb") as fh:
            for _line, message, _c, _x in extract("python", fh,
                                                  keywords={"msg": None, "N_": None}):
                if isinstance(message, str) and message:
                    ids.add(message)
    return ids


def test_every_check_message_has_swedish_with_the_same_placeholders() -> None:
    ids = _ids()
    assert len(ids) > 60
    sv = Translator("sv")
    missing = sorted(i for i in ids if i not in sv)
    assert missing == []
    for i in ids:
        assert sorted(re.findall(r"%\(\w+\)[rs]", i)) == \
            sorted(re.findall(r"%\(\w+\)[rs]", sv.gettext(i))), i


def test_plural_forms_come_from_the_catalogue() -> None:
    sv, en = Translator("sv"), Translator("en")
    forms = [sv.ngettext("%(n)s warning", "%(n)s warnings", n) % {"n": n} for n in (0, 1, 2)]
    assert forms == ["0 varningar", "1 varning", "2 varningar"]
    assert en.ngettext("%(n)s warning", "%(n)s warnings", 1) == "%(n)s warning"
    assert sv.ngettext("%(n)s error", "%(n)s errors", 1) == "%(n)s fel"


def test_a_problem_names_section_and_item_by_title_in_either_language() -> None:
    loaded = load_document(flagship_path(), today=dt.date(2023, 6, 20))
    passed = [p for p in loaded.warnings if p.field and p.field.endswith(".date")]
    assert passed
    p = passed[0]
    assert p.section == "Erbjudanden och utbildningar"
    assert str(p).split(": warning: ")[1].startswith(
        'section "Erbjudanden och utbildningar", item "Introduktion till medborgarbudget')
    sv = describe_problem(p, "sv")
    assert sv.startswith("Avsnittet ”Erbjudanden och utbildningar”, punkten ”Introduktion")
    assert ", datum: evenemanget (2023-06-16) har redan varit; uppdatera datumet" in sv
    en = describe_problem(p, "en")
    assert ", date: the event (2023-06-16) has passed" in en
    assert describe_problem(p, "sv", place=False).startswith("Datum: evenemanget")


def test_a_message_is_its_english_text_and_translates_with_its_values() -> None:
    m = msg("link %(url)r has a space in its host name", url="https://sk r.se")
    assert m == "link 'https://sk r.se' has a space in its host name"
    assert Translator("sv").localise(m) == \
        "länken 'https://sk r.se' har ett mellanslag i värdnamnet"
    assert Translator("sv").localise("plain text") == "plain text"
    nested = msg("is required; %(hint)s", hint=msg("add year: e.g. 2023"))
    assert Translator("sv").localise(nested) == "måste fyllas i; lägg till year: t.ex. 2023"
