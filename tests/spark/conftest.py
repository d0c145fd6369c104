"""Spark fixtures: one local[2] SparkSession per test session, and shared stores.

Where Java or pyspark is missing the Spark tests are skipped with the reason, except
under CI (``CI=true``), where they fail: CI must run them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cratedig.simulator.config import SimulationConfig
from cratedig.simulator.site import simulate_to_store
from cratedig.store import init_db, make_engine
from tests.conftest import IN_CI, SHARED_DATA

#: A small simulated site: every event type, follows and unfollows, several weeks.
SITE = SimulationConfig(n_users=150, n_artists=120, n_events=12_000, days=40, seed=11)


def _spark_problem() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        return f"pyspark is not installed ({exc}); pip install cratedig[spark]"
    java = shutil.which("java")
    if java is None:
        return "no `java` on PATH (Debian: apt-get install openjdk-17-jre-headless)"
    try:
        subprocess.run([java, "-version"], check=True, capture_output=True, timeout=30)
    except Exception as exc:
        return f"`java -version` failed ({exc})"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local[2] SparkSession with small shuffles, stopped at the end of the session."""
    problem = _spark_problem()
    if problem:
        if IN_CI:
            pytest.fail(problem + "; CI must run the Spark tests")
        pytest.skip(problem)
    from cratedig.spark.session import make_session

    session = make_session("local[2]", app_name="cratedig-tests", shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def site_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A SQLite store with the simulated site :data:`SITE`."""
    path = tmp_path_factory.mktemp("site") / "site.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    simulate_to_store(engine, SITE)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def hetrec_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A SQLite store with Last.fm HetRec 2K (skipped when the data is absent)."""
    folder = SHARED_DATA / "hetrec2011-lastfm-2k"
    if not folder.is_dir():
        pytest.skip(f"HetRec data not found at {folder}")
    from cratedig.datasets.lastfm_hetrec import import_hetrec

    path = tmp_path_factory.mktemp("hetrec") / "hetrec.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    import_hetrec(engine, folder)
    yield engine
    engine.dispose()


def export(engine: Engine, folder: Path) -> str:
    """Export the store's events to Parquet; the ``parquet:`` source of the folder."""
    from cratedig.spark.export import export_events_parquet

    if not folder.exists():
        export_events_parquet(engine, folder)
    return f"parquet:{folder}"


@pytest.fixture(scope="session")
def site_parquet(site_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    return export(site_store, tmp_path_factory.mktemp("site_parquet") / "events")


@pytest.fixture(scope="session")
def hetrec_parquet(hetrec_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    return export(hetrec_store, tmp_path_factory.mktemp("hetrec_parquet") / "events")
