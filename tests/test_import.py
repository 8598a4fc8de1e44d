"""Subscriber import on SQLite and PostgreSQL: counts, encodings, bad input, nothing half-done."""

from __future__ import annotations

import csv
import functools
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from mailer.domain.addresses import AddressError, email_hash, email_key, normalise_address
from mailer.domain.findings import Msg
from mailer.domain.subscriber_rows import (
    ColumnMap,
    HeaderError,
    RowError,
    guess_org_kind,
    map_columns,
    parse_row,
)
from mailer.errors import MailerError
from mailer.render.i18n import Translator
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.importer import ImportReport, import_subscribers, rejected_path_for
from mailer.store.models import (
    ConsentEvent,
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.parallel import ROW_WORKER_NICE, RowParser
from mailer.store.subscribers import erase_subscriber, export_subscribers, find_subscriber

DEMO = Path(__file__).resolve().parent.parent / "subscribers" / "demo.csv"


@pytest.fixture
def lists(engine: Engine) -> Engine:
    with transaction(engine) as s:
        create_list(s, "nyhetsbrev", "Nyhetsbrev om medborgardialog")
        create_list(s, "natverk", "Nätverket", language="en")
    return engine


def run(engine: Engine, path: Path, slug: str = "nyhetsbrev", **kw: object) -> ImportReport:
    return import_subscribers(engine, path, slug, **kw)  # type: ignore[arg-type]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def count(engine: Engine, model: type) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def snapshot(engine: Engine) -> tuple[int, int, int, int]:
    return (count(engine, Subscriber), count(engine, Subscription),
            count(engine, ConsentEvent), count(engine, Organisation))


# --- the demo file --------------------------------------------------------------------

def test_demo_twice_second_time_all_unchanged(lists: Engine) -> None:
    first = run(lists, DEMO)
    c = first.counts
    assert first.rows == 52 and first.rejected == 0
    assert (c.imported, c.new_people, c.updated, c.unchanged) == (52, 52, 0, 0)
    assert first.format.encoding == "utf-8" and first.format.delimiter == ";"
    assert count(lists, ConsentEvent) == 52
    second = run(lists, DEMO)
    c = second.counts
    assert (c.imported, c.updated, c.unchanged, second.rejected) == (0, 0, 52, 0)
    assert count(lists, ConsentEvent) == 52  # no new consent for people already on the list
    assert not rejected_path_for(DEMO).exists()
    with transaction(lists) as s:
        asa = find_subscriber(s, "ASA.LINDQVIST@hylte.example")
        assert asa is not None and asa.name == "Åsa Lindqvist"
        assert asa.organisation is not None and asa.organisation.code == "1315"
        assert asa.organisation.kind == OrgKind.municipality
        assert asa.attributes == {"Telefon": "070-174 06 05"}
        hylte = s.scalar(select(func.count()).select_from(Subscriber).join(Organisation)
                         .where(Organisation.name_key == "hylte kommun"))
        assert hylte is not None and hylte >= 3
        region = s.scalar(select(Organisation).where(Organisation.name == "Region Uppsala"))
        assert region is not None and region.kind == OrgKind.region and region.code == "03"
        english = s.scalars(select(Subscriber.email).where(Subscriber.language == "en")).all()
        assert len(english) >= 2
        maria = find_subscriber(s, "maria.holm@uppsala.example")
        assert maria is not None and maria.email == "Maria.Holm@uppsala.example"


def test_demo_into_a_second_list_subscribes_existing_people(lists: Engine) -> None:
    run(lists, DEMO)
    report = run(lists, DEMO, "natverk")
    assert (report.counts.imported, report.counts.new_people) == (52, 0)
    assert count(lists, Subscriber) == 52 and count(lists, Subscription) == 104


# --- encodings and delimiters -------------------------------------------------------

SWEDISH = ("E-post;Namn;Kommun;Roll\r\n"
           "asa@hylte.example;Åsa Öberg;Hylte kommun;utvecklingsledare\r\n"
           "goran@uppsala.example;Göran Ärlig;Uppsala kommun;kommunfullmäktiges ordförande\r\n")


@pytest.mark.parametrize(("encoding", "label"), [("utf-8-sig", "UTF-8 with BOM"),
                                                 ("cp1252", "Windows-1252"),
                                                 ("utf-8", "UTF-8"),
                                                 ("utf-16", "UTF-16")])
def test_excel_files(lists: Engine, tmp_path: Path, encoding: str, label: str) -> None:
    path = write(tmp_path / "excel.csv", SWEDISH, encoding)
    report = run(lists, path)
    assert report.format.label == f"{label}, ';'-delimited"
    assert report.counts.imported == 2
    with transaction(lists) as s:
        names = set(s.scalars(select(Subscriber.name)))
        orgs = set(s.scalars(select(Organisation.name)))
    assert names == {"Åsa Öberg", "Göran Ärlig"}
    assert orgs == {"Hylte kommun", "Uppsala kommun"}


def test_cp1252_rejected_file_keeps_the_encoding(lists: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "gammal.csv", SWEDISH + "inte-en-adress;Örjan Å;Tierps kommun;x\r\n",
                 "cp1252")
    report = run(lists, path)
    assert report.rejected == 1 and report.rejected_path == tmp_path / "gammal.rejected.csv"
    text = report.rejected_path.read_bytes().decode("cp1252")
    assert "Örjan Å" in text and ";4;" in text


def test_utf8_wins_when_the_whole_file_is_utf8(lists: Engine, tmp_path: Path) -> None:
    # An 'ö' far down a file must decide the same way as one on line 2.
    lines = ["email,name"] + [f"p{i}@example.org,Person {i}" for i in range(3000)]
    lines.append("last@example.org,Björn Östlund")
    path = write(tmp_path / "long.csv", "\n".join(lines) + "\n")
    report = run(lists, path)
    assert report.format.encoding == "utf-8" and report.format.delimiter == ","
    with transaction(lists) as s:
        assert find_subscriber(s, "last@example.org").name == "Björn Östlund"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "delimiter"), [
    ("email\tname\na@example.org\tAnna\n", "\t"),
    ('email,name,organisation\na@example.org,"Svensson, Anna","Hylte kommun"\n', ","),
    ('"namn; med semikolon",e-post\n"A; B",a@example.org\n', ","),
    ("email|name\na@example.org|Anna\n", "|"),
])
def test_delimiters(lists: Engine, tmp_path: Path, text: str, delimiter: str) -> None:
    report = run(lists, write(tmp_path / "d.csv", text))
    assert report.format.delimiter == delimiter
    assert report.counts.imported == 1 and report.rejected == 0


