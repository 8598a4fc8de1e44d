"""Subscriber CSV rows: recognise the header (Swedish or English), validate and normalise a row.

Pure: takes lists of strings, returns values or raises ``RowError`` with the reason a
person can act on. The streaming reader (``mailer.store.csv_input``) and the database
upsert (``mailer.store.importer``) live in the store layer.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailer.domain.addresses import AddressError, normalise_address
from mailer.domain.findings import Msg, msg
from mailer.domain.organisations import canonical
from mailer.domain.spreadsheet import restore_cell
from mailer.domain.text import clean_line
from mailer.errors import message_of

MAX_NAME = 200  # column sizes in mailer.store.models.subscribers
MAX_ROLE = 200
MAX_ORGANISATION = 200
MAX_CODE = 20
MAX_ATTRIBUTE = 2000  # a free column longer than this is junk, not a fact about a person


def header_key(header: str) -> str:
    """Fold a header for matching: 'E-post', 'e_post ', 'EPOST' -> 'epost'; 'Språk' -> 'sprak'."""
    decomposed = unicodedata.normalize("NFKD", header.replace("\ufeff", ""))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]", "", plain.casefold())


# Accepted header names per field, already folded with header_key. Order does not matter:
# when two columns map to the same field, the first column in the file wins and the
# others are kept as free attributes (the report shows the mapping).
ALIASES: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "epost", "mail", "emailaddress", "emailadress", "epostadress",
                        "mailadress", "mailaddress", "eposta", "emejl", "mejl"}),
    "name": frozenset({"name", "namn", "fullname", "fulltnamn", "fullstandigtnamn",
                       "displayname", "visningsnamn"}),
    "first_name": frozenset({"fornamn", "firstname", "givenname", "tilltalsnamn"}),
    "last_name": frozenset({"efternamn", "lastname", "surname", "familyname"}),
    "organisation": frozenset({"organisation", "organization", "org", "organisationsnamn",
                               "kommun", "region", "kommunregion", "kommunellerregion",
                               "municipality", "myndighet"}),
    "role": frozenset({"role", "roll", "titel", "title", "befattning", "yrkesroll", "uppdrag",
                       "position", "jobtitle"}),
    "language": frozenset({"language", "sprak", "lang"}),
    "code": frozenset({"kommunkod", "code", "regionkod", "lanskod", "organisationskod",
                       "orgcode", "kod"}),
}
# Columns that `mailer subscribers export` writes about the subscription, not the person;
# importing an export again must not turn them into attributes.
EXPORT_METADATA = frozenset({"status", "source", "subscribedat", "confirmedat",
                             "unsubscribedat"})
# The two columns a file of rejected rows adds after the input's own (``line``, ``reason``;
# the admin's Swedish file says ``rad``, ``orsak``), folded with header_key: importing the
# corrected file again must not keep them as attributes of every person on it.
REJECTED_COLUMNS = frozenset({("line", "reason"), ("rad", "orsak")})

LANGUAGES = {
    "sv": "sv", "svenska": "sv", "swedish": "sv", "se": "sv", "sve": "sv", "swe": "sv",
    "svse": "sv",
    "en": "en", "engelska": "en", "english": "en", "eng": "en", "engb": "en", "enus": "en",
}


def N_(label: str) -> Msg:
    """A field's name in a row's reason (``name``, ``first name``, …), translated with it."""
    return msg(label)


class HeaderError(ValueError):
    """The header line cannot be used (no e-mail column); ``str()`` says what to fix."""


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which column (0-based) holds which field; other columns become free attributes."""

    headers: tuple[str, ...]
    email: int
    name: int | None = None
    first_name: int | None = None
    last_name: int | None = None
    organisation: int | None = None
    role: int | None = None
    language: int | None = None
    code: int | None = None
    attributes: tuple[tuple[int, str], ...] = ()  # (column, attribute name)
    ignored: tuple[int, ...] = ()
    text_fields: tuple[tuple[str, int, str, int], ...] = ()  # (field, column, label, limit)

    def describe(self) -> str:
        """One line for the report: 'E-post → email, Namn → name; attributes: Telefon'."""
        parts = [f"{self.headers[i]} → {f}" for f, i in self._fields() if i is not None]
        text = ", ".join(parts)
        if self.attributes:
            text += "; kept as attributes: " + ", ".join(n for _, n in self.attributes)
        if self.ignored:
            text += "; ignored: " + ", ".join(self.headers[i] for i in self.ignored)
        return text

    def recognised(self) -> list[tuple[str, Msg]]:
        """(column header, field) of the columns recognised, in the report's order."""
        return [(self.headers[i], f) for f, i in self._fields() if i is not None]

    def attribute_names(self) -> list[str]:
        return [n for _, n in self.attributes]

    def ignored_headers(self) -> list[str]:
        return [self.headers[i] for i in self.ignored]

    def _fields(self) -> list[tuple[Msg, int | None]]:
        return [(N_("email"), self.email), (N_("name"), self.name),
                (N_("first name"), self.first_name), (N_("last name"), self.last_name),
                (N_("organisation"), self.organisation), (N_("code"), self.code),
                (N_("role"), self.role), (N_("language"), self.language)]


