"""Rows of an external registration system's CSV: headers (sv/en) and the rules per row.

Pure: takes a header line and rows of values (with their line numbers), returns typed
rows or row problems. Reading the file (encoding, delimiter, quoting, line numbers) is
``mailer.store.csv_input``, shared with the subscriber import; header names are folded
with the subscriber import's ``header_key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from mailer.domain.addresses import AddressError, normalise_address
from mailer.domain.findings import msg
from mailer.domain.subscriber_rows import header_key
from mailer.errors import MailerError, message_of

# Header spellings, folded with header_key (case, accents and separators dropped).
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
        raise MailerError(msg(
            "no e-mail column among the headers %(headers)s; name it 'e-post' or 'email'",
            headers=", ".join(repr(h) for h in headers)))
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
    """A row refused by the rules, with its line and, once it was read, its e-mail."""

    def __init__(self, line: int, message: str, raw: Sequence[str], email: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.raw = tuple(raw)
        self.email = email


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
        raise ValueError(msg("%(text)r is not a date; write e.g. 2023-02-01 10:15",
                             text=text)) from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


RowOrProblem = RegistrationCsvRow | RowProblem


def parse_row(values: Sequence[str], c: Columns, line: int, tz: ZoneInfo) -> RowOrProblem:
    """One data row by the registration rules: e-mail, name, time, status."""
    email = c.get(values, "email")
    if not email:
        return RowProblem(line, msg("the e-mail is empty"), values)
    try:
        email = normalise_address(email).email
    except AddressError as exc:
        return RowProblem(line, msg("%(email)r is not a valid e-mail address: %(problem)s",
                                    email=email, problem=exc.args[0]), values)
    name = c.get(values, "name") or " ".join(
        x for x in (c.get(values, "first_name"), c.get(values, "last_name")) if x)
    when = None
    if c.get(values, "registered_at"):
        try:
            when = parse_time(c.get(values, "registered_at"), tz)
        except ValueError as exc:
            return RowProblem(line, message_of(exc), values, email)
    status = header_key(c.get(values, "status"))
    if status not in CANCELLED | REGISTERED:
        return RowProblem(line, msg("unknown status %(status)r; use anmäld/registered or "
                                    "avbokad/cancelled", status=c.get(values, "status")),
                          values, email)
    return RegistrationCsvRow(line, email, name, c.get(values, "organisation"),
                              c.get(values, "invitation"), when, status in CANCELLED,
                              tuple(values))
