"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from mailer.store.db import current_revision, head_revision
from mailer.store.models import Base


def test_migrations_match_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # APScheduler keeps its own job table in our database; it is not one of our models.
    diff = [d for d in diff if "apscheduler_jobs" not in repr(d)]
    assert diff == []
