"""What every subcommand shares: the settings and the store engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import click
from sqlalchemy import Engine

from cratedig.config import Settings, load_settings
from cratedig.store import init_db, make_engine


@dataclass
class CliContext:
    """Lazily built settings and engine for one CLI invocation."""

    database_url: str | None = None
    config_file: str | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config_file, database_url=self.database_url)

    def engine(self, create_schema: bool = True) -> Engine:
        """The store's engine; the schema is created first unless told otherwise."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
            if create_schema:
                init_db(self._engine)
        return self._engine


pass_cli = click.make_pass_decorator(CliContext)
