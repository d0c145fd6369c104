"""Real ``cratedig scheduler run`` processes on a small simulated store: it trains on a
short interval, survives SIGKILL in the middle of a run while the service keeps
answering, and of two schedulers on one store exactly one trains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cratedig.config import Settings
from cratedig.pipeline import registry
from cratedig.pipeline.train import train
from cratedig.serving import create_app
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine
from cratedig.store import scheduler as sql
from cratedig.store.schema import model_versions, user_events
from cratedig.store.writes import insert_ignore

pytestmark = pytest.mark.slow

TRAIN_ARGS = ["--model", "popularity", "--no-tune", "--k", "10", "--k-similar", "5"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'site.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=150, n_artists=200, n_events=4000, days=20))
    yield url, engine
    engine.dispose()


class Schedulers:
    """Starts scheduler processes and stops whatever is left at the end."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url, self.tmp_path = url, tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"scheduler-{len(self.procs)}.log", "wb")  # noqa: SIM115
        env = {
            **os.environ,
            "CRATEDIG_ARTIFACTS_DIR": str(self.tmp_path / "artifacts"),
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src")]),
        }
        argv = [sys.executable, "-m", "cratedig.cli", "--db", self.url, "scheduler", "run"]
        proc = subprocess.Popen(
            [*argv, *args, *TRAIN_ARGS], stdout=log, stderr=log, env=env, cwd=self.tmp_path
        )
        self.procs.append(proc)
        return proc

    def log(self, i: int) -> str:
        return (self.tmp_path / f"scheduler-{i}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def schedulers(site: tuple[str, Engine], tmp_path: Path) -> Iterator[Schedulers]:
    s = Schedulers(site[0], tmp_path)
    yield s
    s.stop_all()


def wait_for(cond: Callable[[], Any], timeout: float, what: str, logs: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def promoted_runs(engine: Engine) -> list[sql.Run]:
    return [r for r in sql.list_runs(engine, 100) if r.outcome == "promoted"]


def add_events_after_snapshot(engine: Engine, n: int = 5, tag: str = "late") -> None:
    snapshot = max(v.snapshot_ms for v in registry.list_versions(engine))
    with engine.connect() as conn:
        user = conn.execute(select(user_events.c.user_id).limit(1)).scalar_one()
        artist = conn.execute(select(user_events.c.artist_id).limit(1)).scalar_one()
    rows = [
        {
            "event_id": f"{tag}-{i}",
            "user_id": user,
            "event_type": "follow_artist",
            "occurred_at_ms": snapshot + 60_000 + i,
            "artist_id": artist,
            "count": 1,
            "source": "organic",
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        insert_ignore(conn, user_events, rows)


def test_a_scheduler_process_retrains_on_new_events(
    site: tuple[str, Engine], schedulers: Schedulers
) -> None:
    _url, engine = site
    proc = schedulers.start("--min-new-events", "3", "--check-every", "1", "--lease-ttl", "3")
    [first] = wait_for(lambda: promoted_runs(engine), 240, "a first run", schedulers.log(0))
    assert first.trigger == "new_events"
    time.sleep(2.5)  # two more checks: nothing new, nothing runs
    assert len(sql.list_runs(engine)) == 1
    add_events_after_snapshot(engine, n=3)
    runs = wait_for(
        lambda: len(promoted_runs(engine)) == 2 and promoted_runs(engine),
        240,
        "a second run",
        schedulers.log(0),
    )
    assert registry.active_version(engine).version_id == runs[0].version_id  # type: ignore[union-attr]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, schedulers.log(0)
    lease = sql.read_lease(engine, "retrain")
    assert lease is not None and lease.expires_at_ms < time.time() * 1000  # released


def test_sigkill_mid_run_then_the_next_run_succeeds_and_the_service_answers(
    site: tuple[str, Engine], schedulers: Schedulers, tmp_path: Path
) -> None:
    url, engine = site
    settings = Settings(database_url=url, artifacts_dir=str(tmp_path / "artifacts"))
    first = train(engine, settings, model_name="popularity", tune=False, k_lists=10, k_similar=5)
    with engine.connect() as conn:
        users = conn.execute(select(user_events.c.user_id).distinct().limit(20)).scalars().all()
    app = create_app({"ENGINE": engine, "SETTINGS": settings, "TESTING": True})
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def poll() -> None:
        client = app.test_client()
        i = 0
        while not stop.is_set():
            response = client.get(f"/api/v1/users/{users[i % len(users)]}/recommendations")
            body = response.get_json(silent=True) or {}
            answers.append((response.status_code, body.get("model_version")))
            i += 1
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        add_events_after_snapshot(engine)
        args = ["--min-new-events", "1", "--check-every", "1", "--lease-ttl", "4", "--backoff", "1"]
        victim = schedulers.start(*args)

        def training_run() -> sql.Run | None:
            return next(
                (r for r in sql.list_runs(engine) if r.outcome == "running" and r.version_id),
                None,
            )

        run = wait_for(training_run, 240, "a run in training", schedulers.log(0))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert registry.get_version(engine, run.version_id).status == "training"
        assert registry.active_version(engine).version_id == first.version_id  # type: ignore[union-attr]
        schedulers.start(*args)
        [done] = wait_for(lambda: promoted_runs(engine), 240, "the next run", schedulers.log(1))
    finally:
        stop.set()
        poller.join(timeout=30)
        app.extensions["cratedig"].close()
    killed = next(r for r in sql.list_runs(engine) if r.run_id == run.run_id)
    assert killed.outcome == "interrupted" and killed.holder in (killed.error or "")
    assert registry.get_version(engine, run.version_id).status == "failed"  # type: ignore[arg-type]
    assert done.run_id > run.run_id and done.holder != run.holder
    assert registry.active_version(engine).version_id == done.version_id  # type: ignore[union-attr]
    # the service answered all along: before, during and after the kill and the swap
    assert len(answers) > 20
    assert all(status == 200 for status, _ in answers), {s for s, _ in answers}
    assert {v for _, v in answers} <= {first.version_id, done.version_id}


def test_two_schedulers_on_one_store_exactly_one_trains(
    site: tuple[str, Engine], schedulers: Schedulers
) -> None:
    _url, engine = site
    args = ["--min-new-events", "1", "--check-every", "1", "--lease-ttl", "3"]
    procs = [schedulers.start(*args), schedulers.start(*args)]
    wait_for(lambda: promoted_runs(engine), 240, "a run", schedulers.log(0) + schedulers.log(1))
    time.sleep(4.0)  # several checks and more than a lease lifetime later
    runs = sql.list_runs(engine)
    assert len(runs) == 1 and runs[0].outcome == "promoted"
    with engine.connect() as conn:
        assert len(conn.execute(select(model_versions.c.version_id)).all()) == 1
    lease = sql.read_lease(engine, "retrain")
    assert lease is not None and lease.holder == runs[0].holder
    pid = int(runs[0].holder.split(":")[1])
    holder = next(p for p in procs if p.pid == pid)
    standby = next(p for p in procs if p.pid != pid)
    # the holder stops; the standby takes the lease over and trains the next time
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=60) == 0
    add_events_after_snapshot(engine)
    wait_for(
        lambda: len(promoted_runs(engine)) == 2,
        240,
        "the standby's run",
        schedulers.log(0) + schedulers.log(1),
    )
    assert promoted_runs(engine)[0].holder.split(":")[1] == str(standby.pid)
