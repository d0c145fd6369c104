"""The simulated site of the end-to-end experiments: the default model and ``popularity``."""

from __future__ import annotations

from pathlib import Path

from cratedig.config import Settings
from cratedig.pipeline import registry
from cratedig.pipeline.train import train
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine

SITE = SimulationConfig(n_users=300, n_artists=200, n_events=24_000, days=30, seed=5)


def default_and_popularity(folder: Path) -> tuple[Path, Path, str, str]:
    """Simulate :data:`SITE` into ``folder/store.sqlite`` and train the production default
    and ``popularity`` as ``cratedig train --no-tune`` does; ``popularity`` is promoted
    (being served). Returns the store, the artifacts folder and both version ids."""
    engine = make_engine(f"sqlite:///{folder / 'store.sqlite'}")
    init_db(engine)
    simulate_to_store(engine, SITE)
    settings = Settings(artifacts_dir=str(folder / "artifacts"))
    good = train(engine, settings, tune=False)
    popular = train(engine, settings, model_name="popularity", tune=False)
    registry.promote(engine, popular.version_id)
    engine.dispose()  # (SQLite in WAL mode: the file is complete once closed)
    return folder / "store.sqlite", folder / "artifacts", good.version_id, popular.version_id
