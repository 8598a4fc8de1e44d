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
from mailer.store.models import Subscriber, Subscription
from tests.admin.conftest import token_for


@pytest.fixture
def api_schema(app: FastAPI, engine: Engine, team: dict[str, int]):  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        sub = Subscriber(email="anna@example.org", email_key="anna@example.org", name="Anna")
        s.add(sub)
        s.flush()
        s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))
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
