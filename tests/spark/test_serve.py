"""A version trained on Spark is a normal registry version the real service serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cratedig.cli import cli
from cratedig.config import Settings
from cratedig.models import load_model
from cratedig.pipeline import registry
from cratedig.serving import create_app
from cratedig.simulator.config import SimulationConfig
from cratedig.simulator.site import simulate_to_store
from cratedig.store import init_db, make_engine
from cratedig.store.schema import precomputed_lists

# one worker (one SparkSession) runs every Spark test under `-n 2 --dist loadgroup`
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

KEY = "spark-test-key"


@pytest.mark.slow
def test_spark_version_is_served(spark: Any, tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=80, n_artists=70, n_events=5_000, seed=2))
    artifacts = tmp_path / "artifacts"
    runner = CliRunner()
    out = tmp_path / "events"
    result = runner.invoke(
        cli,
        ["--db", f"sqlite:///{db}", "export", "events", "--format", "parquet", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "events in" in result.output

    from cratedig.spark.train import spark_train

    settings = Settings(database_url=f"sqlite:///{db}", artifacts_dir=str(artifacts))
    version = spark_train(
        engine,
        settings,
        f"parquet:{out}",
        params={"factors": 8, "iterations": 5},
        shuffle_partitions=4,
        k_lists=10,
    )
    assert version.status == "ready" and version.active  # first version: promoted
    assert version.model_name == "als" and version.ndcg_at_10 is not None
    assert registry.active_version(engine).version_id == version.version_id

    # the saved model is an ordinary ALS whose factors came from Spark
    model = load_model(artifacts / version.version_id / "model")
    assert type(model).__name__ == "ALS" and model.user_factors_.shape[1] == 8
    assert np.abs(model.artist_factors_).sum() > 0

    with engine.connect() as conn:
        row = conn.execute(
            select(precomputed_lists.c.user_id, precomputed_lists.c.entries).where(
                precomputed_lists.c.version_id == version.version_id,
                precomputed_lists.c.list_type == "may_like",
            )
        ).first()
    assert row is not None
    user_id, entries = row
    stored = [item["artist_id"] for item in json.loads(entries)]
    assert stored

    app = create_app(
        {
            "ENGINE": engine,
            "SETTINGS": Settings(
                database_url=f"sqlite:///{db}", api_keys=(KEY,), artifacts_dir=str(artifacts)
            ),
            "TESTING": True,
        }
    )
    try:
        client = app.test_client()
        body = client.get(f"/api/v1/users/{user_id}/recommendations?k=10").get_json()
        assert body["model_version"] == version.version_id and body["cold_start"] is False
        assert [i["artist_id"] for i in body["items"]] == stored[:10]
        gems = client.get(f"/api/v1/users/{user_id}/recommendations?list=hidden_gems").get_json()
        assert gems["model_version"] == version.version_id and gems["items"]
        artist = stored[0]
        similar = client.get(f"/api/v1/artists/{artist}/similar")
        assert similar.status_code == 200 and similar.get_json()["items"]
        cold = client.get("/api/v1/users/nobody-new/recommendations").get_json()
        assert cold["cold_start"] is True and cold["items"]
    finally:
        app.extensions["cratedig"].close()
    engine.dispose()


def test_spark_train_command_rejects_a_bad_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "spark", "train", "--events", "csv:x"]
    )
    assert result.exit_code != 0 and "parquet:DIR" in result.output
