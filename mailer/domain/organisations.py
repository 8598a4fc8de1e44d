"""Sweden's 290 municipalities and 21 regions, with SCB's codes, and matching typed names.

Seat limits are per organisation, so "Hylte kommun (IT)" and "Hylte kommun,
IT-avdelningen" must be Hylte, not a new organisation with seats of its own. ``match``
turns what people type ("Hylte kommun", "Hyltes kommun", "hylte", "1315", "Stockholms
stad", "Region Skåne", "Skåne läns landsting", "VGR", "Ostersund") into the official
organisation, or None for anything else ("other organisation"), which stays free text.
The data is ``mailer/data/organisations_se.csv`` (code, kind, name, official name, county
code, county): the official name is how the organisation calls itself ("Linköpings
kommun", "Malmö stad", "Falu kommun"), shown in the registration form and stored as its
name.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NOISE = re.compile(r"\b(kommun|kommuns|kommunen|stad|stads|staden|municipality|city|of|"
                    r"landsting|landstinget|läns|lans|län|lan|county|council|i)\b")
_ALIASES = {"vgr": "14", "västra götaland": "14", "vastra gotaland": "14",
            "västra götalandsregionen": "14", "sll": "01"}


@dataclass(frozen=True, slots=True)
class Organisation:
    code: str  # "1315" (municipality) or "13" (region)
    kind: str  # "municipality" | "region"
    name: str  # "Hylte", "Linköping", "Region Halland"
    official_name: str  # "Hylte kommun", "Linköpings kommun", "Malmö stad", "Falu kommun"
    county_code: str
    county: str  # "Hallands län"

    @property
    def display(self) -> str:
        """How the organisation calls itself, in a list and wherever it is named:
        "Hylte kommun", "Linköpings kommun", "Stockholms stad", "Region Halland"."""
        return self.official_name


@cache
def organisations() -> tuple[Organisation, ...]:
    """Every region, then every municipality, in code order."""
    text = resources.files("mailer").joinpath("data/organisations_se.csv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(Organisation(code=r["code"], kind=r["kind"], name=r["name"],
                              official_name=r["official_name"], county_code=r["county_code"],
                              county=r["county"]) for r in rows)


def by_code(code: str) -> Organisation | None:
    return _index()[0].get(code.strip())


def _fold(text: str) -> str:
    """Lower case without diacritics: 'Östersund' and 'Ostersund' meet."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _key(text: str) -> str:
    s = _PARENS.sub(" ", text.casefold())
    s = re.sub(r"[^\w\s-]", " ", s)
    s = re.sub(r"^region\s+|\s+regionen?$", " ", s.strip())
    s = _NOISE.sub(" ", s)
    return " ".join(s.replace("-", " ").split())


@cache
def _index() -> tuple[dict[str, Organisation], dict[str, Organisation], dict[str, Organisation]]:
    codes: dict[str, Organisation] = {}
    municipalities: dict[str, Organisation] = {}
    regions: dict[str, Organisation] = {}
    for org in organisations():
        codes[org.code] = org
        if org.kind == "municipality":
            municipalities[_fold(_key(org.name))] = org
            # "Falu kommun": a genitive that is not the name with an s
            municipalities.setdefault(_fold(_key(org.official_name)), org)
        else:
            regions[_fold(_key(org.name))] = org
            regions[_fold(_key(org.county))] = org
    for alias, code in _ALIASES.items():
        regions[_fold(alias)] = codes[code]
    return codes, municipalities, regions


def match(text: str) -> Organisation | None:
    """The municipality or region ``text`` names, or None (another organisation)."""
    raw = (text or "").strip()
    if not raw:
        return None
    codes, municipalities, regions = _index()
    digits = re.sub(r"\D", "", raw)
    if digits and len(digits) in (2, 4) and re.fullmatch(r"[\d\s-]*(kommunkod|kod)?[\d\s-]*",
                                                         raw.casefold()):
        return codes.get(digits)
    lowered = _PARENS.sub(" ", raw.casefold())
    is_region = bool(re.search(r"\bregion|landsting|\blän\b|\blans\b", lowered))
    key = _fold(_key(raw))
    if not key:
        return None
    candidates = [key] + ([key[:-1]] if key.endswith("s") else [])
    first = regions if is_region else municipalities
    second = municipalities if is_region else regions
    for table in (first, second):
        for k in candidates:
            if k in table:
                return table[k]
    return named_within(raw)


def _words(text: str) -> str:
    """Folded, with every run of non-letters one space: "Hylte kommun, IT-avd." ->
    "hylte kommun it avd"."""
    return " ".join(re.sub(r"[\W_]+", " ", _fold(text)).split())


@cache
def _phrases() -> tuple[re.Pattern[str], dict[str, Organisation]]:
    """Every way an organisation names itself with its kind in words ("hylte kommun",
    "hyltes kommun", "stockholms stad", "region skane", "vastra gotalandsregionen"), as
    one pattern (longest first) and the organisation of each phrase."""
    named: dict[str, Organisation] = {}
    for org in organisations():
        forms: tuple[str, ...]
        if org.kind == "municipality":
            forms = (org.official_name, f"{org.name} kommun", f"{org.name}s kommun",
                     f"{org.name} stad", f"{org.name}s stad")
        else:
            forms = (org.official_name, f"{org.county}s landsting")  # "Skåne läns landsting"
        for form in forms:
            named.setdefault(_words(form), org)
    alternatives = "|".join(re.escape(p) for p in sorted(named, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b"), named


def named_within(text: str) -> Organisation | None:
    """The one municipality or region a longer name is part of: "Hylte kommun,
    IT-avdelningen", "Socialförvaltningen, Malmö stad", "Region Skåne (Regionkontoret)".
    Only a name with its kind in words counts ("Uppsala universitet" names no
    municipality), and a text naming two organisations names neither."""
    pattern, named = _phrases()
    found = {named[m.group(0)] for m in pattern.finditer(_words(text))}
    return found.pop() if len(found) == 1 else None


@cache
def canonical(text: str) -> str:
    """The official name of the municipality or region ``text`` names ("Hylte kommun (IT)"
    -> "Hylte kommun"), else ``text`` as given: seat limits and organisation look-ups use
    it, so a typed variant of an official name never becomes an organisation of its own."""
    org = match(text)
    return org.display if org is not None else text

