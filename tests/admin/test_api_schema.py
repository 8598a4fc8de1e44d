"""Schemathesis generates requests from the OpenAPI description and checks the answers:
no server error anywhere, and every answer as the description says."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from sqlalchemy import Engine

from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Base, Subscriber, Subscription
from tests.admin.conftest import token_for

#: Kept between a stateful run's examples: who calls (the team and the token).
ACCOUNTS = ("users", "api_tokens", "user_sessions")


def _seed(engine: Engine) -> None:
    """What every call starts from: one list with one subscriber."""
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        sub = Subscriber(email="anna@example.org", email_key="anna@example.org", name="Anna")
        s.add(sub)
        s.flush()
        s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))


def _reset(engine: Engine) -> None:
    """Everything but the accounts emptied and seeded again: each example of a stateful
    run starts from the same data, so the calls an example draws (which depend on the
    answers, e.g. the subscribers a GET lists) are the same when Hypothesis replays it."""
    with transaction(engine) as s:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in ACCOUNTS:
                s.execute(table.delete())
    _seed(engine)


@pytest.fixture
def api_schema(app: FastAPI, engine: Engine, team: dict[str, int]):  # type: ignore[no-untyped-def]
    _seed(engine)
    token = token_for(engine, "admin")
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.headers = {"authorization": f"Bearer {token}"}
    return schema


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_api_conforms_and_never_fails(api_schema) -> None:  # type: ignore[no-untyped-def]
    # Each operation in turn, a handful of generated requests each (the whole run stays
    # well under a minute). schemathesis' own pytest plugin does not load under pytest 9.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        run()


def test_api_stateful_links(api_schema, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Chains of calls along the links schemathesis infers from the description (a
    subscriber made by POST is read and erased by its id, a mailing made is fetched and
    controlled, ...), authenticated: no server error, every answer as described."""
    base = api_schema.as_state_machine()
    links = [name for name in vars(base) if "___" in name and not name.startswith("RANDOM")]
    assert "POST_subscribers___202_GetSubscriber__GET_subscribers_subscriber_id_" in links
    assert "POST_mailings___201_GetMailing__GET_mailings_mailing_id_" in links

    class Machine(base):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, additional_checks=None,  # type: ignore[no-untyped-def]
                              **kwargs):
            # The configured token authenticates every call; schemathesis' "ignored
            # auth" check assumes generated credentials and would misread that.
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

        def teardown(self) -> None:
            _reset(engine)

    Machine.run(settings=settings(max_examples=12, stateful_step_count=6, deadline=None,
                                  derandomize=True, database=None,
                                  suppress_health_check=list(HealthCheck)))
