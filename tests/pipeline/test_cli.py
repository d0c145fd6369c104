"""`cratedig train`, `versions` and `promote`, and a training run killed midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cratedig.cli import cli
from cratedig.pipeline import registry
from cratedig.serving import create_app
from cratedig.store import init_db, make_engine
from cratedig.store.schema import model_versions, precomputed_lists
from tests.serving.conftest import train_tiny
from tests.serving.helpers import fill_store


def test_train_command_with_the_default_model(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    fill_store(engine)
    env = {"CRATEDIG_ARTIFACTS_DIR": str(tmp_path / "art")}
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", sqlite_url, "train", "--quiet", "--k", "5"], env=env)
    assert result.exit_code == 0, result.output
    assert "promoted (now serving)" in result.output
    first = registry.active_version(engine)
    assert first.model_name == "default" and first.params["k_lists"] == 5
    listing = runner.invoke(cli, ["--db", sqlite_url, "versions"], env=env)
    assert listing.output.startswith(f"* {first.version_id}")
    second = train_tiny(engine, tmp_path / "art")
    assert registry.active_version(engine).version_id == second.version_id
    back = runner.invoke(cli, ["--db", sqlite_url, "promote", first.version_id], env=env)
    assert back.exit_code == 0 and registry.active_version(engine).version_id == first.version_id
    bad = runner.invoke(cli, ["--db", sqlite_url, "train", "--param", "nope"], env=env)
    assert bad.exit_code != 0 and "NAME=VALUE" in bad.output


@pytest.mark.slow
def test_killed_training_changes_nothing_served(sqlite_url: str, tmp_path: Path) -> None:
    from cratedig.simulator.site import SimulationConfig, simulate_to_store

    engine = make_engine(sqlite_url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=1200, n_artists=600, n_events=30_000))
    served = train_tiny(engine, tmp_path / "art")
    client = create_app({"ENGINE": engine, "DATABASE_URL": sqlite_url}).test_client()
    user = "u0001"
    before = client.get(f"/api/v1/users/{user}/recommendations").get_json()
    assert before["model_version"] == served.version_id
    env = {**os.environ, "CRATEDIG_ARTIFACTS_DIR": str(tmp_path / "art")}
    proc = subprocess.Popen(
        # long lists (with an explanation per item) widen the list-writing phase, so the
        # kill lands while it is under way
        [
            sys.executable,
            "-m",
            "cratedig.cli",
            "--db",
            sqlite_url,
            "train",
            "--quiet",
            "--k",
            "200",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    new_rows = 0
    deadline = time.monotonic() + 240
    try:
        # wait until the run has written some of its lists, then kill it
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                new_rows = conn.execute(
                    select(func.count())
                    .select_from(precomputed_lists)
                    .where(precomputed_lists.c.version_id != served.version_id)
                ).scalar_one()
            if new_rows:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "training finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert new_rows > 0 and proc.returncode == -signal.SIGKILL
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(model_versions.c.version_id, model_versions.c.status)).all()
        )
    assert statuses[served.version_id] == "ready"
    assert sorted(statuses.values()) == ["ready", "training"]  # the killed run, never served
    assert registry.active_version(engine).version_id == served.version_id
    after = client.get(f"/api/v1/users/{user}/recommendations").get_json()
    assert after["model_version"] == served.version_id and after["items"] == before["items"]
