"""The store's schema versions: Alembic migrations run from code.

The revisions live in ``cratedig/store/migrations/versions``; the newest is the
*head*, which equals the tables in :mod:`cratedig.store.schema` (a test compares
them). A store records its revision in Alembic's ``alembic_version`` table.

* :func:`init_db` brings any store to the head: an empty store gets the head's tables
  and is stamped; a store made before migrations existed (tables but no version table)
  is checked against the baseline, stamped and upgraded; an older store is upgraded.
* :func:`ensure_schema` is what commands and the service call when they open a store:
  an empty store is created, a current one passes, and any other raises
  :class:`SchemaOutdatedError`, naming ``cratedig db upgrade``.
* Each revision runs in a transaction of its own, on SQLite too (the pysqlite driver
  is switched to explicit ``BEGIN``, so its DDL is transactional): a killed upgrade
  leaves the store at the last whole revision, and rerunning it carries on.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.pool import NullPool

from cratedig.exceptions import StoreError
from cratedig.store.schema import metadata

SCRIPT_LOCATION = "cratedig.store:migrations"
BASELINE = "0001_baseline"
UPGRADE_HINT = "cratedig db upgrade"


class SchemaOutdatedError(StoreError):
    """The store's schema revision is not the one this cratedig needs."""


@dataclass(frozen=True)
class SchemaStatus:
    """Where a store's schema stands against the code.

    Attributes
    ----------
    state
        ``"empty"`` (no cratedig tables), ``"legacy"`` (tables from before
        migrations, no version table), ``"current"`` (at head), ``"behind"`` (an
        older revision) or ``"unknown"`` (a revision this cratedig does not know,
        usually written by a newer release).
    current
        The store's revision (``None`` when empty or legacy).
    head
        The revision the code needs.
    """

    state: str
    current: str | None
    head: str

    def message(self, where: str) -> str:
        """The sentence to show a user for a store that is not current."""
        if self.state == "legacy":
            return (
                f"The store at {where} was created before cratedig had schema migrations; "
                f"it needs revision {self.head}. Run `{UPGRADE_HINT}` (back it up first)."
            )
        if self.state == "behind":
            return (
                f"The store at {where} is at schema revision {self.current}, but this "
                f"cratedig needs {self.head}. Run `{UPGRADE_HINT}` (back it up first)."
            )
        if self.state == "unknown":
            return (
                f"The store at {where} is at schema revision {self.current!r}, which this "
                f"cratedig does not know (it needs {self.head}); it was probably upgraded "
                "by a newer cratedig. Install that release, or restore a backup."
            )
        return f"The store at {where} is {self.state} (revision {self.current})."


@dataclass(frozen=True)
class RevisionInfo:
    """One revision, for ``cratedig db history``."""

    revision: str
    down_revision: str | None
    title: str
    lossless_downgrade: bool


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at cratedig's migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    """The revisions shipped with this cratedig."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision: the schema this code expects."""
    head = script_directory().get_current_head()
    if head is None:  # pragma: no cover - the baseline always exists
        raise StoreError("no schema revisions found in cratedig.store.migrations")
    return head


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def schema_status(engine: Engine) -> SchemaStatus:
    """Compare a store's schema revision with the code's head."""
    head = head_revision()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = set(inspect(conn).get_table_names())
    if current is None:
        ours = tables & set(metadata.tables)
        return SchemaStatus("legacy" if ours else "empty", None, head)
    if current == head:
        return SchemaStatus("current", current, head)
    known = {s.revision for s in script_directory().walk_revisions()}
    return SchemaStatus("behind" if current in known else "unknown", current, head)


def ensure_schema(engine: Engine) -> SchemaStatus:
    """Open a store for work: create an empty one, refuse an outdated one.

    Raises
    ------
    SchemaOutdatedError
        When the store is not at the head revision (the message names
        ``cratedig db upgrade``).
    """
    status = schema_status(engine)
    if status.state == "empty":
        init_db(engine)
        return SchemaStatus("current", status.head, status.head)
    if status.state != "current":
        raise SchemaOutdatedError(status.message(_where(engine)))
    return status


# -- progress --------------------------------------------------------------------------

ProgressCallback = Callable[[str, int, int], None]
_PROGRESS: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar(
    "cratedig_migration_progress", default=None
)


def report_progress(what: str, done: int, total: int) -> None:
    """Called by data-moving revisions: ``done`` of ``total`` rows of ``what``."""
    callback = _PROGRESS.get()
    if callback is not None:
        callback(what, done, total)


