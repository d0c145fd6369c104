"""A list follows the user between retrains: the served model scores their current history.

A small simulated site (genres are artist tags) is trained with the default model; users
then follow the 3 most-listened artists of a genre absent from their history through the
real API, and their next top 10 is read from the real service (Flask test client), with
the same code as ``benchmarks/personalisation.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.config import Settings
from cratedig.pipeline.train import train
from cratedig.serving.live_models import LiveModels, fold_value, score_current
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine

ROOT = Path(__file__).resolve().parents[2]


def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "personalisation_bench", ROOT / "benchmarks" / "personalisation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("live-site")
    url = f"sqlite:///{folder / 'site.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=400, n_artists=600, n_events=40_000, seed=7))
    settings = Settings(database_url=url, artifacts_dir=str(folder / "artifacts"))
    version = train(engine, settings, tune=False)
    assert version.active, version.note
    engine.dispose()
    yield url, str(folder / "artifacts")


@pytest.mark.slow
def test_following_a_new_genre_fills_the_top_10_with_it(site: tuple[str, str]) -> None:
    bench = benchmark()
    client, app, engine = bench.make_client(*site)
    try:
        cases = bench.genre_cases(engine, n_genres=3, n_users=6, seed=1)
        assert len(cases) == 18
        result = bench.measure(client, engine, cases)
    finally:
        app.extensions["cratedig"].close()
        engine.dispose()
    assert result["personalised_share"] == 1.0
    assert result["mean_in_genre"] >= 5.0, result
    assert result["explained_share"] >= 0.9, result


def test_fold_value_follows_the_engagement_transform() -> None:
    assert fold_value(2.0, 5.0, None) == 7.0
    assert fold_value(np.log1p(3.0), 5.0, "log1p") == pytest.approx(np.log1p(8.0))
    assert fold_value(0.0, 5.0, "binary") == 1.0


class _Ids:
    def __init__(self, ids: list[str]) -> None:
        self._ids = ids

    def get(self, ident: str, default: int = -1) -> int:
        return self._ids.index(ident) if ident in self._ids else default

    def indices(self, idents: Any) -> np.ndarray:
        return np.array([self.get(i) for i in idents], dtype=np.int64)

    def id(self, idx: int) -> str:
        return self._ids[idx]

    def to_ids(self, idxs: Any) -> list[str]:
        return [self._ids[int(i)] for i in idxs]


def test_score_current_names_only_recent_contributors() -> None:
    from cratedig.models import make_model

    # users 0-3 listen to a0..a3, users 4-7 to b0..b3; user 0 now follows b0 and b1
    X = sp.lil_matrix((8, 8), dtype=np.float32)
    for u in range(8):
        for j in range(4):
            X[u, (u // 4) * 4 + (u + j) % 4] = 10.0 - j
    model = make_model("item_knn", neighbours=5).fit(sp.csr_matrix(X))
    artists = [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)]
    live = type("Live", (), {})()
    live.model, live.users, live.artists = model, _Ids([f"u{i}" for i in range(8)]), _Ids(artists)
    live.content = None
    scored = score_current(live, "u0", {"b0": 5.0, "b1": 5.0}, set(), k=3, transform=None)
    assert scored is not None
    assert set(scored.artist_ids[:2]) <= {"b2", "b3"}
    for ids, recent in zip(scored.artist_ids, scored.recent_reasons, strict=True):
        if ids.startswith("b"):
            assert recent and set(recent) <= {"b0", "b1"}


def test_popularity_is_not_personalised_by_live_rescoring() -> None:
    """A popularity version keeps its own ranking from a current history, minus the
    artists the user knows now: no neighbours of what they played, no tag content."""
    from cratedig.models import make_model

    # a0 is the most popular, then a1, a2...; u0 knows a0 (only), now plays a5 and has
    # unfollowed a3
    X = sp.lil_matrix((8, 8), dtype=np.float32)
    for u in range(8):
        for j in range(8 - u):
            X[u, j] = 1.0
    X[7, 6] = 1.0
    model = make_model("popularity").fit(sp.csr_matrix(X))
    assert model.uses_history is False
    live = type("Live", (), {})()
    artists = [f"a{i}" for i in range(8)]
    live.model, live.users, live.artists = model, _Ids([f"u{i}" for i in range(8)]), _Ids(artists)
    live.content = None
    X[0] = 0.0
    X[0, 0] = 1.0
    model.X_ = sp.csr_matrix(X)
    scored = score_current(live, "u0", {"a5": 5.0}, {"a3"}, k=8, transform=None)
    assert scored is not None
    assert scored.artist_ids == ["a1", "a2", "a4", "a6", "a7"]
    assert scored.recent_reasons == [[]] * 5 and scored.other_reasons == [[]] * 5


def test_a_version_without_artifacts_is_remembered_as_none(tmp_path: Path) -> None:
    models = LiveModels()
    assert models.get("v1", str(tmp_path / "missing")) is None
    assert models.get("v1", str(tmp_path / "missing")) is None
    assert models.get("v2", None) is None
