"""Alembic's migration environment for the cratedig store.

cratedig runs Alembic from code (:mod:`cratedig.store.migrate`), never from an
``alembic.ini``: the caller hands over an open connection in
``config.attributes["connection"]``. Offline (SQL script) mode is not supported.

* ``target_metadata`` is the live schema, so ``alembic`` autogenerate and the suite's
  "no pending differences" test compare the migrations' head with the code.
* ``render_as_batch=True``: SQLite cannot ``ALTER`` most things, so changes to a table
  are written as Alembic batch operations (copy, swap) that work on both databases.
* ``transaction_per_migration=True``: each revision commits on its own, with its
  version-table update, so a killed upgrade resumes after the last whole revision.
"""

from __future__ import annotations

from alembic import context

from cratedig.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a hand-run `alembic` CLI
    raise RuntimeError(
        "cratedig's migrations run through `cratedig db upgrade` (or "
        "cratedig.store.migrate), which supplies the connection."
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    transaction_per_migration=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
