"""Fixtures of the traffic simulator's tests: a small simulated site, trained, served."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from cratedig.config import Settings
from cratedig.pipeline.train import train
from cratedig.serving import create_app
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine
from cratedig.store.reads import latest_event_ms
from tests.serving.helpers import TinyModel, tiny_gems

KEY = "traffic-test-key"
#: The site every traffic test's listeners come from.
SITE = SimulationConfig(n_users=150, n_artists=200, n_events=12_000, days=30, seed=3)


def build_store(url: str, artifacts: Path, trained: bool = True) -> Engine:
    """Simulate :data:`SITE` into a fresh store and train the tiny model on it."""
    engine = make_engine(url)
    init_db(engine)
    simulate_to_store(engine, SITE)
    if trained:
        settings = Settings(artifacts_dir=str(artifacts))
        train(
            engine, settings, model_name="tiny", model_factory=TinyModel,
            gems_factory=tiny_gems, k_lists=20, k_similar=10,
        )  # fmt: skip
    return engine


def make_app(engine: Engine, artifacts: Path) -> Flask:
    settings = Settings(database_url=str(engine.url), api_keys=(KEY,), artifacts_dir=str(artifacts))
    return create_app({"ENGINE": engine, "SETTINGS": settings, "TESTING": True})


def start_after_store(engine: Engine) -> int:
    """Midnight after the store's last event (where the traffic begins)."""
    with engine.connect() as conn:
        last = latest_event_ms(conn)
    assert last is not None
    return (last // 86_400_000 + 1) * 86_400_000


@pytest.fixture(scope="session")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A trained SQLite store of :data:`SITE` (file, artifacts), built once and copied."""
    folder = tmp_path_factory.mktemp("traffic-base")
    path = folder / "store.sqlite"
    engine = build_store(f"sqlite:///{path}", folder / "artifacts")
    engine.dispose()
    return path, folder / "artifacts"


@pytest.fixture
def deterministic_list_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make the service's list ids a counter; call the result to restart it."""
    import cratedig.serving.service as service

    def reset() -> None:
        counter = itertools.count()
        monkeypatch.setattr(service, "new_list_id", lambda: f"L{next(counter):08d}")

    reset()
    return reset


@pytest.fixture
def served(base_store: tuple[Path, Path], tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """A factory of fresh copies of the base store, each with its app: name -> (engine, app)."""
    opened: list[tuple[Engine, Flask]] = []
    path, artifacts = base_store

    def open_copy(name: str) -> tuple[Engine, Flask]:
        copy = tmp_path / f"{name}.sqlite"
        shutil.copy(path, copy)
        engine = make_engine(f"sqlite:///{copy}")
        app = make_app(engine, artifacts)
        opened.append((engine, app))
        return engine, app

    yield open_copy
    for engine, app in opened:
        app.extensions["cratedig"].close()
        engine.dispose()
