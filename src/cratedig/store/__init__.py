"""SQL persistence (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

``store`` imports nothing of cratedig but :mod:`cratedig.events`,
:mod:`cratedig.config` and :mod:`cratedig.exceptions`.
"""

from cratedig.store import schema
from cratedig.store.engine import init_db, make_engine, normalise_url
from cratedig.store.writes import insert_ignore, upsert

__all__ = [
    "init_db",
    "insert_ignore",
    "make_engine",
    "normalise_url",
    "schema",
    "upsert",
]
