"""SQL persistence (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

``store`` imports nothing of cratedig but :mod:`cratedig.events`,
:mod:`cratedig.config` and :mod:`cratedig.exceptions`.
"""

from cratedig.store import online_schema, schema, serving_schema
from cratedig.store.engine import make_engine, normalise_url
from cratedig.store.migrate import SchemaOutdatedError, ensure_schema, init_db
from cratedig.store.writes import insert_ignore, upsert

__all__ = [
    "SchemaOutdatedError",
    "ensure_schema",
    "init_db",
    "insert_ignore",
    "make_engine",
    "normalise_url",
    "online_schema",
    "schema",
    "serving_schema",
    "upsert",
]