# --- rejected rows --------------------------------------------------------------------

def test_invalid_addresses_and_case_duplicates(lists: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "members.csv", (
        "email;name;organisation;extra\n"
        "anna@example.org;Anna;Hylte kommun;x\n"          # 2
        "ANNA@Example.ORG;Anna igen;Hylte kommun;y\n"     # 3 duplicate of 2
        "bertil@;Bertil;;\n"                              # 4 invalid
        ";Ingen adress;;\n"                               # 5 no address
        "cecilia@example..org;Cecilia;;\n"                # 6 invalid
        "Cecilia Svensson <cecilia@example.org>;C;;\n"    # 7 display name not allowed
        "david@example.org;David;Hylte kommun;;spill\n"   # 8 too many values
        "eva@example.org;Eva;Hylte kommun;z\n"            # 9 fine
        ";;;\n"                                           # 10 empty row: skipped
        "fredrik@example.org;Fredrik;;;\n"                # 11 empty extra value: fine
    ))
    report = run(lists, path)
    assert report.counts.imported == 3 and report.rejected == 6 and report.empty_rows == 1
    assert report.rows == 10
    reasons = {r.line: r.reason for r in report.first_rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert reasons[3].startswith("duplicate of line 2")
    assert reasons[4].startswith("invalid e-mail address 'bertil@'")
    assert reasons[5] == "no e-mail address"
    assert "display name" in reasons[7]
    assert "5 values but the header has 4 columns" in reasons[8]
    rows = list(csv.reader(rejected_path_for(path).open(encoding="utf-8"), delimiter=";"))
    assert rows[0] == ["email", "name", "organisation", "extra", "line", "reason"]
    assert rows[1][:5] == ["ANNA@Example.ORG", "Anna igen", "Hylte kommun", "y", "3"]
    assert rows[6][4:] == ["8", reasons[8], "spill"]
    with transaction(lists) as s:
        anna = find_subscriber(s, "anna@example.org")
        assert anna is not None and anna.name == "Anna"  # the first one wins
    # A clean run afterwards removes the stale rejected file.
    clean = write(tmp_path / "members.csv", "email\nanna@example.org\n")
    assert run(lists, clean).rejected == 0
    assert not rejected_path_for(path).exists()


def test_duplicates_across_batches(lists: Engine, tmp_path: Path) -> None:
    rows = [f"p{i}@example.org" for i in range(7)] + ["P3@EXAMPLE.ORG", "p0@example.org"]
    path = write(tmp_path / "dups.csv", "email\n" + "\n".join(rows) + "\n")
    report = run(lists, path, batch_size=2)
    assert report.counts.imported == 7
    assert [(r.line, r.reason.split(" (")[0]) for r in report.first_rejected] == [
        (9, "duplicate of line 5"), (10, "duplicate of line 2")]


def test_unclosed_quote_spanning_lines_is_rejected_with_a_hint(lists: Engine,
                                                                tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'email;name\na@example.org;"Anna\nb@example.org;Bertil\n'
                 'c@example.org;Cecilia"\nd@example.org;David\n')
    report = run(lists, path)
    assert report.counts.imported == 1
    (rej,) = report.first_rejected
    assert rej.line == 2 and "line break" in rej.reason and "spans lines 2-4" in rej.reason


# --- fatal errors change nothing ------------------------------------------------------

def fatal(lists: Engine, path: Path, match: str, **kw: object) -> None:
    before = snapshot(lists)
    with pytest.raises(MailerError, match=match):
        run(lists, path, **kw)
    assert snapshot(lists) == before
    assert not rejected_path_for(path).exists()
    assert not list(path.parent.glob("*.tmp"))


def test_missing_email_column(lists: Engine, tmp_path: Path) -> None:
    run(lists, DEMO)
    path = write(tmp_path / "x.csv", "Namn;Kommun;Telefon\nAnna;Hylte kommun;1\n")
    fatal(lists, path, r"no e-mail column\. Columns found: 'Namn', 'Kommun', 'Telefon'\. "
                       r"Accepted names .*e-post")


@pytest.mark.parametrize(("content", "match"), [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf", "the file is empty"),
    (b"\r\n\r\n  \r\n", "the file is empty"),
    (b"\n\n", "the file is empty"),
    (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
    (b"email\nanna@example.org\x00\x01\x02\n", "NUL bytes"),
    (b"email\n" + b"\x81\x8d\x8f\x90\x9d\n", "cannot read the text"),
])
def test_unusable_files(lists: Engine, tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    fatal(lists, path, match)


def test_missing_file_and_folder(lists: Engine, tmp_path: Path) -> None:
    with pytest.raises(MailerError, match="no such file"):
        run(lists, tmp_path / "nope.csv")
    with pytest.raises(MailerError, match="is a folder"):
        run(lists, tmp_path)


def test_ten_megabyte_line(lists: Engine, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w") as f:
        f.write("email;name\n")
        f.writelines(f"p{i}@example.org;P {i}\n" for i in range(20))
        f.write("x" * 10_000_000 + "\n")
        f.write("last@example.org;Last\n")
    fatal(lists, path, r"line 22 is longer than 1024 KiB")
    only = tmp_path / "one-line.csv"
    only.write_text("email;" + "y" * 10_000_000)
    fatal(lists, only, r"line 1 is longer than 1024 KiB")


def test_fatal_error_half_way_keeps_the_committed_batches(lists: Engine,
                                                          tmp_path: Path) -> None:
    """Imports commit batch by batch (the web gets the write lock between batches); a fatal
    error keeps the batches before it, says so, and the same file imports again cleanly."""
    # Short lines (so the first pass finds nothing), then a quote that is never closed:
    # the csv module gives up after 128 KiB, long after the first batches were written.
    path = tmp_path / "half.csv"
    with path.open("w") as f:
        f.write("email;name\n")
        f.writelines(f"p{i}@example.org;P {i}\n" for i in range(50))
        f.write('q@example.org;"Quote\n')
        f.writelines("more text without a closing quote\n" for _ in range(5000))
    with pytest.raises(MailerError, match=r"line 52: field larger than field limit .* never "
                       r"closed.*the rows before line 52 are imported"):
        run(lists, path, batch_size=10)
    assert count(lists, Subscriber) == 50
    assert not rejected_path_for(path).exists()
    path.write_text("email;name\n" + "".join(f"p{i}@example.org;P {i}\n" for i in range(51)))
    again = run(lists, path, batch_size=10)
    assert (again.counts.imported, again.counts.unchanged) == (1, 50)


def test_unknown_list_changes_nothing(lists: Engine) -> None:
    before = snapshot(lists)
    with pytest.raises(MailerError, match="no list 'okand'; known lists: natverk, nyhetsbrev"):
        run(lists, DEMO, "okand")
    assert snapshot(lists) == before


def test_dry_run_saves_nothing(lists: Engine, tmp_path: Path) -> None:
    report = run(lists, DEMO, dry_run=True)
    assert report.counts.imported == 52 and report.dry_run
    assert snapshot(lists) == (0, 0, 0, 0)


# --- upsert rules ----------------------------------------------------------------------

def test_unsubscribed_is_never_reactivated(lists: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "email;name;roll\nanna@example.org;Anna;samordnare\n")
    run(lists, path)
    with transaction(lists) as s:
        s.execute(update(Subscription).values(status=SubscriptionStatus.unsubscribed))
    again = write(tmp_path / "b.csv", "email;name;roll\nANNA@example.org;Anna Ny;chef\n")
    report = run(lists, again)
    c = report.counts
    assert (c.imported, c.updated, c.unchanged, c.kept_unsubscribed) == (0, 0, 0, 1)
    with transaction(lists) as s:
        anna = find_subscriber(s, "anna@example.org")
        assert anna is not None and (anna.name, anna.role) == ("Anna", "samordnare")
        assert anna.subscriptions[0].status == SubscriptionStatus.unsubscribed
    assert count(lists, ConsentEvent) == 1


def test_updates_keep_what_empty_cells_do_not_give(lists: Engine, tmp_path: Path) -> None:
    run(lists, write(tmp_path / "a.csv", "email;name;organisation;role;språk;telefon\n"
                     "anna@example.org;Anna;Hylte kommun;samordnare;en;123\n"
                     "bo@example.org;Bo;Hylte kommun;;;\n"))
    report = run(lists, write(tmp_path / "b.csv", "email;name;organisation;role;språk;rum\n"
                              "anna@example.org;;;chef;;A1\n"
                              "bo@example.org;Bo;;;;\n"))
    assert (report.counts.updated, report.counts.unchanged) == (1, 1)
    with transaction(lists) as s:
        anna = find_subscriber(s, "anna@example.org")
        assert anna is not None
        assert (anna.name, anna.role, anna.language) == ("Anna", "chef", "en")
        assert anna.organisation is not None and anna.organisation.name == "Hylte kommun"
        assert anna.attributes == {"telefon": "123", "rum": "A1"}


def test_unconfirmed_becomes_active_with_consent(lists: Engine, tmp_path: Path) -> None:
    with transaction(lists) as s:
        person = Subscriber(email="anna@example.org", email_key="anna@example.org")
        s.add(person)
        s.flush()
        from mailer.store.lists import get_list

        s.add(Subscription(subscriber_id=person.id, list_id=get_list(s, "nyhetsbrev").id,
                           status=SubscriptionStatus.unconfirmed, source="form"))
    report = run(lists, write(tmp_path / "a.csv", "email\nAnna@example.org\n"))
    assert (report.counts.imported, report.counts.new_people) == (1, 0)
    with transaction(lists) as s:
        sub = s.scalar(select(Subscription))
        assert sub is not None and sub.status == SubscriptionStatus.active
        assert sub.confirmed_at is not None
        event = s.scalar(select(ConsentEvent))
        assert event is not None and (event.action, event.source) == ("import", "a.csv")
        assert event.email_hash == email_hash("anna@example.org")


def test_organisation_codes(lists: Engine, tmp_path: Path) -> None:
    report = run(lists, write(tmp_path / "o.csv", (
        "email,organisation,kommunkod\n"
        "a@example.org,Hylte kommun,1315\n"
        "b@example.org,HYLTE  KOMMUN,\n"            # same organisation, case and spaces
        "c@example.org,Upplands Väsby kommun,114\n"  # Excel ate the leading zero
        "d@example.org,Hylte kommun,1316\n"          # contradicts 1315: rejected
        "e@example.org,Halmstads kommun,1315\n"      # 1315 is Hylte's: rejected
        "f@example.org,,0114\n"                      # by code alone
        "g@example.org,Västra Götalandsregionen,\n"
        "h@example.org,Sveriges Kommuner och Regioner,\n"
    )))
    assert report.counts.imported == 6
    reasons = {r.line: r.reason for r in report.first_rejected}
    assert "has code 1315, but the row says 1316" in reasons[5]
    assert "code 1315 belongs to 'Hylte kommun'" in reasons[6]
    with transaction(lists) as s:
        orgs = {o.name: (o.kind, o.code) for o in s.scalars(select(Organisation))}
        f = find_subscriber(s, "f@example.org")
        assert f is not None and f.organisation is not None
        assert f.organisation.name == "Upplands Väsby kommun"
    assert orgs == {"Hylte kommun": (OrgKind.municipality, "1315"),
                    "Upplands Väsby kommun": (OrgKind.municipality, "0114"),
                    "Västra Götalandsregionen": (OrgKind.region, None),
                    "Sveriges Kommuner och Regioner": (OrgKind.other, None)}


def test_erased_people_are_not_added_back(lists: Engine, tmp_path: Path) -> None:
    run(lists, DEMO)
    with transaction(lists) as s:
        person = find_subscriber(s, "maria.holm@uppsala.example")
        assert person is not None
        erase_subscriber(s, person)
    with transaction(lists) as s:
        assert find_subscriber(s, "maria.holm@uppsala.example") is None
        events = s.scalars(select(ConsentEvent).where(
            ConsentEvent.email_hash == email_hash("maria.holm@uppsala.example"))).all()
        assert sorted(e.action for e in events) == ["erase", "import"]
        assert all(e.subscriber_id is None and e.ip is None for e in events)
    report = run(lists, DEMO)
    assert report.rejected == 1 and "erased at their request" in report.first_rejected[0].reason
    assert report.counts.unchanged == 51


def test_export_imports_again(lists: Engine, tmp_path: Path) -> None:
    run(lists, DEMO)
    out = tmp_path / "export.csv"
    with transaction(lists) as s, out.open("w", encoding="utf-8", newline="") as f:
        assert export_subscribers(s, "nyhetsbrev", f) == 52
    report = run(lists, out, "natverk")
    assert report.counts.imported == 52 and report.rejected == 0
    assert "ignored: status, source" in report.columns
    with transaction(lists) as s:
        asa = find_subscriber(s, "asa.lindqvist@hylte.example")
        assert asa is not None and asa.attributes == {"Telefon": "070-174 06 05"}


@pytest.mark.skipif(not hasattr(os, "nice"), reason="os.nice is POSIX")
def test_row_workers_run_at_a_lower_priority_than_the_import() -> None:
    """Bulk work yields the CPUs to the web and the worker (issue 13); the importing
    process, which holds SQLite's write lock while it commits, keeps its own priority."""
    ours = os.nice(0)
    with RowParser(ColumnMap(headers=("email",), email=0), workers=1) as parser:
        assert parser.pool is not None
        theirs = parser.pool.submit(os.nice, 0).result()
    assert theirs == min(19, ours + ROW_WORKER_NICE)
    assert os.nice(0) == ours


def test_parallel_parsing_gives_the_same_result(lists: Engine, tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8") + "fel@;X;Y;;;;;\nASA.lindqvist@hylte.example;;;;;;;\n"
    path = write(tmp_path / "p.csv", text)
    serial = run(lists, path, dry_run=True, workers=0)
    parallel = run(lists, path, dry_run=True, workers=2, batch_size=7)
    assert parallel.counts == serial.counts
    assert parallel.first_rejected == serial.first_rejected
    assert len(serial.first_rejected) == 2
    # The reasons the worker processes sent back are still messages: the admin shows
    # them in Swedish (the CLI and the rejected file in English, as ever).
    sv = Translator("sv")
    for ours, theirs in zip(serial.first_rejected, parallel.first_rejected, strict=True):
        assert isinstance(theirs.reason, Msg) and theirs.reason.msgid == ours.reason.msgid
        assert sv.localise(theirs.reason) == sv.localise(ours.reason) != str(ours.reason)
    assert "e-postadress" in sv.localise(parallel.first_rejected[0].reason)


def test_rows_read_ahead_in_a_thread_arrive_in_order_and_errors_where_they_happened() -> None:
    """The file is read and checked in a thread ahead of the database writes (with
    workers): the items arrive in order, an error of the reading side is raised to the
    writer at the item where it happened, and a writer that stops early stops the thread."""
    import threading

    from mailer.store.importer import _Ahead

    def source(fail_at: int | None) -> Iterator[int]:
        for i in range(10):
            if i == fail_at:
                raise MailerError("line 7: broken")
            yield i

    with _Ahead(source(None), 2) as ahead:
        assert list(ahead) == list(range(10))
        assert list(ahead) == []  # asked again: still the end
    got: list[int] = []
    with pytest.raises(MailerError, match="broken"), _Ahead(source(6), 2) as ahead:
        got.extend(ahead)
    assert got == [0, 1, 2, 3, 4, 5]
    endless = _Ahead(iter(functools.partial(int, 1), None), 1)  # would never end
    assert next(endless) == 1
    endless.close()
    assert not any(t.name == "import-read" for t in threading.enumerate())
    with _Ahead(source(None), 0) as inline:  # depth 0: no thread at all
        assert inline.thread is None and list(inline) == list(range(10))


def test_batches_of_several_parse_chunks_give_the_same_result(
        lists: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch (one commit) gathers several chunks checked by the workers, in file order."""
    from mailer.store import importer

    text = (DEMO.read_text(encoding="utf-8") + "fel@;X;Y;;;;;\n;;;;;;;\n"
            "ASA.lindqvist@hylte.example;;;;;;;\n")
    path = write(tmp_path / "p.csv", text)
    whole = run(lists, path, dry_run=True, workers=0, batch_size=7)
    rejected = rejected_path_for(path).read_text(encoding="utf-8")
    monkeypatch.setattr(importer, "PARSE_CHUNK", 3)
    for workers in (0, 2):
        chunked = run(lists, path, dry_run=True, workers=workers, batch_size=7)
        assert (chunked.counts, chunked.rows, chunked.empty_rows, chunked.first_rejected) == (
            whole.counts, whole.rows, whole.empty_rows, whole.first_rejected)
        assert rejected_path_for(path).read_text(encoding="utf-8") == rejected
    assert whole.rejected == 2 and whole.empty_rows == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_every_new_person_gets_their_own_subscription_and_consent_row(
        lists: Engine, tmp_path: Path, workers: int) -> None:
    """The new people's ids (SQLite: counted from the last rowid; PostgreSQL: the one
    statement's own) land on the right rows, with people already in the database and
    rejected rows between them, over several batches; with workers, the hashes and the
    attributes' JSON they compute are the ones stored."""
    run(lists, write(tmp_path / "first.csv", "email;name\n" + "".join(
        f"old{i}@example.org;Old {i}\n" for i in range(0, 40, 3))))
    lines = []
    for i in range(40):
        lines.append(f"new{i}@example.org;New {i};Å \"{i}\"")
        if i % 3 == 0:
            lines.append(f"old{i}@example.org;Old {i} again")
        if i % 7 == 0:
            lines.append("not an address;Nobody")
    report = run(lists, write(tmp_path / "second.csv", "email;name;Anteckning\n"
                              + "\n".join(lines)), batch_size=9, workers=workers)
    assert (report.counts.new_people, report.counts.updated, report.rejected) == (40, 14, 6)
    with transaction(lists) as s:
        people = {p.id: p for p in s.scalars(select(Subscriber))}
        subscribed = [people[i].email_key for i in s.scalars(select(Subscription.subscriber_id))]
        logged = s.execute(select(ConsentEvent.subscriber_id, ConsentEvent.email_hash)).all()
    assert sorted(subscribed) == sorted(p.email_key for p in people.values())
    assert len(logged) == len(people) == 54
    for subscriber_id, hashed in logged:
        assert hashed == email_hash(people[subscriber_id].email_key)
    assert all(p.name.startswith("New") for p in people.values()
               if p.email_key.startswith("new"))
    assert all(p.attributes == {"Anteckning": f'Å "{p.email_key[3:].split("@")[0]}"'}
               for p in people.values() if p.email_key.startswith("new"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # SQLite's WAL only
def test_sqlite_checkpoints_beside_the_import_and_the_wal_starts_over(
        lists: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite the import's commits do not checkpoint; a thread of its own copies the WAL
    back into the database file, and every WAL_SETTLE_ROWS rows committed the import waits for
    it, so the next batch starts the WAL file over instead of appending to it all the way
    through the import. The pooled connection gets its automatic checkpoint back."""
    from mailer.store import db
    from mailer.store.db import READ_ONLY

    monkeypatch.setattr(db, "WAL_SETTLE_ROWS", 100)  # every 2 commits of 50
    database = Path(lists.url.database or "")
    wal = database.with_name(database.name + "-wal")
    checkpoints: list[int] = []
    original = db.WalCheckpointer._run

    def counted(self: db.WalCheckpointer) -> None:
        checkpoints.append(0)
        original(self)

    monkeypatch.setattr(db.WalCheckpointer, "_run", counted)
    size_before = database.stat().st_size
    path = write(tmp_path / "many.csv", "email;name;Anteckning\n" + "".join(
        f"p{i}@example.org;P {i};{'x' * 300}\n" for i in range(3000)))
    report = run(lists, path, batch_size=50, workers=0)  # 60 commits
    assert report.counts.imported == 3000 and checkpoints == [0]  # one thread
    grown = database.stat().st_size - size_before
    # 60 batches appended to one WAL would make it larger than what the database grew by
    # (each batch writes its pages again: index tails, the heap's last page…); started
    # over every 2 commits it holds about 3 batches.
    assert wal.exists() and 0 < wal.stat().st_size < grown / 4
    reader = lists.execution_options(**{READ_ONLY: True})  # no write lock taken
    pooled = [reader.connect() for _ in range(3)]  # whichever pooled one the import had
    try:
        assert {c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
                for c in pooled} == {1000}
    finally:
        for c in pooled:
            c.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # SQLite's write lock only
def test_sqlite_transactions_grow_while_no_writer_waits_and_commit_when_one_does(
        lists: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a transaction goes on with the next batch (up to ``transaction_rows``)
    while no writer waits for the write lock, and commits after the batch during which
    one started waiting."""
    from mailer.store import db
    from mailer.store.db import READ_ONLY, _writers_of

    monkeypatch.setattr(db, "BULK_YIELD_MAX", 0.01)  # the waiter below never goes
    reader = lists.execution_options(**{READ_ONLY: True})  # sees what is committed
    seen: list[int] = []

    def progress(line: int, _lines: int) -> None:
        with reader.connect() as c:
            seen.append(int(c.exec_driver_sql("SELECT count(*) FROM subscribers").scalar_one()))

    def rows(first: int) -> Path:
        return write(tmp_path / f"from-{first}.csv", "email;name\n" + "".join(
            f"p{i}@example.org;P {i}\n" for i in range(first, first + 100)))

    report = run(lists, rows(0), batch_size=10, transaction_rows=30, workers=0,
                 progress=progress)
    assert report.counts.imported == 100
    # nobody waits: 30 rows a commit (after batches 3, 6, 9), the last 10 at the end
    assert seen == [0, 0, 0, 30, 30, 30, 60, 60, 60, 90, 90]
    assert count(lists, Subscriber) == 100

    # A writer waits (it holds the marker file shared while it waits for the lock, as
    # ``_wait_for_write_lock`` does, in this process or another): each batch commits.
    writers = _writers_of(lists.url.database or "")
    seen.clear()
    writers.waiting()
    try:
        assert writers.others_wait()
        report = run(lists, rows(100), batch_size=10, transaction_rows=30, workers=0,
                     progress=progress)
    finally:
        writers.done()
    assert not writers.others_wait()
    assert report.counts.imported == 100
    assert seen == list(range(100, 201, 10))


def test_the_corrected_rejected_file_imports_again(lists: Engine, tmp_path: Path) -> None:
    """The rejected file's ``line`` and ``reason`` are no attributes of the person."""
    bad = tmp_path / "medlemmar.csv"
    bad.write_text("e-post;namn;Telefon\nfel-adress;Fel Person;070\n", encoding="utf-8")
    report = run(lists, bad)
    assert report.rejected == 1 and report.rejected_path is not None
    fixed = report.rejected_path.read_text(encoding="utf-8").replace("fel-adress", "fel@x.se")
    assert fixed.splitlines()[0] == "e-post;namn;Telefon;line;reason"
    report.rejected_path.write_text(fixed, encoding="utf-8")
    again = run(lists, report.rejected_path)
    assert again.counts.imported == 1 and "ignored: line, reason" in again.columns
    with transaction(lists) as s:
        person = find_subscriber(s, "fel@x.se")
        assert person is not None and person.attributes == {"Telefon": "070"}
    # Only as the last two columns: elsewhere a column called "reason" is the person's.
    assert [n for _, n in map_columns(["email", "reason", "line"]).attributes] == \
        ["reason", "line"]


# --- pure parts -------------------------------------------------------------------------

def test_header_names() -> None:
    cols = map_columns(["Förnamn", "EFTERNAMN", "E-postadress", "Kommun", "Region", "Titel",
                        "Språk", "Kommunkod", "Telefon", "", "status"])
    assert cols.email == 2 and cols.first_name == 0 and cols.last_name == 1
    assert cols.organisation == 3 and cols.role == 5 and cols.language == 6 and cols.code == 7
    assert [n for _, n in cols.attributes] == ["Region", "Telefon", "column 10"]
    assert cols.ignored == (10,)
    row = parse_row(["Åsa ", " Öberg", " Asa.Oberg@Hylte.Example ", "Hylte  kommun", "",
                     "utvecklingsledare", "Svenska", "1315", "070", "", "active"], cols, 7)
    assert (row.email, row.key, row.name) == ("Asa.Oberg@hylte.example",
                                              "asa.oberg@hylte.example", "Åsa Öberg")
    assert (row.organisation, row.language, row.code) == ("Hylte kommun", "sv", "1315")
    assert row.attributes == {"Telefon": "070"}
    with pytest.raises(RowError, match="language 'tyska' is not supported"):
        parse_row(["A", "B", "a@example.org", "", "", "", "tyska"], cols, 2)
    with pytest.raises(HeaderError, match="Columns found: 'namn'"):
        map_columns(["namn"])
    for header in ("email", "E-mail", "e_post", "EPOST", "Mail", "E-postadress"):
        assert map_columns([header]).email == 0


def test_org_kind() -> None:
    assert guess_org_kind("Hylte kommun") == "municipality"
    assert guess_org_kind("Göteborgs Stad") == "municipality"
    assert guess_org_kind("Region Västernorrland") == "region"
    assert guess_org_kind("Västra Götalandsregionen") == "region"
    assert guess_org_kind("Nätverket", "2284") == "municipality"
    assert guess_org_kind("Länsstyrelsen") == "other"


def test_addresses() -> None:
    assert normalise_address(" Anna.Svensson@EXAMPLE.org ").email == "Anna.Svensson@example.org"
    assert email_key("ANNA@Example.org") == "anna@example.org"
    assert email_key("not an address") == "not an address"
    with pytest.raises(AddressError):
        normalise_address("anna@localhost")
    assert len(email_hash("anna@example.org")) == 64


def test_domain_cache_changes_no_result() -> None:
    module = sys.modules["email_validator.validate_email"]
    cached = module.validate_email_domain_name
    original = cached.__wrapped_original__
    samples = ["a@example.org", "b@EXAMPLE.ORG", "c@ex-ample.org", "d@-bad.org", "e@bad-.org",
               "f@xn--bcher-kva.example", "g@bücher.example", "h@exa mple.org", "i@.org",
               "j@org", "k@example.test", "l@example..org", "m@" + "a" * 64 + ".org",
               "n@localhost", "o@Ｅxample.org", "p@example.org.", "q@[127.0.0.1]"]
    from email_validator import EmailNotValidError, validate_email

    def outcome() -> list[str]:
        out = []
        for address in samples + samples:  # twice: the second round hits the cache
            try:
                out.append(validate_email(address, check_deliverability=False).normalized)
            except EmailNotValidError as exc:
                out.append(f"error: {exc}")
        return out

    with_cache = outcome()
    module.validate_email_domain_name = original
    try:
        assert outcome() == with_cache
    finally:
        module.validate_email_domain_name = cached
    assert isinstance(cached, functools._lru_cache_wrapper)


def test_suppressed_addresses_are_never_reactivated_and_are_reported(lists: Engine) -> None:
    """A bounced or complaining address stays out, whether new, unconfirmed or erased."""
    from mailer.services.deliverability import add_suppression
    from mailer.store.models import Subscription, SubscriptionStatus

    run(lists, DEMO)
    with transaction(lists) as s:
        person = find_subscriber(s, "maria.holm@uppsala.example")
        assert person is not None
        for sub in person.subscriptions:
            sub.status = SubscriptionStatus.unconfirmed
        assert add_suppression(s, "Maria.Holm@uppsala.example", now=datetime.now(UTC),
                               reason="hard_bounce")
    report = run(lists, DEMO)
    assert report.rejected == 1
    assert "suppression list (hard_bounce)" in report.first_rejected[0].reason
    with transaction(lists) as s:
        statuses = {str(x) for x in s.scalars(select(Subscription.status).join(Subscriber)
                                             .where(Subscriber.email_key ==
                                                    "maria.holm@uppsala.example"))}
    assert statuses == {"unconfirmed"}


# --- the COPY path (PostgreSQL) gives the same rows as executemany ---------------------

TRICKY = (
    'E-post,Namn,Organisation,Kommunkod,Roll,Språk,Anteckning\n'
    'asa@example.org,"Åsa ""Kicki"" Öberg","Hylte kommun",1315,"ordförande, KF",sv,"rad 1\n'
    'rad 2"\n'
    'bo@example.org,Bo Ny,,,,,\\N\n'                    # unsubscribed earlier: untouched
    'cia@example.org,Cia,"Region Örebro län",,,en,"tab\there"\n'   # unconfirmed -> active
    'dan@example.org,,,,chef,,"back\\slash"\n'          # existing: role and note change
    'eva@example.org,Eva,Hylte kommun,,,,\n'            # existing, unchanged
    'ASA@example.org,Dubblett,,,,,\n'                   # duplicate in the same batch
    'fel@,Fel,,,,,\n'                                   # invalid address
    'gun@example.org,Gun,Halmstads kommun,1315,,,\n'    # 1315 is Hylte\'s: rejected
    'erased@example.org,Borttagen,,,,,\n'               # erased at their request
    ',,,,,,\n'                                          # Excel's empty row
    'Dan@Example.org,Dan igen,,,,,\n'                   # duplicate across batches
    'hans@example.org,"Hans, med komma","Västra Götalandsregionen",,,,"{""json"": 1}"\n'
    'ida@example.org,Ida,,0114,,,\n'                    # unknown code alone: rejected
)


def _reset_pg(engine: Engine) -> None:
    from sqlalchemy import text

    from mailer.store.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _seed(engine: Engine, tmp_path: Path) -> None:
    from mailer.store.lists import get_list

    with transaction(engine) as s:
        create_list(s, "nyhetsbrev", "Nyhetsbrev om medborgardialog")
    run(engine, write(tmp_path / "seed.csv", "email;name;organisation;role\n"
                      "bo@example.org;Bo;;\ndan@example.org;Dan;;handläggare\n"
                      "eva@example.org;Eva;Hylte kommun;\nerased@example.org;E;;\n"),
        copy=False)
    with transaction(engine) as s:
        lst = get_list(s, "nyhetsbrev")
        s.execute(update(Subscription).where(Subscription.subscriber_id == select(
            Subscriber.id).where(Subscriber.email_key == "bo@example.org").scalar_subquery())
            .values(status=SubscriptionStatus.unsubscribed))
        cia = Subscriber(email="cia@example.org", email_key="cia@example.org", name="C")
        s.add(cia)
        s.flush()
        s.add(Subscription(subscriber_id=cia.id, list_id=lst.id, source="form",
                           status=SubscriptionStatus.unconfirmed))
        erased = find_subscriber(s, "erased@example.org")
        assert erased is not None
        erase_subscriber(s, erased)


def _dump(engine: Engine, now: object) -> dict[str, list[tuple[object, ...]]]:
    """Every row the import may touch; times of the seeding (the clock's) read "before"."""
    from datetime import datetime

    from mailer.store.models import Base

    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for name in ("organisations", "subscribers", "subscriptions", "consent_events"):
            table = Base.metadata.tables[name]
            out[name] = [tuple("before" if isinstance(v, datetime) and v != now else v
                               for v in r)
                         for r in conn.execute(select(table).order_by(table.c.id))]
    return out


@pytest.mark.postgres
def test_copy_path_gives_the_same_rows_as_executemany(pg_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from mailer.store.db import make_engine

    engine = make_engine(pg_url)
    path = write(tmp_path / "tricky.csv", TRICKY)
    now = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
    results = {}
    try:
        for copy in (False, True):
            _reset_pg(engine)
            _seed(engine, tmp_path)
            report = run(engine, path, copy=copy, now=now, batch_size=4, workers=0)
            rejected = rejected_path_for(path).read_text(encoding="utf-8")
            results[copy] = (report.counts, report.rows, report.empty_rows, report.rejected,
                             report.first_rejected, rejected, _dump(engine, now))
    finally:
        _reset_pg(engine)
        engine.dispose()
        rejected_path_for(path).unlink(missing_ok=True)
    assert results[True] == results[False]
    counts, rows, empty, rejected_count, first, _, dump = results[True]
    assert (counts.imported, counts.new_people, counts.updated, counts.unchanged,
            counts.kept_unsubscribed) == (3, 2, 1, 1, 1)
    assert (rows, empty, rejected_count) == (13, 1, 6)
    reasons = {r.line: r.reason for r in first}  # lines as in the file (line 2 spans two)
    assert sorted(reasons) == [8, 9, 10, 11, 13, 15]
    assert "duplicate of line 2" in reasons[8] and "duplicate of line 6" in reasons[13]
    people = {r[2]: r for r in dump["subscribers"]}  # by email_key
    assert people["asa@example.org"][3] == 'Åsa "Kicki" Öberg'
    # One-line cleaning at the boundary (issue 13): a line break or tab becomes a space.
    assert people["asa@example.org"][7] == {"Anteckning": "rad 1 rad 2"}
    assert people["bo@example.org"][3] == "Bo"
    assert people["dan@example.org"][7] == {"Anteckning": "back\\slash"}
    assert people["cia@example.org"][7] == {"Anteckning": "tab here"}
    assert people["hans@example.org"][7] == {"Anteckning": '{"json": 1}'}


@pytest.mark.postgres
def test_copy_path_uses_returned_ids_and_falls_back_when_someone_came_in_between(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """COPY: the new people's ids come from the INSERT's RETURNING; when a web sign-up added
    one of the addresses between the batch's look-up and its insert (ON CONFLICT skipped
    it), the look-up by line runs as before and that person is subscribed with consent."""
    from mailer.store import upsert
    from mailer.store.db import make_engine

    engine = make_engine(pg_url)
    path = write(tmp_path / "race.csv", "email;name\n" + "".join(
        f"p{i}@example.org;P {i}\n" for i in range(6)))
    looked_up: list[int] = []
    original_ids, original_people = upsert.SeenRows.ids, upsert.SeenRows.people

    def ids(self: upsert.SeenRows, first: int) -> dict[int, int]:
        looked_up.append(first)
        return original_ids(self, first)

    def people(self: upsert.SeenRows, first: int, list_id: int) -> dict[int, object]:
        found = original_people(self, first, list_id)
        if first == 5:  # the second batch (lines 5-7): p4 signs up meanwhile
            with engine.begin() as other:
                other.execute(Subscriber.__table__.insert().values(
                    email="p4@example.org", email_key="p4@example.org", name="Web",
                    role="", language="sv", attributes={}, created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC)))
        return found

    monkeypatch.setattr(upsert.SeenRows, "ids", ids)
    monkeypatch.setattr(upsert.SeenRows, "people", people)
    try:
        _reset_pg(engine)
        with transaction(engine) as s:
            create_list(s, "nyhetsbrev", "Nyhetsbrev")
        report = run(engine, path, copy=True, batch_size=3, workers=0)
        assert (report.counts.imported, report.counts.new_people, report.rejected) == (6, 6, 0)
        assert looked_up == [5]  # only the batch where the insert skipped a row
        with transaction(engine) as s:
            p4 = find_subscriber(s, "p4@example.org")
            assert p4 is not None and p4.name == "Web"
            assert s.scalar(select(func.count()).select_from(Subscription).where(
                Subscription.subscriber_id == p4.id,
                Subscription.status == SubscriptionStatus.active)) == 1
            assert s.scalar(select(func.count()).select_from(ConsentEvent).where(
                ConsentEvent.subscriber_id == p4.id, ConsentEvent.action == "import")) == 1
        assert snapshot(engine)[:3] == (6, 6, 6)
    finally:
        _reset_pg(engine)
        engine.dispose()
