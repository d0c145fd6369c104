"""The store's schema is exactly the recorded snapshot: every table, column and index.

Moving a table between modules of :mod:`cratedig.store.schema` must not change the
database. A deliberate schema change (with its Alembic revision) updates the snapshot:
``CRATEDIG_UPDATE_SCHEMA_SNAPSHOT=1 pytest tests/store/test_schema_snapshot.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

import cratedig.store  # noqa: F401  (registers every table on the metadata)
from cratedig.store import schema

SNAPSHOT = Path(__file__).with_name("schema_snapshot.json")


def describe(metadata: MetaData) -> dict[str, Any]:
    """Each table's columns and its DDL (table and indexes) on SQLite and PostgreSQL."""
    out: dict[str, Any] = {}
    for name in sorted(metadata.tables):
        table = metadata.tables[name]
        entry: dict[str, Any] = {}
        for label, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
            ddl = [str(CreateTable(table).compile(dialect=dialect)).strip()]
            ddl += sorted(
                str(CreateIndex(ix).compile(dialect=dialect)).strip() for ix in table.indexes
            )
            entry[label] = ddl
        entry["columns"] = [
            [
                c.name,
                repr(c.type),
                c.nullable,
                c.primary_key,
                repr(c.default.arg)
                if c.default is not None and not callable(c.default.arg)
                else None,
                str(c.autoincrement),
            ]
            for c in table.columns
        ]
        out[name] = entry
    return out


def test_schema_matches_the_snapshot() -> None:
    current = describe(schema.metadata)
    if os.environ.get("CRATEDIG_UPDATE_SCHEMA_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert sorted(current) == sorted(expected)
    for name in expected:
        assert current[name] == expected[name], name


def test_every_table_is_exported_from_the_schema_package() -> None:
    exported = {name for name in schema.__all__ if name != "metadata"}
    assert exported == set(schema.metadata.tables)
    for name in exported:
        assert getattr(schema, name) is schema.metadata.tables[name]
