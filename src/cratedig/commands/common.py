"""What every subcommand shares: the settings and the store engine."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

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


def parse_params(items: Iterable[str]) -> dict[str, Any]:
    """``--param NAME=VALUE`` options as a dict; a value is JSON when it parses as JSON."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--param")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def echo_trained(version: Any) -> None:
    """One line on a trained version: its NDCG@10 and whether it was promoted."""
    ndcg = "n/a" if version.ndcg_at_10 is None else f"{version.ndcg_at_10:.4f}"
    verdict = "promoted (now serving)" if version.active else f"not promoted: {version.note}"
    click.echo(f"{version.version_id}: ndcg@10={ndcg}; {verdict}")