def accepted_headers() -> Msg:
    """The header names we recognise, for error messages (each field named in the
    reader's language)."""
    return msg("email: email, e-post, epost, mail, e-postadress; name: name, namn (or förnamn "
               "+ efternamn / first name + last name); organisation: organisation, "
               "organization, kommun, region; role: role, roll, titel, title, befattning; "
               "language: language, språk (sv or en); code: kommunkod, code")


def map_columns(headers: Sequence[str]) -> ColumnMap:
    """Recognise the columns of a header line; raise HeaderError without an e-mail column."""
    found: dict[str, int] = {}
    attributes: list[tuple[int, str]] = []
    ignored: list[int] = []
    used_names: set[str] = set()
    keys = [header_key(h) for h in headers]
    rejected = len(keys) - 2 if tuple(keys[-2:]) in REJECTED_COLUMNS else len(keys)
    for i, header in enumerate(headers):
        key = keys[i]
        target = next((f for f, names in ALIASES.items() if key in names), None)
        if target is not None and target not in found:
            found[target] = i
        elif key in EXPORT_METADATA or i >= rejected:
            ignored.append(i)
        elif key or header.strip():
            name = header.strip() or f"column {i + 1}"
            while name in used_names:  # two columns called "Telefon": keep both
                name += "_"
            used_names.add(name)
            attributes.append((i, name))
        else:
            attributes.append((i, f"column {i + 1}"))
    if "email" not in found:
        shown = ", ".join(repr(h) for h in headers[:20])
        if len(headers) > 20:
            shown += f", … ({len(headers)})"
        raise HeaderError(msg(
            "the header line has no e-mail column. Columns found: %(found)s. Accepted names "
            "(any case, with or without '-'): %(accepted)s. Rename the e-mail column, or add "
            "a header line if the file has none.", found=shown or "–",
            accepted=accepted_headers()))
    texts = tuple((f, found[f], label, limit) for f, label, limit in TEXT_FIELDS if f in found)
    return ColumnMap(headers=tuple(headers), attributes=tuple(attributes),
                     ignored=tuple(ignored), text_fields=texts, **found)


class RowError(ValueError):
    """A data row we cannot import; ``str()`` is the reason shown in the report."""


@dataclass(slots=True)
class SubscriberRow:
    """A valid row. ``None`` means "not given": an upsert keeps what the database has."""

    line: int
    email: str
    key: str
    name: str | None = None
    organisation: str | None = None
    code: str | None = None
    role: str | None = None
    language: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    # Filled in by the import's row-checking workers, so that the importing process does
    # not compute them: the consent log's hash of ``key`` ("" = not yet) and
    # ``attributes`` as JSON text (``json.dumps``; None = not yet).
    key_hash: str = ""
    attributes_json: str | None = None


def _clean(text: str) -> str:
    return clean_line(text)  # also turns Excel's non-breaking spaces into spaces


def normalise_code(code: str) -> str:
    """Official codes: Excel drops leading zeros ('114' for kommunkod 0114, '3' for län 03)."""
    code = code.strip()
    if code.isdigit() and len(code) in (1, 3):
        return code.zfill(len(code) + 1)
    return code


_LANGUAGE_CACHE: dict[str, str] = {}


def parse_language(value: str) -> str:
    """'sv', 'Svenska', 'English', 'en-GB' -> 'sv' or 'en'; anything else raises RowError."""
    lang = _LANGUAGE_CACHE.get(value)
    if lang is None:
        lang = LANGUAGES.get(header_key(value))
        if lang is None:
            raise RowError(msg("language %(value)r is not supported: use sv (svenska) or "
                               "en (English)", value=value))
        if len(_LANGUAGE_CACHE) < 1000:
            _LANGUAGE_CACHE[value] = lang
    return lang


# (field, label in messages, longest value accepted)
TEXT_FIELDS = (("name", "name", MAX_NAME), ("first_name", "first name", MAX_NAME),
               ("last_name", "last name", MAX_NAME),
               ("organisation", "organisation", MAX_ORGANISATION), ("code", "code", MAX_CODE),
               ("role", "role", MAX_ROLE), ("language", "language", 20))


