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


@pytest.mark.parametrize(("typed", "code"), [
    ("Hylte kommun, IT-avdelningen", "1315"), ("Hylte kommun - IT", "1315"),
    ("Hylte kommun/Socialförvaltningen", "1315"), ("Socialförvaltningen Hylte kommun", "1315"),
    ("Kommunledningskontoret, Uppsala kommun", "0380"), ("Malmö stad, Stadskontoret", "1280"),
    ("Stadsledningskontoret Stockholms stad", "0180"), ("Upplands-Bro kommun, IT", "0139"),
    ("Region Skåne, Regionkontoret", "12"), ("Region Halland, Hallands sjukhus", "13"),
    ("Västra Götalandsregionen, Sahlgrenska", "14"), ("Skåne läns landsting - IT", "12"),
])
def test_a_department_is_its_municipality_or_region(typed: str, code: str):
    """Seats are per organisation: a department typed after (or before) its municipality's
    name is that municipality, not an organisation with seats of its own."""
    org = match(typed)
    assert org is not None and org.code == code, typed


@pytest.mark.parametrize("typed", ["", "SKR", "Sveriges Kommuner och Regioner",
                                   "Länsstyrelsen i Hallands län", "Acme AB", "12345",
                                   "Uppsala universitet", "Lunds universitet",
                                   "Malmö stadsbyggnadskontor", "Kommunförbundet Skåne",
                                   "Göteborgs Stads Bostadsbolag",
                                   "Hylte kommun och Halmstads kommun"])
def test_other_organisations_are_not_matched(typed: str):
    assert match(typed) is None


def test_display_names():
    assert by_code("1315").display == "Hylte kommun"
    assert by_code("13").display == "Region Halland"
    assert by_code("0980").display == "Region Gotland"


@pytest.mark.parametrize(("code", "official"), [
    ("0380", "Uppsala kommun"), ("0580", "Linköpings kommun"), ("2284", "Örnsköldsviks kommun"),
    ("1463", "Marks kommun"), ("1490", "Borås Stad"), ("0180", "Stockholms stad"),
    ("1280", "Malmö stad"), ("1480", "Göteborgs Stad"), ("2080", "Falu kommun"),
    ("0880", "Kalmar kommun"), ("1421", "Orust kommun"), ("2514", "Kalix kommun"),
    ("0139", "Upplands-Bro kommun"), ("2023", "Malung-Sälens kommun"),
])
def test_municipalities_are_named_as_they_call_themselves(code: str, official: str):
    """The form's list and the stored name: "Linköpings kommun", never "Linköping kommun"."""
    assert by_code(code).display == official
    assert match(official) is by_code(code)  # and the official name finds itself
    from mailer.domain.organisations import canonical
    assert canonical(f"{by_code(code).name} kommun") == official


