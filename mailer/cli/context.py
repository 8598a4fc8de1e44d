"""What every command needs: settings and a database engine, created lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from mailer.config import Settings, load_settings
from mailer.store.db import log_long_writes, make_engine, require_current


@dataclass
class AppContext:
    """Holds the workspace choice until a command asks for settings or the database."""

    workspace: Path | None = None
    overrides: dict[str, object] = field(default_factory=dict)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.workspace, **self.overrides)

    @cached_property
    def engine(self) -> Engine:
        """The engine of a database that exists and is migrated (else a clear error)."""
        engine = make_engine(self.settings.db_url)
        require_current(engine)
        if self.settings.server_timing:  # who keeps the others waiting (load tests)
            log_long_writes(engine)
        return engine

    def close(self) -> None:
        """Close the engine's pooled connections, if a command opened it."""
        engine = self.__dict__.pop("engine", None)
        if engine is not None:
            engine.dispose()

    def raw_engine(self) -> Engine:
        """The engine without the migration check (for ``init`` and ``db upgrade``)."""
        return make_engine(self.settings.db_url)

