"""Fixtures: a trained hand-made store and a Flask test client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cratedig.config import Settings
from cratedig.pipeline.train import train
from cratedig.serving import create_app
from cratedig.store import init_db, make_engine
from tests.serving.helpers import TinyModel, fill_store, tiny_gems

KEY = "test-key-1"


def train_tiny(
    engine: Engine,
    artifacts: Path,
    model: Any = TinyModel,
    margin: float = 0.05,
    k_lists: int = 10,
    k_similar: int = 5,
    **settings: Any,
):
    """Train the tiny model on the store (k_lists=10, k_similar=5), with more ``settings``."""
    settings = Settings(artifacts_dir=str(artifacts), promotion_margin=margin, **settings)
    return train(
        engine,
        settings,
        model_name="tiny",
        model_factory=model,
        gems_factory=tiny_gems,
        k_lists=k_lists,
        k_similar=k_similar,
    )


@pytest.fixture
def store(sqlite_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A SQLite store with the hand-made data and one trained version."""
    engine = make_engine(sqlite_url)
    init_db(engine)
    fill_store(engine)
    train_tiny(engine, tmp_path / "artifacts")
    yield engine
    engine.dispose()


def make_app(engine: Engine, tmp_path: Path, **settings: Any) -> Flask:
    values = {
        "database_url": str(engine.url),
        "api_keys": (KEY,),
        "artifacts_dir": str(tmp_path / "artifacts"),
        **settings,
    }
    app = create_app({"ENGINE": engine, "SETTINGS": Settings(**values), "TESTING": True})
    return app


@pytest.fixture
def app(store: Engine, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(store, tmp_path)
    yield application
    application.extensions["cratedig"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def pg_store(postgres_url: str, tmp_path: Path) -> Iterator[Engine]:
    """The same store as :func:`store`, on a real PostgreSQL database."""
    engine = make_engine(postgres_url)
    init_db(engine)
    fill_store(engine)
    train_tiny(engine, tmp_path / "artifacts")
    yield engine
    engine.dispose()


def post_follow(client: FlaskClient, user_id: str = "u01", artist_id: str = "j1") -> Any:
    """POST one ``follow_artist`` event (dated after the training snapshot)."""
    return client.post(
        "/api/v1/events",
        headers={"X-API-Key": KEY},
        json={
            "user_id": user_id,
            "event_type": "follow_artist",
            "artist_id": artist_id,
            "occurred_at": "2024-01-01T00:00:00Z",
        },
    )
