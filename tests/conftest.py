"""Shared fixtures: one fresh store per test, on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``CRATEDIG_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); each test gets its own database.
Without a reachable server the PostgreSQL variants are skipped with a reason, except
under CI (``CI=true``), where they fail instead: CI must never skip them.
Redis likewise comes from ``CRATEDIG_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from cratedig.store import init_db, make_engine, normalise_url

POSTGRES_ADMIN_URL = os.environ.get(
    "CRATEDIG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("CRATEDIG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(normalise_url(POSTGRES_ADMIN_URL))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def require_postgres() -> None:
    """Skip (or, under CI, fail) when the test PostgreSQL server is unreachable."""
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_reachable()
    if _PG_PROBLEM:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({_PG_PROBLEM})"
        if IN_CI:
            pytest.fail(message + "; CI must run the PostgreSQL tests")
        pytest.skip(message)


def _fresh_postgres_url() -> Iterator[str]:
    require_postgres()
    name = "cratedig_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(normalise_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = normalise_url(POSTGRES_ADMIN_URL).rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty store (no schema yet), once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        yield from _fresh_postgres_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL to an empty SQLite store, for tests that need only one backend."""
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to an empty PostgreSQL database of its own."""
    yield from _fresh_postgres_url()


def _store(url: str) -> Iterator[Engine]:
    eng = make_engine(url)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh store with the schema created, on both backends."""
    yield from _store(db_url)


@pytest.fixture
def file_engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on a fresh SQLite file store with the schema created."""
    yield from _store(sqlite_url)


@pytest.fixture
def engine_postgres(postgres_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database with the schema created."""
    yield from _store(postgres_url)


@pytest.fixture
def shared_data() -> Path:
    """The real datasets folder; tests using it are skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def redis_url() -> str:
    """A Redis URL (database 15, flushed); skipped (failed under CI) when unreachable."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except Exception as exc:
        message = f"Redis at {REDIS_TEST_URL} is not reachable ({exc})"
        if IN_CI:
            pytest.fail(message + "; CI must run the Redis tests")
        pytest.skip(message)
    client.flushdb()
    return REDIS_TEST_URL


#: The event-stream tests keep their streams in a database of their own and never flush
#: it: other tests flush database 15 at any moment (under ``-n 2`` too), which would
#: delete a stream a consumer is reading.
STREAM_REDIS_URL = os.environ.get("CRATEDIG_TEST_STREAM_REDIS_URL", "redis://127.0.0.1:6379/12")


@pytest.fixture
def stream_redis(redis_url: str) -> Iterator[tuple[str, str]]:
    """``(url, stream name)``: a Redis for event streams and a key no other test uses
    (deleted afterwards, with nothing else touched)."""
    import redis

    name = "t:" + uuid.uuid4().hex[:12]
    yield STREAM_REDIS_URL, name
    client = redis.Redis.from_url(STREAM_REDIS_URL)
    client.delete(name)
    client.close()
