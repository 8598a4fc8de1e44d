"""Segments: conditions evaluated in SQL when a mailing is planned (and when a scheduled one
starts), saved segments, and delivery to exactly the people who match — on SQLite and
PostgreSQL, through a real SMTP server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from mailer.cli import _register, app
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.domain.segments import ConditionError, county_codes, parse, parse_all
from mailer.errors import MailerError, NotFound
from mailer.services import segments
from mailer.services.lists import create_list
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.mailings import start_due
from mailer.store.models import (
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from tests.delivery_support import synthetic_rendered
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "issues" / "2023-06-nyhetsbrev-6"

PEOPLE = [
    # email, org (name, kind, code), role, language, attributes, status
    ("anna@hylte.se", ("Hylte kommun", OrgKind.municipality, "1315"), "Förtroendevald",
     "sv", {"team": "IT", "year": 2019}, SubscriptionStatus.active),
    ("bo@regionhalland.se", ("Region Halland", OrgKind.region, "13"),
     "FÖRTROENDEVALD ordförande", "en", {"team": "HR"}, SubscriptionStatus.active),
    ("cia@skane.se", ("Region Skåne", OrgKind.region, "12"), "Tjänsteperson", "sv", {},
     SubscriptionStatus.active),
    ("dan@example.org", None, "", "sv", {}, SubscriptionStatus.active),
    ("eva@regionhalland.se", ("Region Halland", OrgKind.region, "13"), "Förtroendevald",
     "sv", {"team": "IT"}, SubscriptionStatus.unsubscribed),
    ("fia@hylte.se", ("Hylte kommun", OrgKind.municipality, "1315"), "förtroendevald",
     "sv", {}, SubscriptionStatus.unconfirmed),
]


def now() -> datetime:
    return datetime.now(UTC)


def _org(s: object, spec: tuple[str, OrgKind, str] | None) -> Organisation | None:
    from sqlalchemy.orm import Session
    assert isinstance(s, Session)
    if spec is None:
        return None
    name, kind, code = spec
    org = s.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        org = Organisation(name=name, name_key=name.casefold(), kind=kind, code=code)
        s.add(org)
        s.flush()
    return org


def add_people(engine: Engine, people: list[tuple] = PEOPLE, slug: str = "natverk") -> None:  # type: ignore[type-arg]
    with transaction(engine) as s:
        from mailer.store.lists import find_list
        lst = find_list(s, slug) or create_list(s, slug, "Nätverket")
        for email, org, role, language, attrs, status in people:
            sub = Subscriber(email=email, email_key=email.lower(), name=email.split("@")[0],
                             organisation=_org(s, org), role=role, language=language,
                             attributes=attrs)
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status=status))


def who(engine: Engine, where: list[str], slug: str = "natverk") -> list[str]:
    with transaction(engine) as s:
        target = segments.audience(s, list_slugs=[slug], where=where)
        found = segments.preview(s, target, sample=100)
    assert found.count == len(found.sample)
    return [m.email for m in found.sample]


# --- parsing -----------------------------------------------------------------------------
def test_conditions_parse_with_each_operator() -> None:
    assert parse("org.kind=region").op == "="
    assert parse("role~förtroendevald").op == "~"
    c = parse("attr.team!=IT")
    assert (c.field, c.op, c.value, c.attribute) == ("attr.team", "!=", "IT", "team")
    assert parse("org.kind=kommun").value == "municipality"  # Swedish works too
    assert parse(" ORG.NAME = Region Skåne ").text == "org.name=Region Skåne"
    assert parse("attr.url=https://x.se/?a=b").value == "https://x.se/?a=b"  # first operator
    assert len(parse_all(["role~a", "role~a", "language=en"])) == 2


@pytest.mark.parametrize("text, says", [
    ("kind=region", "unknown field 'kind'"),
    ("org.kind=county", "municipality, region or other"),
    ("language=de", "language is sv or en"),
    ("org.county=Atlantis", "no county (län) matches 'Atlantis'"),
    ("role~", "needs some text"),
    ("role", "write FIELD=VALUE"),
    ("attr.bad name=x", "unknown field"),
])
def test_bad_conditions_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ConditionError, match=None) as exc:
        parse(text)
    assert says in str(exc.value)


def test_counties_by_name_code_or_region() -> None:
    assert county_codes(parse("org.county=Hallands län")) == {"13"}
    assert county_codes(parse("org.county=halland")) == {"13"}
    assert county_codes(parse("org.county=Region Halland")) == {"13"}
    assert county_codes(parse("org.county=13")) == {"13"}
    assert county_codes(parse("org.county=Västra Götalands län")) == {"14"}
    assert county_codes(parse("org.county~land")) >= {"09", "13", "17"}  # Gotland, Halland…


# --- evaluated in SQL ----------------------------------------------------------------------
def test_conditions_select_in_sql(engine: Engine) -> None:
    add_people(engine)
    # only active subscriptions count: eva (unsubscribed) and fia (unconfirmed) never
    assert who(engine, []) == ["anna@hylte.se", "bo@regionhalland.se", "cia@skane.se",
                               "dan@example.org"]
    assert who(engine, ["org.kind=region"]) == ["bo@regionhalland.se", "cia@skane.se"]
    assert who(engine, ["org.kind=region", "role~förtroendevald"]) == ["bo@regionhalland.se"]
    assert who(engine, ["role~FÖRTROENDEVALD"]) == ["anna@hylte.se", "bo@regionhalland.se"]
    assert who(engine, ["org.county=Hallands län"]) == ["anna@hylte.se", "bo@regionhalland.se"]
    assert who(engine, ["org.county!=13"]) == ["cia@skane.se", "dan@example.org"]
    assert who(engine, ["org.code=1315"]) == ["anna@hylte.se"]
    assert who(engine, ["org.name~SKÅNE"]) == ["cia@skane.se"]  # non-ASCII, any case
    assert who(engine, ["org.kind!=region"]) == ["anna@hylte.se", "dan@example.org"]
    assert who(engine, ["attr.team=it"]) == ["anna@hylte.se"]
    assert who(engine, ["attr.team!=IT"]) == ["bo@regionhalland.se", "cia@skane.se",
                                              "dan@example.org"]
    assert who(engine, ["attr.year=2019"]) == ["anna@hylte.se"]  # a number in the JSON
    # an attribute's name matches without regard to case, in SQL on both databases
    assert who(engine, ["attr.TEAM=it"]) == ["anna@hylte.se"]
    assert who(engine, ["attr.Team!=IT"]) == ["bo@regionhalland.se", "cia@skane.se",
                                              "dan@example.org"]
    assert who(engine, ["attr.YEAR~19"]) == ["anna@hylte.se"]
    assert who(engine, ["attr.Year="]) == ["bo@regionhalland.se", "cia@skane.se",
                                           "dan@example.org"]  # missing: empty
    assert who(engine, ["language=en"]) == ["bo@regionhalland.se"]
    assert who(engine, ["role~100%_"]) == []  # LIKE wildcards are text, not patterns


def test_live_count_is_what_planning_adds(engine: Engine) -> None:
    """The admin's and the API's live count leaves out what planning leaves out: a
    suppressed address (bounced, complained) is neither counted nor in the sample."""
    from mailer.store.models import SuppressionReason
    from mailer.store.suppressions import suppress

    add_people(engine)
    with transaction(engine) as s:
        suppress(s, "Bo@RegionHalland.se", SuppressionReason.hard_bounce, now=now())
        target = segments.audience(s, list_slugs=["natverk"], where=["org.kind=region"])
        found = segments.preview(s, target)
        assert (found.count, [m.email for m in found.sample]) == (1, ["cia@skane.se"])
        _, planned = plan_mailing(s, synthetic_rendered(), kind="newsletter", now=now(),
                                  list_slugs=target.list_slugs, audience=target.conditions)
        assert planned == found.count


def test_saved_segment_counts_and_sends_to_whom_it_matches(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_people(engine)
    with transaction(engine) as s:
        info = segments.save(s, "Förtroendevalda i regioner", "natverk",
                             ["org.kind=region", "role~förtroendevald"])
        assert (info.count, info.list_slug) == (1, "natverk")
        # saving again changes it
        info = segments.save(s, "Förtroendevalda i regioner", "natverk", ["org.kind=region"])
        assert info.count == 2 and [i.name for i in segments.segments(s)] == [info.name]
        target = segments.audience(s, segment=info.name, where=["language=sv"])
        assert [c.text for c in target.conditions] == ["org.kind=region", "language=sv"]
        mailing, n = plan_mailing(s, synthetic_rendered(), kind="newsletter", now=now(),
                                  list_slugs=target.list_slugs, audience=target.conditions,
                                  segment=target.segment)
        assert (n, mailing.segment, mailing.audience) == (
            1, info.name, ["org.kind=region", "language=sv"])
    report = deliver_due(engine, settings)
    assert report.sent == 1
    assert [r.rcpt_tos for r in smtp_server.received] == [["cia@skane.se"]]
    with transaction(engine) as s:
        with pytest.raises(MailerError, match="is a part of list 'natverk'"):
            segments.audience(s, segment=info.name, list_slugs=["other"])
        segments.remove(s, info.name)
        with pytest.raises(NotFound, match="no segment"):
            segments.audience(s, segment=info.name)
        with pytest.raises(MailerError, match="at least one condition"):
            segments.save(s, "tom", "natverk", [])
        with pytest.raises(NotFound, match="no list 'nope'"):
            segments.save(s, "x", "nope", ["language=sv"])


def test_scheduled_mailing_is_evaluated_when_it_starts(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_people(engine)
    t0 = now()
    with transaction(engine) as s:
        mailing, n = plan_mailing(
            s, synthetic_rendered(), kind="newsletter", now=t0, list_slugs=["natverk"],
            at=t0 + timedelta(minutes=5),
            audience=segments.conditions(["role~förtroendevald"]))
        mid = mailing.id
    assert n == 2  # anna and bo, as things stand at planning
    # Meanwhile: fia confirms (and matches); cia becomes an elected representative.
    with transaction(engine) as s:
        fia = s.scalar(select(Subscriber).where(Subscriber.email_key == "fia@hylte.se"))
        assert fia is not None
        s.execute(Subscription.__table__.update()
                  .where(Subscription.subscriber_id == fia.id)
                  .values(status=SubscriptionStatus.active))
        cia = s.scalar(select(Subscriber).where(Subscriber.email_key == "cia@skane.se"))
        assert cia is not None
        cia.role = "Förtroendevald"
    with transaction(engine) as s:
        report = start_due(s, t0 + timedelta(minutes=5, seconds=1), 3600, only=mid)
    assert report.started == [mid]
    later = t0 + timedelta(minutes=5, seconds=2)
    sent = deliver_due(engine, settings, clock=lambda: later)
    assert sent.sent == 4
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [
        "anna@hylte.se", "bo@regionhalland.se", "cia@skane.se", "fia@hylte.se"]


def test_conditions_need_a_list(engine: Engine) -> None:
    from mailer.services.mailings import PlannedRecipient
    with transaction(engine) as s, pytest.raises(MailerError, match="give a list too"):
        plan_mailing(s, synthetic_rendered(), kind="newsletter", now=now(),
                     recipients=[PlannedRecipient("x@example.org")],
                     audience=segments.conditions(["language=sv"]))


# --- the command line ----------------------------------------------------------------------
@pytest.fixture
def cli_ws(workspace: Path, settings: Settings, engine: Engine,
           monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MAILER_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("MAILER_SMTP_URL", settings.smtp_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", settings.secret_key)
    _register()
    return ["--workspace", str(workspace)]


def test_cli_send_where_and_segments(cli_ws: list[str], engine: Engine,
                                     smtp_server: SmtpServer) -> None:
    add_people(engine)
    run = CliRunner().invoke
    r = run(app, [*cli_ws, "segments"])
    assert r.exit_code == 0 and "no segments yet" in r.output
    r = run(app, [*cli_ws, "segments", "add", "regioner", "--list", "natverk",
                  "--where", "org.kind=region"])
    assert r.exit_code == 0, r.output
    assert "2 subscribers match now" in r.output
    r = run(app, [*cli_ws, "segments", "add", "skane", "--list", "natverk",
                  "--where", "org.county=Skåne"])
    assert r.exit_code == 0 and "; 1 subscriber matches now" in r.output, r.output
    r = run(app, [*cli_ws, "segments", "show", "regioner", "--where", "org.county=Skåne"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 active subscriber of natverk where org.kind=region and "
                               "org.county=Skåne") and "cia@skane.se" in r.output
    r = run(app, [*cli_ws, "segments"])
    assert "regioner" in r.output and "org.kind=region" in r.output

    r = run(app, [*cli_ws, "send", str(FLAGSHIP), "--list", "natverk",
                  "--where", "org.county=Halland", "--where", "language!=en"])
    assert r.exit_code == 0, r.output
    assert "queued for 1 recipient;" in r.output
    # The issue already went to natverk above: a second send says so (--again), and
    # --include-received keeps the count about the segment alone.
    r = run(app, [*cli_ws, "send", str(FLAGSHIP), "--segment", "regioner", "--again",
                  "--include-received"])
    assert r.exit_code == 0, r.output
    assert "queued for 2 recipients" in r.output
    r = run(app, [*cli_ws, "mailings"])
    assert "to segment 'regioner': where org.kind=region" in r.output
    assert "where org.county=Halland and language!=en" in r.output
    r = run(app, [*cli_ws, "worker", "--drain"])
    assert r.exit_code == 0, r.output
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "anna@hylte.se", "bo@regionhalland.se", "cia@skane.se"]

    r = run(app, [*cli_ws, "send", str(FLAGSHIP), "--list", "natverk", "--where", "lan=x"])
    assert isinstance(r.exception, MailerError) and "unknown field 'lan'" in str(r.exception)
    r = run(app, [*cli_ws, "send", str(FLAGSHIP), "--segment", "nope"])
    assert isinstance(r.exception, NotFound) and "no segment 'nope'" in str(r.exception)


def test_cli_where_an_attribute_named_as_its_imported_column(cli_ws: list[str],
                                                            workspace: Path) -> None:
    # A CSV column "Telefon" becomes the attribute "Telefon" (mailer subscribers show says
    # so); --where attr.Telefon~070 finds it (the name was lowered to "telefon": nobody).
    run = CliRunner().invoke
    assert run(app, [*cli_ws, "lists", "create", "natverk", "--name", "N"]).exit_code == 0
    people = workspace / "people.csv"
    people.write_text("e-post;namn;Telefon\nanna@hylte.se;Anna;070-174 06 05\n"
                      "bo@uppsala.se;Bo;018-12 34 56\n", encoding="utf-8")
    r = run(app, [*cli_ws, "subscribers", "import", str(people), "--list", "natverk"])
    assert r.exit_code == 0, r.output
    r = run(app, [*cli_ws, "segments", "show", "--list", "natverk", "--where", "attr.Telefon~070"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 active subscriber") and "anna@hylte.se" in r.output, r.output
    # The name matches without regard to case, as the values do ("telefon", "TELEFON").
    for spelt in ("attr.telefon~070", "attr.TELEFON~070"):
        r = run(app, [*cli_ws, "segments", "show", "--list", "natverk", "--where", spelt])
        assert r.output.startswith("1 active subscriber") and "anna@hylte.se" in r.output, \
            (spelt, r.output)
    r = run(app, [*cli_ws, "segments", "show", "--list", "natverk", "--where",
                  "attr.telefon!=070-174 06 05"])
    assert r.output.startswith("1 active subscriber") and "bo@uppsala.se" in r.output, r.output


# --- invitations: registered yes/no ---------------------------------------------------------
def test_invite_where_registered_and_organisation(engine: Engine) -> None:
    from mailer.domain.registration import RegistrationStatus
    from mailer.store.invitations import not_invited_ids, record_invitees, sync_invitation
    from mailer.store.models import RegistrationRow
    from tests.invite_helpers import INVITED_AT, SLUG, officials
    from tests.invite_helpers import PEOPLE as NETWORK
    from tests.invite_helpers import add_people as add_network

    with transaction(engine) as s:
        subs = add_network(s, NETWORK)
        row = sync_invitation(s, SLUG, officials(), INVITED_AT).row
        lst_id = s.scalar(select(Subscription.list_id).limit(1))
        assert lst_id is not None
        for email, status in (("anna.andersson@hylte.se", RegistrationStatus.registered),
                              ("david.dahl@uppsala.se", RegistrationStatus.waitlisted),
                              ("eva.ek@uppsala.se", RegistrationStatus.cancelled)):
            sub = subs[email]
            assert sub.organisation_id is not None
            s.add(RegistrationRow(invitation_id=row.id, subscriber_id=sub.id,
                                  organisation_id=sub.organisation_id, status=status))
        s.flush()

        def emails(where: list[str]) -> list[str]:
            ids = not_invited_ids(s, row, lst_id, segments.conditions(where))
            return sorted(e for e, sub in subs.items() if sub.id in ids)

        assert emails(["registered=yes"]) == ["anna.andersson@hylte.se",
                                              "david.dahl@uppsala.se"]
        assert emails(["registered=nej"]) == sorted(
            set(subs) - {"anna.andersson@hylte.se", "david.dahl@uppsala.se"})
        assert emails(["registered=no", "org.name~hylte"]) == [
            "bengt.berg@hylte.se", "cecilia.claesson@hylte.se"]
        assert emails(["registered!=yes", "org.name~UPPSALA"]) == ["eva.ek@uppsala.se"]
        # Recording the invitees follows the same conditions: nobody else counts as invited.
        n = record_invitees(s, row, list_slug="demo", now=INVITED_AT,
                            conditions=segments.conditions(["registered=no",
                                                            "org.name~hylte"]))
        assert n == 2 and emails(["org.name~hylte"]) == ["anna.andersson@hylte.se"]
        with pytest.raises(MailerError, match="'registered' works only when sending an "
                                              "invitation"):
            segments.preview(s, segments.audience(s, list_slugs=["demo"],
                                                  where=["registered=no"]))
    with pytest.raises(ConditionError, match="registered=yes or registered=no"):
        parse("registered~y")
