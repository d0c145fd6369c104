"""A small simulated store for the tests that drive the evaluation commands."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def simulated_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One small simulated site shared by the tests of a module (they only read it)."""
    from cratedig.simulator.site import SimulationConfig, simulate_to_store
    from cratedig.store import init_db, make_engine

    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('evaluate') / 'store.sqlite'}"
    engine = make_engine(sqlite_url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=80, n_artists=60, n_events=4000, seed=3))
    engine.dispose()
    return sqlite_url
