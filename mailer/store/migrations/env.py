"""Alembic environment: runs against the engine handed in by mailer.store.db.upgrade()."""

from alembic import context

from mailer.store.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` CLI use: build the engine from the workspace settings
    from mailer.config import load_settings
    from mailer.store.db import make_engine

    engine = make_engine(load_settings().db_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
