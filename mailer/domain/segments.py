"""Segment conditions: ``org.kind=region``, ``role~förtroendevald``, ``attr.team!=IT``.

Pure parsing and validation. A condition names a field, an operator (``=`` equals,
``!=`` differs, ``~`` contains; text compares case-insensitively) and a value. The SQL
that evaluates a set of conditions when a mailing is planned is ``store.segments``; this
module only decides what a condition means and says clearly what is wrong with one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailer.domain import organisations
from mailer.domain.findings import msg

#: Fields a condition may name (``attr.<name>`` besides, and ``registered`` with invitations:
#: whether the person has registered for the invitation, yes or no).
FIELDS = ("org.kind", "org.code", "org.county", "org.name", "role", "language")
OPERATORS = ("!=", "~", "=")  # in the order they are looked for: "!=" before "="
ORG_KINDS = {"municipality": "municipality", "kommun": "municipality", "region": "region",
             "other": "other", "annan": "other", "övrig": "other"}
YES_NO = {"yes": "yes", "ja": "yes", "true": "yes", "1": "yes",
          "no": "no", "nej": "no", "false": "no", "0": "no"}
_ATTR = re.compile(r"^attr\.([A-Za-z0-9_\-]{1,64})$")
MAX_CONDITIONS = 20


class ConditionError(ValueError):
    """A condition that cannot be read; the message says how to write one."""


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # "org.kind", "role", "attr.team", …
    op: str  # "=", "!=" or "~"
    value: str

    @property
    def text(self) -> str:
        return f"{self.field}{self.op}{self.value}"

    @property
    def attribute(self) -> str | None:
        """The attribute name of an ``attr.<name>`` condition."""
        m = _ATTR.match(self.field)
        return m[1] if m else None


def fold(text: str) -> str:
    """Case-folded, NFC: how text is compared ("Förtroendevald" meets "FÖRTROENDEVALD")."""
    return unicodedata.normalize("NFC", text).casefold()


def parse(text: str) -> Condition:
    """One condition from ``FIELD=VALUE``, ``FIELD!=VALUE`` or ``FIELD~VALUE``."""
    raw = (text or "").strip()
    positions = [(raw.find(op), op) for op in OPERATORS if raw.find(op) > 0]
    if not positions:
        raise ConditionError(msg(
            "condition %(condition)r: write FIELD=VALUE, FIELD!=VALUE or FIELD~VALUE "
            "(contains), e.g. org.kind=region; fields: %(fields)s, attr.NAME",
            condition=raw, fields=", ".join(FIELDS)))
    pos, op = min(positions, key=lambda p: (p[0], -len(p[1])))
    field, value = raw[:pos].strip(), raw[pos + len(op):].strip()
    # An attribute keeps its name as written (shown so); its JSON key is looked up without
    # regard to case (store.segments), "Telefon" from a column "Telefon" found by
    # attr.telefon too. Every other field is one of ours, in lower case.
    field = (f"attr.{field[5:]}" if field[:5].lower() == "attr." else field.lower())
    if field not in FIELDS and field != "registered" and not _ATTR.match(field):
        raise ConditionError(msg("condition %(condition)r: unknown field %(field)r; use one "
                                 "of %(fields)s or attr.NAME (letters, digits, _ and -)",
                                 condition=raw, field=field, fields=", ".join(FIELDS)))
    if field == "org.kind":
        kind = ORG_KINDS.get(fold(value))
        if kind is None and op != "~":
            raise ConditionError(msg("condition %(condition)r: org.kind is municipality, "
                                     "region or other (kommun, region, annan)",
                                     condition=raw))
        value = kind or value
    if field == "registered":
        answer = YES_NO.get(fold(value))
        if answer is None or op == "~":
            raise ConditionError(msg("condition %(condition)r: write registered=yes or "
                                     "registered=no (ja/nej); it works with invitations "
                                     "(mailer invite)", condition=raw).with_web(msg(
                "condition %(condition)r: write registered=yes or registered=no (ja/nej); it "
                "works only when sending an invitation", condition=raw)))
        value = answer
    if field == "language" and op != "~" and fold(value) not in ("sv", "en"):
        raise ConditionError(msg("condition %(condition)r: language is sv or en",
                                 condition=raw))
    if field == "org.county":
        county_codes(Condition(field, op, value))  # fails early on a county that is none
    if op == "~" and not value:
        raise ConditionError(msg("condition %(condition)r: '~' needs some text to look for",
                                 condition=raw))
    return Condition(field, op, value)


def parse_all(texts: Iterable[str]) -> tuple[Condition, ...]:
    """Every condition of ``texts`` (AND), each validated; duplicates kept once."""
    out: list[Condition] = []
    for t in texts:
        c = parse(t)
        if c not in out:
            out.append(c)
    if len(out) > MAX_CONDITIONS:
        raise ConditionError(msg("at most %(n)s conditions per segment", n=MAX_CONDITIONS))
    return tuple(out)


def texts(conditions: Sequence[Condition]) -> list[str]:
    """How conditions are stored (on a mailing or a saved segment)."""
    return [c.text for c in conditions]


def _county_key(text: str) -> str:
    s = fold(text).replace(" län", "").replace(" lan", "")
    s = re.sub(r"^region\s+", "", s).strip()
    return s[:-1] if s.endswith("s") else s


def county_codes(condition: Condition) -> frozenset[str]:
    """SCB county codes (``"13"``) the value of an ``org.county`` condition names.

    ``=`` and ``!=`` take a county code ("13"), a county ("Hallands län", "Halland") or its
    region ("Region Halland"); ``~`` every county whose name contains the text. A
    municipality's county is the first two digits of its code.
    """
    counties = {o.county_code: o.county for o in organisations.organisations()}
    value = condition.value.strip()
    if condition.op == "~":
        found = frozenset(code for code, name in counties.items() if fold(value) in fold(name))
    elif value.isdigit():
        found = frozenset({value.zfill(2)} & set(counties))
    else:
        key = _county_key(value)
        found = frozenset(code for code, name in counties.items() if _county_key(name) == key)
    if not found:
        raise ConditionError(msg("condition %(condition)r: no county (län) matches "
                                 "%(value)r; write e.g. org.county=Hallands län or "
                                 "org.county=13", condition=condition.text, value=value))
    return found
