"""Rows of an external registration system's CSV: decoding, headers (sv/en), one row each.

Pure: takes bytes, returns typed rows or row errors with line numbers. Small on purpose;
the subscriber import has a fuller reader (``mailer.domain.subscriber_rows``) that this
can share once both are on main.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from mailer.errors import MailerError

# Header spellings, compared after case-folding and dropping spaces, '-', '_' and '.'.
HEADERS: dict[str, tuple[str, ...]] = {
    "email": ("email", "epost", "mail", "emailadress", "epostadress", "mejl", "mejladress"),
    "name": ("name", "namn", "fullname", "fulltnamn", "deltagare", "participant"),
    "first_name": ("firstname", "fornamn", "givenname"),
    "last_name": ("lastname", "efternamn", "surname", "familyname"),
    "organisation": ("organisation", "organization", "kommun", "region", "kommunregion",
                     "arbetsgivare", "employer", "org", "myndighet", "foretag", "company"),
    "invitation": ("invitation", "inbjudan", "event", "evenemang", "projekt", "project",
                   "projectid", "projektid", "natverk", "network", "aktivitet"),
    "registered_at": ("registeredat", "registered", "anmald", "anmaldden", "anmalningsdatum",
                      "anmalningsdag", "datum", "date", "created", "skapad", "tidpunkt"),
    "status": ("status", "anmalningsstatus", "registrationstatus"),
}
CANCELLED = {"cancelled", "canceled", "avbokad", "avanmald", "avbokat", "struken", "cancel"}
REGISTERED = {"", "registered", "anmald", "bekraftad", "confirmed", "ok", "aktiv", "active"}


def header_key(text: str) -> str:
    # "E-post" -> "epost", "Anmäld" -> "anmald": strip accents, case and separators.
    decomposed = unicodedata.normalize("NFKD", text.strip().lstrip("\ufeff"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s\-_.:/]", "", plain.casefold())


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as Swedish Excel writes it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass(frozen=True, slots=True)
class Columns:
    index: dict[str, int]

    def get(self, values: Sequence[str], field: str) -> str:
        i = self.index.get(field)
        return values[i].strip() if i is not None and i < len(values) else ""


def map_columns(headers: Sequence[str]) -> Columns:
    index: dict[str, int] = {}
    for i, h in enumerate(headers):
        key = header_key(h)
        for field, names in HEADERS.items():
            if key in names and field not in index:
                index[field] = i
    if "email" not in index:
        raise MailerError(
            f"no e-mail column among the headers {', '.join(repr(h) for h in headers)}; "
            "name it 'e-post' or 'email'")
    return Columns(index)


@dataclass(frozen=True, slots=True)
class RegistrationCsvRow:
    line: int
    email: str  # normalised
    name: str
    organisation: str
    invitation: str
    registered_at: datetime | None
    cancelled: bool
    raw: tuple[str, ...]


class RowProblem(ValueError):
    def __init__(self, line: int, message: str, raw: Sequence[str]) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.raw = tuple(raw)


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
            value = datetime.combine(value.date(), time(12, 0))
        return value.replace(tzinfo=tz)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write e.g. 2023-02-01 10:15") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


RowOrProblem = RegistrationCsvRow | RowProblem


def read_rows(data: bytes, *, tz: ZoneInfo) -> tuple[list[str], Iterator[RowOrProblem]]:
    """The headers and, lazily, each data row as a typed row or a problem (with its line)."""
    text = decode(data)
    if not text.strip():
        raise MailerError("the file is empty; expected a header line with at least e-post/email")
    first = text.splitlines()[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first))
    try:
        headers = next(reader)
    except csv.Error as exc:
        raise MailerError(f"line 1: cannot read the header line: {exc}") from None
    columns = map_columns(headers)

    def rows() -> Iterator[RegistrationCsvRow | RowProblem]:
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowProblem(line, f"cannot read this line: {exc}", [])
                continue
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            yield _row(values, columns, line, tz)

    return headers, rows()


def _row(values: list[str], c: Columns, line: int, tz: ZoneInfo) -> RegistrationCsvRow | RowProblem:
    email = c.get(values, "email")
    if not email:
        return RowProblem(line, "the e-mail is empty", values)
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return RowProblem(line, f"{email!r} is not a valid e-mail address: {exc}", values)
    name = c.get(values, "name") or " ".join(
        x for x in (c.get(values, "first_name"), c.get(values, "last_name")) if x)
    when = None
    if c.get(values, "registered_at"):
        try:
            when = parse_time(c.get(values, "registered_at"), tz)
        except ValueError as exc:
            return RowProblem(line, str(exc), values)
    status = header_key(c.get(values, "status"))
    if status not in CANCELLED | REGISTERED:
        return RowProblem(line, f"unknown status {c.get(values, 'status')!r}; use anmäld/"
                                "registered or avbokad/cancelled", values)
    return RegistrationCsvRow(line, email, name, c.get(values, "organisation"),
                              c.get(values, "invitation"), when, status in CANCELLED,
                              tuple(values))
