"""Sweden's municipalities and regions: the data and matching what people type."""

from __future__ import annotations

import pytest

from mailer.domain.organisations import by_code, match, organisations


def test_the_data_has_290_municipalities_and_21_regions_with_unique_codes():
    orgs = organisations()
    assert sum(o.kind == "municipality" for o in orgs) == 290
    assert sum(o.kind == "region" for o in orgs) == 21
    assert len({o.code for o in orgs}) == len(orgs)
    assert all(o.code.startswith(o.county_code) for o in orgs)
    assert by_code("1315").name == "Hylte" and by_code("1315").county == "Hallands län"


@pytest.mark.parametrize(("typed", "code"), [
    ("Hylte kommun", "1315"), ("Hylte kommun (IT)", "1315"), ("hylte", "1315"),
    ("Hyltes kommun", "1315"), ("1315", "1315"), ("kommunkod 1315", "1315"),
    ("Stockholms stad", "0180"), ("Göteborgs Stad", "1480"), ("Malmö stad", "1280"),
    ("Upplands-Bro kommun", "0139"), ("Upplands Bro", "0139"), ("Ostersunds kommun", "2380"),
    ("Marks kommun", "1463"), ("Jönköpings kommun", "0680"), ("Gotland", "0980"),
    ("Region Skåne", "12"), ("Region Jönköpings län", "06"), ("Jönköpings läns landsting", "06"),
    ("Västra Götalandsregionen", "14"), ("VGR", "14"), ("Region Gotland", "09"),
    ("Region Stockholm", "01"), ("Stockholms läns landsting", "01"),
    ("Region Jämtland Härjedalen", "23"),
])
def test_typed_names_find_the_official_organisation(typed: str, code: str):
    org = match(typed)
    assert org is not None and org.code == code, typed


@pytest.mark.parametrize("typed", ["", "SKR", "Sveriges Kommuner och Regioner",
                                   "Länsstyrelsen i Hallands län", "Acme AB", "12345"])
def test_other_organisations_are_not_matched(typed: str):
    assert match(typed) is None


def test_display_names():
    assert by_code("1315").display == "Hylte kommun"
    assert by_code("13").display == "Region Halland"
    assert by_code("0980").display == "Region Gotland"


def test_typed_variants_share_the_official_organisation_key() -> None:
    from mailer.domain.organisations import canonical
    from mailer.domain.subscriber_rows import organisation_key

    assert canonical("Hylte kommun (IT)") == "Hylte kommun"
    assert canonical("Föreningen Demokrati") == "Föreningen Demokrati"
    keys = {organisation_key(t) for t in ("Hylte kommun", "Hylte kommun (IT)", "hyltes kommun",
                                          "HYLTE  KOMMUN", "1315")}
    assert keys == {"hylte kommun"}


@pytest.mark.parametrize(("code", "name"), [
    ("1281", "Lunds kommun"), ("2284", "Örnsköldsviks kommun"), ("0360", "Tierps kommun"),
    ("0180", "Stockholms stad"), ("1480", "Göteborgs Stad"), ("1280", "Malmö stad"),
    ("1980", "Västerås stad"), ("2080", "Falu kommun"), ("0880", "Kalmar kommun"),
    ("0380", "Uppsala kommun"), ("2282", "Kramfors kommun"), ("2514", "Kalix kommun"),
    ("0114", "Upplands Väsby kommun"), ("1463", "Marks kommun"),
])
def test_municipalities_have_the_names_they_call_themselves(code: str, name: str) -> None:
    org = by_code(code)
    assert org is not None and org.display == name
    assert match(name) is org  # and the name finds it again


def test_the_official_name_and_the_key_of_what_is_stored_already_agree() -> None:
    """Organisations stored before the names were corrected keep their key ("lund kommun"),
    and "Falu kommun" (as Falun calls itself) is Falun, not an organisation of its own
    with seats of its own."""
    from mailer.domain.organisations import canonical
    from mailer.domain.subscriber_rows import organisation_key

    assert canonical("lund") == canonical("Lund kommun") == "Lunds kommun"
    assert organisation_key("Lunds kommun") == organisation_key("1281") == "lund kommun"
    assert canonical("Falu kommun") == "Falu kommun"
    assert organisation_key("Falu kommun") == organisation_key("Falun") == organisation_key(
        "2080")
