"""Check and error messages in Swedish and English: every ``msg()``/``msgn()`` id anywhere
in mailer/ has a Swedish text with the same placeholders (plural ones both forms), plural
forms follow the catalogue, and a problem names its section and item by their titles."""

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
#: Every module: an error a service raises with ``msg()`` reaches the admin's pages.
#: (``render/sample.py`` calls its e-mail message ``msg``: ``msg["From"]`` is no text.)
SOURCES = [p for p in ROOT.rglob("*.py") if p != ROOT / "render" / "sample.py"]
KEYWORDS = {"msg": None, "N_": None, "msgn": (1, 2)}


def _messages() -> list[str | tuple[str, str]]:
    found: list[str | tuple[str, str]] = []
    for path in SOURCES:
        with path.open("rb") as fh:
            for _line, message, _c, _x in extract("python", fh, keywords=KEYWORDS):
                if isinstance(message, str) and message:
                    found.append(message)
                elif isinstance(message, tuple) and len(message) == 2 and message[0]:
                    found.append((str(message[0]), str(message[1])))
    return found


def _ids() -> set[str]:
    return {m for m in _messages() if isinstance(m, str)}


def test_every_check_message_has_swedish_with_the_same_placeholders() -> None:
    ids = _ids()
    assert len(ids) > 60
    sv = Translator("sv")
    missing = sorted(i for i in ids if i not in sv)
    assert missing == []
    for i in ids:
        assert sorted(re.findall(r"%\(\w+\)[rs]", i)) == \
            sorted(re.findall(r"%\(\w+\)[rs]", sv.gettext(i))), i


#: Plural messages whose Swedish singular is the English one word for word ("1 person").
SAME_SINGULAR_IN_SWEDISH = {"%(n)s person", "%(seats)s person per organisation",
                            "%(n)s problem"}
#: Swedish words with one form for both numbers ("1 fel", "2 fel").
ONE_FORM_IN_SWEDISH = {"%(n)s error", "%(n)s section", "%(n)s problem", "%(n)s recipient",
                       "recorded %(n)s outcome of an earlier worker that stopped, from its "
                       "journal",
                       # "1 försök misslyckades", "2 försök misslyckades"
                       "not sent yet: %(n)s attempt failed; next attempt %(when)s"}


def test_every_plural_error_has_both_swedish_forms() -> None:
    plurals = {m for m in _messages() if isinstance(m, tuple)}
    assert len(plurals) >= 2
    sv = Translator("sv")
    for singular, plural in plurals:
        assert sv.has_plural(singular), singular
        one, many = sv.ngettext(singular, plural, 1), sv.ngettext(singular, plural, 2)
        assert one != many or singular in ONE_FORM_IN_SWEDISH, singular
        assert one != singular or singular in SAME_SINGULAR_IN_SWEDISH, singular
        for form in (one, many):
            assert sorted(re.findall(r"%\(\w+\)[rs]", form)) == \
                sorted(re.findall(r"%\(\w+\)[rs]", plural)), form


def test_an_error_message_is_english_for_the_cli_and_swedish_on_a_page() -> None:
    from mailer.domain.registration import seats_full_message
    from mailer.errors import MailerError
    from mailer.services.mailings import AlreadySent, EarlierSend, check_window

    full = seats_full_message("Hylte kommun", ["Anna"], 1)
    assert full.startswith("Hylte kommun already has 1 of 1 seat (held by Anna)")
    assert Translator("sv").localise(full).startswith(
        "Hylte kommun har redan 1 av 1 plats (innehas av Anna)")
    two = Translator("sv").localise(seats_full_message("Hylte kommun", ["A", "B"], 2))
    assert two.startswith("Hylte kommun har redan 2 av 2 platser")
    sent = AlreadySent([EarlierSend(1, "done", ["medborgardialog"], 4, None),
                        EarlierSend(2, "scheduled", [], 0, None)])
    assert str(sent).startswith("this issue was already sent or is on its way: mailing 1 "
                                "(done, 4 sent, to medborgardialog); mailing 2 (scheduled")
    assert Translator("sv").localise(sent.message).startswith(
        "numret är redan skickat eller på väg: utskick 1 (klart, 4 skickade, till "
        "medborgardialog); utskick 2 (schemalagt, 0 skickade, till utvalda mottagare)")
    assert Translator("en").localise(sent.message) == str(sent)
    try:
        check_window("Mon-Fri 17-08")
    except MailerError as exc:
        assert "the window must end after it starts" in str(exc)
        assert Translator("sv").localise(exc.message) == (
            "sändningsfönstret 'Mon-Fri 17-08': fönstret måste sluta efter att det börjar, samma "
            "dag (eller 'off' för att skicka när som helst)")
    else:
        raise AssertionError("a window that ends before it starts was accepted")


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


def test_a_message_pickles_with_its_id_and_values() -> None:
    """The subscriber import's worker processes send rejected rows' reasons back pickled."""
    import pickle

    from mailer.domain.findings import msgn

    inner = msg("no e-mail address")
    outer = msg("%(reason)s (this row spans lines %(start)s-%(end)s: is a quote (\") never "
                "closed?)", reason=inner, start=3, end=4)
    for m in (inner, outer, msgn("%(n)s problem", "%(n)s problems", 2)):
        back = pickle.loads(pickle.dumps(m))
        assert (str(back), back.msgid, back.params, back.plural, back.n) == (
            str(m), m.msgid, m.params, m.plural, m.n)
    back = pickle.loads(pickle.dumps(outer))
    assert Translator("sv").localise(back).startswith("ingen e-postadress (raden sträcker")
    assert back.startswith("no e-mail address (this row spans lines 3-4")
