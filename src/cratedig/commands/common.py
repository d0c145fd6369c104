"""What every subcommand shares: the settings and the store engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import click
from sqlalchemy import Engine

from cratedig.config import Settings, load_settings
from cratedig.store import ensure_schema, make_engine


@dataclass
class CliContext:
    """Lazily built settings and engine for one CLI invocation."""

    database_url: str | None = None
    config_file: str | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _schema_checked: bool = field(default=False, repr=False)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config_file, database_url=self.database_url)

    def engine(self, create_schema: bool = True) -> Engine:
        """The store's engine.

        With ``create_schema`` (the default) an empty store gets the schema, and a
        store whose schema revision is behind the code stops the command with
        :class:`~cratedig.store.SchemaOutdatedError` naming ``cratedig db upgrade``.
        """
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        if create_schema and not self._schema_checked:
            ensure_schema(self._engine)
            self._schema_checked = True
        return self._engine


pass_cli = click.make_pass_decorator(CliContext)