def _too_long(label: Msg, length: int, limit: int) -> Msg:
    return msg("%(field)s is %(length)s characters long (at most %(limit)s)", field=label,
               length=length, limit=limit)


def parse_row(values: Sequence[str], columns: ColumnMap, line: int) -> SubscriberRow:
    """Validate one data row and return it normalised; raise RowError with the reason.

    Values are trimmed and runs of spaces collapsed; an empty cell gives ``None``.
    """
    width = len(columns.headers)
    n = len(values)
    if n > width and any(v.strip() for v in values[width:]):
        raise RowError(msg(
            "%(n)s values but the header has %(width)s columns: is there a "
            "delimiter inside a value that is not quoted?", n=n, width=width))
    raw_email = values[columns.email] if columns.email < n else ""
    try:
        address = normalise_address(raw_email)
    except AddressError as exc:
        if not raw_email.strip():
            raise RowError(msg("no e-mail address")) from None
        raise RowError(msg("invalid e-mail address %(address)r: %(problem)s",
                           address=raw_email.strip(), problem=message_of(exc))) from None

    got: dict[str, str] = {}
    for fieldname, index, label, limit in columns.text_fields:
        if index < n and (raw := values[index]):
            if "\n" in raw or "\r" in raw:
                raise RowError(msg("%(field)s contains a line break", field=N_(label)))
            value = clean_line(restore_cell(raw))
            if len(value) > limit:
                raise RowError(_too_long(N_(label), len(value), limit))
            if value:
                got[fieldname] = value
    name = got.get("name")
    if name is None and ("first_name" in got or "last_name" in got):
        name = f"{got.get('first_name', '')} {got.get('last_name', '')}".strip()
        if len(name) > MAX_NAME:
            raise RowError(_too_long(N_("name"), len(name), MAX_NAME))
    attributes: dict[str, str] = {}
    for index, attr in columns.attributes:
        if index < n and (value := clean_line(restore_cell(values[index].strip()))):
            if len(value) > MAX_ATTRIBUTE:
                raise RowError(msg("column %(column)r is %(length)s characters long (at "
                                   "most %(limit)s)", column=attr, length=len(value),
                                   limit=MAX_ATTRIBUTE))
            attributes[attr] = value
    code = got.get("code")
    language = got.get("language")
    return SubscriberRow(
        line, address.email, address.key, name, got.get("organisation"),
        normalise_code(code) if code else None, got.get("role"),
        parse_language(language) if language else None, attributes)


@functools.lru_cache(maxsize=8192)  # a pure function, called twice a row by an import
def organisation_key(name: str) -> str:
    """The case-insensitive identity of an organisation name ('HYLTE  Kommun' = 'Hylte kommun');
    the names of Sweden's municipalities and regions as people type them meet their official
    name ('Hylte kommun (IT)', 'Hyltes kommun', '1315' = 'Hylte kommun')."""
    clean = _clean(name)
    return _clean(canonical(clean)).casefold() if clean else clean


def guess_org_kind(name: str, code: str | None = None) -> str:
    """'municipality', 'region' or 'other', from the Swedish name or the official code.

    Kommunkoder have four digits and länskoder (regions) two; names follow
    "Hylte kommun", "Stockholms stad", "Region Uppsala", "Västra Götalandsregionen".
    """
    key = organisation_key(name)
    if key.startswith("region ") or key.endswith(("regionen", " region")) or "landsting" in key:
        return "region"
    if key.endswith((" kommun", " stad")) or key.startswith("kommunen "):
        return "municipality"
    if code and code.isdigit():
        return {4: "municipality", 2: "region"}.get(len(code), "other")
    return "other"


RawRow = tuple[int, int, list[str]]  # (first line, last line, values) as read from the file
Parsed = SubscriberRow | str | None  # a valid row, the reason it was rejected, or empty


def parse_batch(columns: ColumnMap, rows: Sequence[RawRow]) -> list[Parsed]:
    """Parse ``rows`` in order: a SubscriberRow, a reason (rejected) or None (an empty row)."""
    out: list[Parsed] = []
    for start, end, values in rows:
        if not any(map(str.strip, values)):
            out.append(None)
            continue
        try:
            out.append(parse_row(values, columns, start))
        except RowError as exc:
            reason = message_of(exc)
            if end > start:
                reason = msg("%(reason)s (this row spans lines %(start)s-%(end)s: is a quote "
                             "(\") never closed?)", reason=reason, start=start, end=end)
            out.append(reason)
    return out
