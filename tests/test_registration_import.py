"""Registration CSV import: a report for bad rows, nothing wrong changed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from mailer.domain.registration import RegistrationStatus
from mailer.domain.registration_rows import map_columns
from mailer.errors import MailerError
from mailer.store.db import transaction
from mailer.store.models import RegistrationRow
from mailer.store.registration_import import import_registrations, read_rows
from tests.invite_helpers import SLUG, invited

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2023, 2, 16, 9, tzinfo=UTC)
IDS = {SLUG, "19425"}

GOOD_AND_BAD = """\ufeffE-post;Namn;Kommun;Projekt-ID;Anmäld
anna.andersson@hylte.se;Anna Andersson;Hylte kommun;19425;2023-02-01 10:00
bengt.berg@hylte.se;Bengt Berg;Hylte kommun;19425;2023-02-01 11:00
cecilia.claesson@hylte.se;Cecilia Claesson;Hylte kommun;19425;2023-02-02 09:00
ANNA.ANDERSSON@hylte.se;Anna Andersson;Hylte kommun;19425;2023-02-03 09:00
okand.person@lund.se;Okänd Person;Lunds kommun;19425;2023-02-01 12:00
david.dahl@uppsala.se;David Dahl;Uppsala kommun;20001;2023-02-01 12:00
inte-en-adress;X;Y;19425;2023-02-01
eva.ek@uppsala.se;Eva Ek;Uppsala kommun;19425;igår
fredrik.falk@ornskoldsvik.se;Fredrik Falk;Örnsköldsviks kommun;19425;2023-02-04
"""


def _count(engine: Engine) -> int:
    with transaction(engine) as s:
        return int(s.scalar(select(func.count()).select_from(RegistrationRow)) or 0)


def test_report_and_only_good_rows_applied(engine: Engine) -> None:
    data = b"\xef\xbb\xbf" + GOOD_AND_BAD.lstrip("\ufeff").encode("utf-8")
    with transaction(engine) as s:
        row, _ = invited(s)
        report = import_registrations(s, row, data, accepted_ids=IDS, tz=TZ, now=NOW,
                                      source="delegia.csv")
    assert sorted(report.registered) == ["anna.andersson@hylte.se", "bengt.berg@hylte.se",
                                         "fredrik.falk@ornskoldsvik.se"]
    reasons = {r.line: r.reason for r in report.rejected}
    assert set(reasons) == {4, 5, 6, 7, 8, 9}
    assert reasons[4].startswith("Hylte kommun already has 2 of 2 seats (held by Anna")
    assert reasons[5] == "duplicate of line 2; left out"
    assert "not a known subscriber" in reasons[6]
    assert "belongs to invitation '20001'" in reasons[7]
    assert "not a valid e-mail address" in reasons[8]
    assert "'igår' is not a date" in reasons[9]
    # a row refused for its date names its address; one with no valid address cannot
    emails = {r.line: r.email for r in report.rejected}
    assert (emails[9], emails[8]) == ("eva.ek@uppsala.se", "")
    assert report.lines()[0] == ("registered 3, wait-listed 0, cancelled 0, unchanged 0, "
                                 "rejected 6")
    with transaction(engine) as s:
        got = {r.subscriber.email: (r.status, r.how.value, r.source)
               for r in s.scalars(select(RegistrationRow))}
    assert got["anna.andersson@hylte.se"] == (RegistrationStatus.registered, "import",
                                              "delegia.csv:2")
    assert len(got) == 3
    # importing the same file again changes nothing
    with transaction(engine) as s:
        from mailer.store.invitations import get_invitation

        again = import_registrations(s, get_invitation(s, SLUG, lock=True), data,
                                     accepted_ids=IDS, tz=TZ, now=NOW, source="delegia.csv")
    assert again.changed == 0 and len(again.unchanged) == 3
    assert _count(engine) == 3


def test_a_file_for_another_invitation_changes_nothing(engine: Engine) -> None:
    data = (b"email,name,organisation,event\n"
            b"anna.andersson@hylte.se,Anna Andersson,Hylte kommun,2019-natverk-fortroendevalda\n"
            b"bengt.berg@hylte.se,Bengt Berg,Hylte kommun,2019-natverk-fortroendevalda\n")
    with pytest.raises(MailerError, match="this file is for '2019-natverk-fortroendevalda', not "
                                          "for '2023-natverk-tjanstepersoner'"):
        with transaction(engine) as s:
            row, _ = invited(s)
            import_registrations(s, row, data, accepted_ids=IDS, tz=TZ, now=NOW, source="x.csv")
    assert _count(engine) == 0


def test_windows_1252_tabs_cancellations_and_new_people(engine: Engine) -> None:
    text = ("Förnamn\tEfternamn\tE-postadress\tOrganisation\tStatus\n"
            "Hanna\tHolm\thanna.holm@karlskoga.se\tKarlskoga kommun\tAnmäld\n"
            "Åsa\tÖberg\tasa.oberg@lund.se\tLunds kommun\tanmäld\n"
            "Hanna\tHolm\thanna.holm@karlskoga.se\tKarlskoga kommun\tAvbokad\n")
    data = text.encode("cp1252")
    with transaction(engine) as s:
        row, _ = invited(s)
        report = import_registrations(s, row, data, accepted_ids=IDS, tz=TZ, now=NOW,
                                      source="x.csv", create_unknown=True)
    assert report.created == ["asa.oberg@lund.se"]
    assert sorted(report.registered) == ["asa.oberg@lund.se", "hanna.holm@karlskoga.se"]
    assert report.rejected[0].reason == "duplicate of line 2; left out"


def test_a_cancellation_of_someone_never_registered_changes_nothing(engine: Engine) -> None:
    """A "cancelled" row for someone with no registration here (known or not) was
    refused; it changes nothing, so it is unchanged, and creates nobody. Importing the
    same export twice leaves its cancellations unchanged the second time."""
    text = ("E-post;Namn;Organisation;Status\n"
            "anna.andersson@hylte.se;Anna Andersson;Hylte kommun;anmäld\n"
            "bengt.berg@hylte.se;Bengt Berg;Hylte kommun;avbokad\n"
            "okand@lund.se;Okänd Person;Lunds kommun;avbokad\n")
    with transaction(engine) as s:
        row, _ = invited(s)
        report = import_registrations(s, row, text.encode("utf-8"), accepted_ids=IDS, tz=TZ,
                                      now=NOW, source="x.csv", create_unknown=True)
    assert report.rejected == [] and report.created == []
    assert report.registered == ["anna.andersson@hylte.se"]
    assert sorted(report.unchanged) == ["bengt.berg@hylte.se", "okand@lund.se"]
    assert _count(engine) == 1
    # a file with a cancelled row for a registration cancels it; again, nothing changes
    cancel_anna = b"E-post;Status\nanna.andersson@hylte.se;avbokad\n"
    from mailer.store.invitations import get_invitation

    for expected in (["anna.andersson@hylte.se"], []):
        with transaction(engine) as s:
            again = import_registrations(s, get_invitation(s, SLUG, lock=True), cancel_anna,
                                         accepted_ids=IDS, tz=TZ, now=NOW, source="y.csv")
        assert (again.cancelled, again.rejected) == (expected, [])
        assert len(again.unchanged) == 1 - len(expected)


def test_headers_and_empty_files() -> None:
    with pytest.raises(MailerError, match="no e-mail column"):
        map_columns(["Namn", "Kommun"])
    with pytest.raises(MailerError, match="the file is empty"):
        read_rows(b"  \n", tz=TZ)
    cols = map_columns(["E-post", "Namn", "Kommun"])
    assert cols.index == {"email": 0, "name": 1, "organisation": 2}


def test_a_space_in_an_address_is_explained_in_swedish() -> None:
    """email-validator's messages that name the refused characters are translated too
    (they were the English "…invalid characters: SPACE." on the Swedish admin page)."""
    from mailer.domain.registration_rows import RowProblem, parse_row
    from mailer.render.i18n import Translator

    columns = map_columns(["E-post", "Namn"])
    after = parse_row(["erik@ exempel.se", "Erik"], columns, 6, TZ)
    before = parse_row(["erik ek@exempel.se", "Erik"], columns, 7, TZ)
    assert isinstance(after, RowProblem) and isinstance(before, RowProblem)
    sv = Translator("sv")
    assert sv.localise(after.message) == ("'erik@ exempel.se' är ingen giltig e-postadress: "
                                          "Delen efter @ innehåller ogiltiga tecken: "
                                          "mellanslag.")
    assert sv.localise(before.message).endswith("ogiltiga tecken före @: mellanslag.")
    assert str(after.message).endswith("contains invalid characters: space.")  # the CLI

