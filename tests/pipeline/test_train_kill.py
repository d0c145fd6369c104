"""Killed training runs (issue #10, defect 12): the served version keeps serving, and the
next train (or ``cratedig versions --cleanup``) removes the leftovers: the ``training``
row becomes ``failed``, its partial lists and its artifact folder are deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, update

from cratedig.cli import cli
from cratedig.pipeline import cleanup, registry
from cratedig.pipeline.train import TEST_PAUSE_ENV
from cratedig.serving import create_app
from cratedig.store import init_db, make_engine
from cratedig.store.schema import (
    fallback_lists,
    model_versions,
    precomputed_lists,
    similar_artist_lists,
)
from tests.serving.conftest import train_tiny
from tests.serving.helpers import fill_store

LIST_TABLES = (precomputed_lists, similar_artist_lists, fallback_lists)


def _list_rows(engine: Engine, version_id: str) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(
                select(func.count()).select_from(t).where(t.c.version_id == version_id)
            ).scalar_one()
            for t in LIST_TABLES
        )


def _statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(model_versions.c.version_id, model_versions.c.status))
        return {str(v): str(s) for v, s in rows}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _fake_run(engine: Engine, artifacts: Path, status: str, note: str | None) -> str:
    """A registry row in ``status`` with some lists and a folder, as a run leaves them."""
    version_id = registry.new_version_id()
    folder = artifacts / version_id
    folder.mkdir(parents=True)
    (folder / "users.txt").write_text("u01\n")
    registry.start_version(engine, version_id, "tiny", {}, 0, str(folder))
    with engine.begin() as conn:
        conn.execute(
            update(model_versions)
            .where(model_versions.c.version_id == version_id)
            .values(status=status, note=note)
        )
        conn.execute(
            precomputed_lists.insert().values(
                version_id=version_id, list_type="may_like", user_id="u01", entries="[]"
            )
        )
        conn.execute(
            fallback_lists.insert().values(
                version_id=version_id, scope="global", scope_key="", entries="[]"
            )
        )
    return version_id


def test_cleanup_removes_dead_runs_only(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    fill_store(engine)
    artifacts = tmp_path / "art"
    served = train_tiny(engine, artifacts)
    served_rows = _list_rows(engine, served.version_id)
    host_note = registry.running_note()  # "running: pid <this process> on <this host>"
    dead_note = host_note.replace(f"pid {os.getpid()} ", f"pid {_dead_pid()} ")
    dead = _fake_run(engine, artifacts, "training", dead_note)
    legacy = _fake_run(engine, artifacts, "training", None)  # before runs noted their pid
    going = _fake_run(engine, artifacts, "training", registry.running_note())  # this process
    elsewhere = _fake_run(engine, artifacts, "training", "running: pid 1 on another-host")
    failed = _fake_run(engine, artifacts, "failed", "RuntimeError: boom")
    rejected = _fake_run(engine, artifacts, "rejected", "not promoted")
    orphan = artifacts / registry.new_version_id()
    orphan.mkdir()
    not_a_version = artifacts / "keep-me"
    not_a_version.mkdir()

    result = CliRunner().invoke(cli, ["--db", db_url, "versions", "--cleanup"], env={
        "CRATEDIG_ARTIFACTS_DIR": str(artifacts)})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cleaned up 3 failed run(s) (2 abandoned while training)" in result.output

    statuses = _statuses(engine)
    assert statuses[dead] == statuses[legacy] == statuses[failed] == "failed"
    assert statuses[going] == statuses[elsewhere] == "training"
    assert statuses[rejected] == "rejected" and statuses[served.version_id] == "ready"
    for version_id in (dead, legacy, failed):
        assert _list_rows(engine, version_id) == 0
        assert not (artifacts / version_id).exists()
    for version_id in (going, elsewhere, rejected):
        assert _list_rows(engine, version_id) == 2
        assert (artifacts / version_id).is_dir()
    assert _list_rows(engine, served.version_id) == served_rows
    assert Path(served.artifact_path).is_dir()
    assert registry.active_version(engine).version_id == served.version_id
    assert not orphan.exists() and not_a_version.is_dir()
    again = cleanup.cleanup_abandoned(engine, artifacts)
    assert again.abandoned == [] and again.list_rows == 0 and again.folders == []
    engine.dispose()


@pytest.mark.slow
def test_sigkill_mid_train_keeps_serving_and_the_next_train_cleans_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    fill_store(engine)
    artifacts = tmp_path / "art"
    served = train_tiny(engine, artifacts)
    client = create_app({"ENGINE": engine, "DATABASE_URL": sqlite_url}).test_client()
    before = client.get("/api/v1/users/u01/recommendations").get_json()
    assert before["model_version"] == served.version_id

    pause = tmp_path / "paused"
    env = {**os.environ, "CRATEDIG_ARTIFACTS_DIR": str(artifacts), TEST_PAUSE_ENV: str(pause)}
    command = [sys.executable, "-m", "cratedig.cli", "--db", sqlite_url, "train", "--quiet",
               "--no-tune", "--k", "5"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not pause.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pause.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
        # the run is inside precompute: its may_like lists are written, the rest not
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = next(v for v, s in _statuses(engine).items() if s == "training")
    assert _list_rows(engine, killed) > 0
    assert (artifacts / killed).is_dir()
    # the served version keeps serving, unchanged
    assert registry.active_version(engine).version_id == served.version_id
    after = client.get("/api/v1/users/u01/recommendations").get_json()
    assert after["model_version"] == served.version_id and after["items"] == before["items"]

    # the next train cleans up after the killed one
    new = train_tiny(engine, artifacts)
    statuses = _statuses(engine)
    assert statuses[killed] == "failed"
    assert _list_rows(engine, killed) == 0 and not (artifacts / killed).exists()
    assert statuses[served.version_id] == "ready" and (artifacts / served.version_id).is_dir()
    assert _list_rows(engine, served.version_id) > 0
    assert registry.active_version(engine).version_id == new.version_id
    engine.dispose()
