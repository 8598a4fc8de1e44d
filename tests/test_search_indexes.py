"""The subscribers search's indexes on PostgreSQL (migration 0022, ``store.trigram``): the
trigram indexes serve the search's own query, a page's ids come from the address's index
alone, and where ``pg_trgm`` cannot be created the migration goes on without the indexes,
the search still finds the same people and ``mailer doctor`` says what to do. SQLite has
none of this."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from mailer.config import load_settings
from mailer.services.deliverability import Check, doctor
from mailer.services.lists import create_list
from mailer.store import search, trigram
from mailer.store import subscriptions as subs
from mailer.store.db import transaction, upgrade
from mailer.store.search import search_subscribers
from tests.conftest import TEST_SECRET

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


#: PostgreSQL only (SQLite has no trigram index): the engine fixture's PostgreSQL case.
postgresql_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def _plan(conn: Connection, query: object) -> str:
    """PostgreSQL's plan of ``query`` (a Select) with sequential scans and sorts priced
    out: on a table of a few rows a scan is cheapest, and the question here is whether
    the indexes can serve the query as it is written, not which the planner prefers."""
    sql = str(query.compile(dialect=postgresql.dialect(),  # type: ignore[attr-defined]
                            compile_kwargs={"literal_binds": True}))
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql("SET LOCAL enable_sort = off")
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


@postgresql_only
def test_the_indexes_are_there_after_the_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        assert trigram.missing(conn) == []
        unique = {u["name"]: u["column_names"]
                  for u in inspect(conn).get_unique_constraints("subscribers")}
        assert unique["uq_subscribers_email_key"] == ["email_key"]
        definition = conn.scalar(text("SELECT indexdef FROM pg_indexes "
                                      "WHERE indexname = 'uq_subscribers_email_key'"))
        assert definition is not None and definition.endswith("(email_key) INCLUDE (id)")


@postgresql_only
def test_a_search_is_served_by_the_trigram_indexes(engine: Engine) -> None:
    """The address, the lower-cased name and the organisations each an index condition
    (``LIKE`` with ``ESCAPE``, organisations as ``= ANY`` of an array), the three joined
    by a BitmapOr: the query as the search writes it, not a rewrite of it."""
    from sqlalchemy import select

    from mailer.store.models import Subscriber

    query = search._filtered(select(Subscriber.id), "Hylte_50%", None, sqlite=False)
    with engine.begin() as conn:
        plan = _plan(conn, query)
    assert "BitmapOr" in plan, plan
    for index in ("ix_subscribers_email_key_trgm", "ix_subscribers_name_trgm",
                  "ix_subscribers_organisation_id", "ix_organisations_name_key_trgm"):
        assert index in plan, plan


@postgresql_only
def test_a_pages_ids_are_read_from_the_address_index_alone(engine: Engine) -> None:
    with engine.begin() as conn:
        plan = _plan(conn, search._page_ids("", None, False, 0, None).offset(100).limit(50))
    assert "Index Only Scan using uq_subscribers_email_key" in plan, plan


@postgresql_only
def test_without_pg_trgm_the_migration_goes_on_and_the_search_still_finds(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """An extension that cannot be created (here: one not installed) leaves the
    transaction usable, says what to do, and the search reads every subscriber instead."""
    with transaction(engine) as s:
        lst = create_list(s, "stor", "Stor", double_opt_in=False).id
        for i in range(30):
            subs.subscribe(s, f"p{i:02d}@hylte.example", lst, double_opt_in=False, now=NOW,
                           ip=None, wording="x", name=f"Åsa Öberg {i}")
    with engine.connect() as conn, conn.begin() as outer:
        trigram.drop(conn)
        with caplog.at_level(logging.WARNING, logger="mailer.store.trigram"):
            assert trigram.create(conn, extension="pg_trgm_not_installed") is False
        assert "pg_trgm_not_installed" in caplog.text and "CREATE EXTENSION" in caplog.text
        assert trigram.missing(conn) == list(trigram.INDEXES)
        page = search_subscribers(Session(bind=conn), "ÖBERG 1")
        assert [h.email for h in page.items] == ["p01@hylte.example"] + [
            f"p{i}@hylte.example" for i in range(10, 20)]
        assert page.total == 11
        outer.rollback()
    with engine.connect() as conn:
        assert trigram.missing(conn) == []


def _doctor_says(engine: Engine, workspace: Path) -> Check:
    settings = load_settings(workspace, database_url=engine.url.render_as_string(
        hide_password=False), secret_key=TEST_SECRET, base_url="https://n.example.org")
    (check,) = [c for c in doctor(settings).checks if "trigram" in c.what]
    return check


def test_migration_0022_up_and_down_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Down and up again; ``mailer doctor`` says when the indexes are missing, and how
    to make them."""
    from alembic import command

    from mailer.store.db import _alembic_config
    from tests.conftest import empty_pg_database

    with empty_pg_database(pg_url, "mailer_search_ix") as engine:
        upgrade(engine)
        with transaction(engine) as s:
            lst = create_list(s, "stor", "Stor", double_opt_in=False).id
            subs.subscribe(s, "anna@hylte.example", lst, double_opt_in=False, now=NOW,
                           ip=None, wording="x", name="Anna")
        command.downgrade(_alembic_config(engine), "0021")
        with engine.connect() as conn:
            assert trigram.missing(conn) == list(trigram.INDEXES)
            assert conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                    "'uq_subscribers_email_key'")).endswith("(email_key)")
        missing = _doctor_says(engine, tmp_path)
        assert not missing.ok and "ix_subscribers_name_trgm" in missing.what
        assert "CREATE EXTENSION pg_trgm" in missing.fix
        upgrade(engine)
        with engine.connect() as conn:
            assert trigram.missing(conn) == []
        assert _doctor_says(engine, tmp_path).ok
        with transaction(engine) as s:
            assert [h.email for h in search_subscribers(s, "HYLTE").items] == [
                "anna@hylte.example"]
