"""Cost of routing a request through running experiments (prints figures).

Builds a small store with one trained version, then times
``Versions.for_user(user, "may_like")`` over 20,000 users without experiments and with
three running experiments in two layers (two sha256 per layer, integer compares).

    PYTHONPATH=src python benchmarks/experiment_routing.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from cratedig.config import Settings
from cratedig.experiments import manage
from cratedig.pipeline.train import train
from cratedig.serving.versions import Versions
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine

N_USERS = 20_000


def _time(versions: Versions, users: list[str]) -> float:
    versions.for_user("warm-up", "may_like")
    start = time.perf_counter()
    for user in users:
        versions.for_user(user, "may_like")
    return (time.perf_counter() - start) / len(users) * 1e6


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder / 'bench.sqlite'}")
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=100, n_artists=100, n_events=5_000))
    settings = Settings(artifacts_dir=str(folder / "artifacts"))
    train(engine, settings, model_name="popularity", k_lists=10, k_similar=5, tune=False)
    users = [f"x{i}" for i in range(N_USERS)]
    base = _time(Versions(engine), users)
    manage.create(engine, "one", ["a=active", "b=active,personalise=off"], layer_share=0.5)
    manage.create(engine, "two", ["a=active", "b=holdout"], layer_share=0.5)
    manage.create(engine, "three", ["a=active", "b=active,personalise=off"], layer="other")
    for name in ("one", "two", "three"):
        manage.start(engine, name)
    routed = _time(Versions(engine), users)
    print(f"Versions.for_user over {N_USERS:,} users: {base:.1f} us/request without experiments,")
    print(f"  {routed:.1f} us/request with 3 running experiments in 2 layers")


if __name__ == "__main__":
    main()