def test_organisations_stored_under_the_old_names_are_renamed(tmp_path) -> None:
    """Migration 0018: a row stored as "Linköping kommun" becomes "Linköpings kommun"; a
    "Malmö kommun" beside a "Malmö stad" is merged into it, its people and seats with it."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from mailer.store.db import make_engine, transaction, upgrade
    from mailer.store.models import Organisation, Subscriber
    from mailer.store.registrations import find_or_create_organisation

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0017")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(engine) as s:
        rows = [("Linköping kommun", None), ("Malmö kommun", "1280"), ("Malmö stad", None),
                ("Hylte kommun", None)]
        for i, (name, code) in enumerate(rows, start=1):
            s.execute(insert(Organisation).values(id=i, name=name, name_key=name.casefold(),
                                                  code=code, created_at=now))
        s.add_all([Subscriber(email=f"p{i}@example.se", email_key=f"p{i}@example.se",
                              organisation_id=i, attributes={}) for i in (1, 2, 3, 4)])
    upgrade(engine)
    with transaction(engine) as s:
        orgs = {o.id: (o.name, o.name_key, o.code) for o in s.scalars(select(Organisation))}
        assert orgs == {1: ("Linköpings kommun", "linköpings kommun", None),
                        3: ("Malmö stad", "malmö stad", "1280"),
                        4: ("Hylte kommun", "hylte kommun", None)}
        people = {sub.email: sub.organisation_id for sub in s.scalars(select(Subscriber))}
        assert people == {"p1@example.se": 1, "p2@example.se": 3, "p3@example.se": 3,
                          "p4@example.se": 4}
        # and what people type now finds the renamed rows
        assert find_or_create_organisation(s, "linköping").id == 1
        assert find_or_create_organisation(s, "Malmö").id == 3
    engine.dispose()


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


def test_the_official_name_and_the_key_agree() -> None:
    """Every way of typing a municipality gives the key of its official name (migration
    0018 renamed what was stored under the earlier names), and "Falu kommun" (as Falun
    calls itself) is Falun, not an organisation with seats of its own."""
    from mailer.domain.organisations import canonical
    from mailer.domain.subscriber_rows import organisation_key

    assert canonical("lund") == canonical("Lund kommun") == "Lunds kommun"
    assert organisation_key("Lunds kommun") == organisation_key("1281") == "lunds kommun"
    assert canonical("Falu kommun") == "Falu kommun"
    assert organisation_key("Falu kommun") == organisation_key("Falun") == organisation_key(
        "2080")


def _migrate_longer_names(engine) -> None:  # type: ignore[no-untyped-def]
    """At 0018: Hylte kommun with Anna and Bengt registered (its 2 seats), and rows stored
    before typed names were matched: "Hylte kommun, IT-avdelningen" (Cecilia, registered,
    and one more subscriber), "Socialförvaltningen, Uppsala kommun" with no "Uppsala
    kommun" beside it, and "Uppsala universitet" (no municipality). Then 0019."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from mailer.domain.registration import RegistrationHow
    from mailer.store.db import transaction, upgrade
    from mailer.store.models import Organisation, Subscriber
    from mailer.store.registrations import register
    from tests.invite_helpers import PEOPLE, invited

    upgrade(engine, "0018")
    now = datetime(2023, 2, 1, tzinfo=UTC)
    hylte = [p for p in PEOPLE if p[2] == "Hylte kommun"]
    with transaction(engine) as s:
        row, subs = invited(s, hylte)
        for i, name in ((101, "Hylte kommun, IT-avdelningen"),
                        (102, "Socialförvaltningen, Uppsala kommun"),
                        (103, "Uppsala universitet")):
            s.execute(insert(Organisation).values(id=i, name=name, name_key=name.casefold(),
                                                  created_at=now))
        subs["cecilia.claesson@hylte.se"].organisation_id = 101
        s.add_all([Subscriber(email="it@hylte.se", email_key="it@hylte.se", organisation_id=101,
                              attributes={}),
                   Subscriber(email="soc@uppsala.se", email_key="soc@uppsala.se",
                              organisation_id=102, attributes={}),
                   Subscriber(email="uu@uu.se", email_key="uu@uu.se", organisation_id=103,
                              attributes={})])
        s.flush()
        for email in ("anna.andersson@hylte.se", "bengt.berg@hylte.se",
                      "cecilia.claesson@hylte.se"):
            s.refresh(subs[email])
            register(s, row, subs[email], how=RegistrationHow.coordinator, now=now)
    upgrade(engine)


def _check_longer_names_joined(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from mailer.store.db import transaction
    from mailer.store.invitations import get_invitation
    from mailer.store.models import Organisation, Subscriber
    from mailer.store.registrations import find_or_create_organisation, seats_by_organisation
    from tests.invite_helpers import SLUG

    with transaction(engine) as s:
        orgs = {o.name: o.id for o in s.scalars(select(Organisation))}
        assert "Hylte kommun, IT-avdelningen" not in orgs
        assert orgs["Uppsala kommun"] == 102 and orgs["Uppsala universitet"] == 103
        people = {sub.email: sub.organisation_id for sub in s.scalars(select(Subscriber))}
        assert people["cecilia.claesson@hylte.se"] == people["it@hylte.se"] \
            == orgs["Hylte kommun"]
        assert find_or_create_organisation(s, "Uppsala").id == 102
        # one municipality, its seats counted in one place: all three registrations are
        # kept, and the list shows 3 of 2 seats rather than anyone dropped or moved
        (group,) = seats_by_organisation(s, get_invitation(s, SLUG))
        assert group.organisation == "Hylte kommun" and group.limit == 2
        assert sorted(r.subscriber.email for r in group.registered) == [
            "anna.andersson@hylte.se", "bengt.berg@hylte.se", "cecilia.claesson@hylte.se"]


def test_organisations_stored_under_a_longer_name_join_the_municipality(tmp_path) -> None:
    """Migration 0019 on SQLite."""
    from mailer.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    try:
        _migrate_longer_names(engine)
        _check_longer_names_joined(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_organisations_stored_under_a_longer_name_join_on_postgresql(pg_url: str) -> None:
    """Migration 0019 on PostgreSQL (a database of its own, from empty)."""
    from tests.conftest import empty_pg_database

    with empty_pg_database(pg_url, "mailer_orgs") as engine:
        _migrate_longer_names(engine)
        _check_longer_names_joined(engine)
