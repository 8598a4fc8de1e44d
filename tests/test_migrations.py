"""The Alembic migrations: one linear history that builds exactly the models' schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from mailer.errors import MailerError
from mailer.store import trigram
from mailer.store.db import (
    MIGRATIONS,
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from mailer.store.models import Base


# Neither database's reflection compares an index on an expression (the reply's start in
# ix_outbox_not_delivered, migration 0021); tests/test_not_delivered.py checks it is used.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # APScheduler keeps its own job table in our database; it is not one of our models.
    # The search's trigram indexes are there only where pg_trgm could be created (migration
    # 0022, store.trigram); tests/test_search_indexes.py checks them.
    diff = [d for d in diff if "apscheduler_jobs" not in repr(d)
            and not any(name in repr(d) for name in trigram.INDEXES)]
    assert diff == []


def test_history_is_one_line_numbered_in_order() -> None:
    """One head, no branch or merge points, file names and ids 0001, 0002, ... in order."""
    script = ScriptDirectory.from_config(_alembic_config(make_engine("sqlite://")))
    assert len(script.get_heads()) == 1
    chain = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)]
    assert [r.down_revision for r in chain] == [None] + [r.revision for r in chain[:-1]]
    files = sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py"))
    assert [name[:4] for name in files] == [r.revision for r in chain]


def test_each_step_up_and_down_on_sqlite(tmp_path: Path) -> None:
    """Every revision applies on top of the one before it, and the downgrades undo them."""
    engine = make_engine(f"sqlite:///{tmp_path}/steps.db")
    script = ScriptDirectory.from_config(_alembic_config(engine))
    chain = [r.revision for r in reversed(list(script.walk_revisions()))]
    for revision in chain:
        upgrade(engine, revision)
        assert current_revision(engine) == revision
    from alembic import command

    command.downgrade(_alembic_config(engine), "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == chain[-1]
    engine.dispose()


def test_a_database_stamped_with_branches_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0003')")
    with pytest.raises(MailerError, match="several migrations"):
        current_revision(engine)
    engine.dispose()
