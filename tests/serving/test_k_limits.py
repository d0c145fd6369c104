"""``k`` and list length: training precomputes ``max_k`` items per list by default, and a
``k`` above what the served version holds is a 400 naming the maximum (issue #11 item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cratedig.config import MAX_K, Settings, load_settings
from cratedig.exceptions import ConfigError
from cratedig.pipeline.train import train
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine
from tests.serving.conftest import make_app
from tests.serving.test_api import _envelope


def test_k_above_the_versions_list_length_is_a_400_naming_it(client: FlaskClient) -> None:
    # the fixture's version precomputed 10 items per list and 5 similar artists
    error = _envelope(
        client.get("/api/v1/users/u01/recommendations?k=11"), 400, "validation_error", "k"
    )
    assert "1..10" in error["message"] and "11" in error["message"]
    assert client.get("/api/v1/users/u01/recommendations?k=10").status_code == 200
    assert client.get("/api/v1/users/nobody/recommendations?k=10").status_code == 200
    error = _envelope(client.get("/api/v1/artists/r5/similar?k=6"), 400, "validation_error", "k")
    assert "1..5" in error["message"]
    assert len(client.get("/api/v1/artists/r5/similar").get_json()["items"]) <= 5
    # the API's own ceiling is unchanged
    error = _envelope(
        client.get("/api/v1/users/u01/recommendations?k=101"), 400, "validation_error", "k"
    )
    assert f"1..{MAX_K}" in error["message"]
    # without k: the default 10, lowered to the version's 5 for similar artists
    assert len(client.get("/api/v1/artists/r5/similar").get_json()["items"]) <= 5
    # pages ask for the default and still render
    assert client.get("/users/u01").status_code == 200


def test_max_k_setting_lowers_the_limit(store: Engine, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, max_k=5)
    client = app.test_client()
    error = _envelope(
        client.get("/api/v1/users/u01/recommendations?k=6"), 400, "validation_error", "k"
    )
    assert "1..5" in error["message"]
    assert len(client.get("/api/v1/users/u01/recommendations").get_json()["items"]) <= 5
    app.extensions["cratedig"].close()


def test_max_k_is_validated(tmp_path: Path) -> None:
    assert load_settings(env={}).max_k == MAX_K == 100
    assert load_settings(env={"CRATEDIG_MAX_K": "40"}).max_k == 40
    for bad in ("0", "101"):
        with pytest.raises(ConfigError, match="max_k"):
            load_settings(env={"CRATEDIG_MAX_K": bad})


@pytest.mark.slow
def test_training_precomputes_max_k_so_k_100_gets_100_items(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=120, n_artists=250, n_events=3000, days=20))
    settings = Settings(artifacts_dir=str(tmp_path / "artifacts"))
    version = train(engine, settings, model_name="popularity", tune=False, k_similar=5)
    assert version.params["k_lists"] == 100 and version.params["k_fallback"] == 100
    app = make_app(engine, tmp_path)
    client = app.test_client()
    warm = client.get(
        f"/api/v1/users/{_some_user(engine)}/recommendations?k=100&list=may_like"
    ).get_json()
    assert len(warm["items"]) == 100 and warm["cold_start"] is False
    cold = client.get("/api/v1/users/brand-new/recommendations?k=100").get_json()
    assert len(cold["items"]) == 100 and cold["cold_start"] is True
    app.extensions["cratedig"].close()
    engine.dispose()


def _some_user(engine: Engine) -> str:
    from sqlalchemy import select

    from cratedig.store.schema import user_events

    with engine.connect() as conn:
        return str(conn.execute(select(user_events.c.user_id).limit(1)).scalar_one())