# -- running Alembic ---------------------------------------------------------------------


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection on which each revision's DDL and data move is one transaction.

    pysqlite commits before every DDL statement by default; on a private engine it is
    switched to autocommit mode and SQLAlchemy emits ``BEGIN`` itself (the recipe in
    SQLAlchemy's pysqlite notes), which makes SQLite's DDL transactional.
    """
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        private = create_engine(engine.url, poolclass=NullPool)

        @event.listens_for(private, "connect")
        def _autocommit_driver(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(private, "begin")
        def _explicit_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        try:
            with private.connect() as conn:
                yield conn
        finally:
            private.dispose()
    else:
        with engine.connect() as conn:
            yield conn


def _run(engine: Engine, action: Callable[[Config], None]) -> None:
    with _migration_connection(engine) as conn:
        action(alembic_config(conn))
        if conn.in_transaction():
            conn.commit()


def check_legacy_store(engine: Engine) -> None:
    """Check that a store made before migrations holds the baseline's tables.

    Tables the baseline lacks are ignored (they are not cratedig's); a baseline table
    missing a column means the store is not what this cratedig can upgrade.
    """
    baseline = _baseline_module().baseline_metadata()
    found = inspect(engine)
    problems = []
    for name in sorted(set(found.get_table_names()) & set(baseline.tables)):
        have = {c["name"] for c in found.get_columns(name)}
        missing = [c.name for c in baseline.tables[name].columns if c.name not in have]
        if missing:
            problems.append(f"{name} lacks {', '.join(missing)}")
    if problems:
        raise StoreError(
            f"The store at {_where(engine)} has no schema revision and does not match "
            f"cratedig's baseline schema ({'; '.join(problems)}); it cannot be upgraded "
            "automatically."
        )


def _baseline_module() -> Any:
    script = script_directory().get_revision(BASELINE)
    assert script is not None
    return script.module


def pending_revisions(engine: Engine, target: str = "head") -> list[str]:
    """The revisions an upgrade to ``target`` would apply, oldest first."""
    status = schema_status(engine)
    lower = status.current or "base"
    if status.state == "unknown":
        raise SchemaOutdatedError(status.message(_where(engine)))
    scripts = list(script_directory().iterate_revisions(target, lower))
    return [s.revision for s in reversed(scripts)]


def upgrade(
    engine: Engine, target: str = "head", progress: ProgressCallback | None = None
) -> list[str]:
    """Upgrade a store to ``target`` (default: the head); returns what was applied.

    An empty store gets the head's tables directly; a store from before migrations
    is checked against the baseline first. Nothing happens on a current store.
    """
    status = schema_status(engine)
    if status.state == "legacy":
        check_legacy_store(engine)
    pending = pending_revisions(engine, target)
    if not pending:
        return []
    token = _PROGRESS.set(progress)
    try:
        for revision in pending:
            if progress is not None:
                progress(f"revision {revision}", 0, 1)
            _run(engine, lambda cfg, rev=revision: command.upgrade(cfg, rev))  # type: ignore[misc]
            if progress is not None:
                progress(f"revision {revision}", 1, 1)
    finally:
        _PROGRESS.reset(token)
    return pending


def init_db(engine: Engine) -> list[str]:
    """Bring a store to the head revision; safe to run any number of times.

    Returns
    -------
    list of str
        The names of the tables created by this call.
    """
    before = set(inspect(engine).get_table_names())
    status = schema_status(engine)
    if status.state == "empty":
        with _migration_connection(engine) as conn, conn.begin():
            metadata.create_all(conn)
            MigrationContext.configure(conn).stamp(script_directory(), "head")
    else:
        upgrade(engine)
    after = set(inspect(engine).get_table_names())
    return sorted(after - before)


def downgrade(engine: Engine, target: str, allow_data_loss: bool = False) -> list[str]:
    """Undo revisions down to ``target``; returns the revisions undone, newest first.

    Raises
    ------
    StoreError
        When one of them cannot be undone without losing data and
        ``allow_data_loss`` is false.
    """
    status = schema_status(engine)
    if status.state not in {"current", "behind"}:
        raise StoreError(status.message(_where(engine)))
    scripts: list[Script] = list(script_directory().iterate_revisions(status.current, target))
    undone = [s for s in scripts if s.revision != target]
    lossy = [s.revision for s in undone if not getattr(s.module, "LOSSLESS_DOWNGRADE", False)]
    if lossy and not allow_data_loss:
        raise StoreError(
            f"downgrade to {target!r} would undo {', '.join(lossy)}, which cannot be undone "
            "without losing data; pass --allow-data-loss (after a backup) to do it anyway."
        )
    for script in undone:
        down = script.down_revision if isinstance(script.down_revision, str) else "base"
        _run(engine, lambda cfg, rev=down: command.downgrade(cfg, rev))  # type: ignore[misc]
    return [s.revision for s in undone]


def history() -> list[RevisionInfo]:
    """Every revision, oldest first."""
    out = []
    for script in reversed(list(script_directory().walk_revisions())):
        down = script.down_revision if isinstance(script.down_revision, str) else None
        title = (script.doc or "").strip().splitlines()[0] if script.doc else ""
        lossless = bool(getattr(script.module, "LOSSLESS_DOWNGRADE", False))
        out.append(RevisionInfo(script.revision, down, title, lossless))
    return out
