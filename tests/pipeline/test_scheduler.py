"""The retraining scheduler in-process: lease, fence, run records, back-off, recovery,
triggers and the Hidden Gems head (the real processes are in test_scheduler_process.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from cratedig.cli import cli
from cratedig.clock import now_ms
from cratedig.config import Settings
from cratedig.pipeline import registry
from cratedig.pipeline.scheduler import (
    LEASE_NAME,
    RetrainScheduler,
    SchedulerConfig,
    backoff_delay,
    consecutive_failures,
    make_train_fn,
)
from cratedig.pipeline.train import train
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import scheduler as sql
from cratedig.store.schema import precomputed_lists, scheduler_leases, user_events
from cratedig.store.writes import insert_ignore
from tests.serving.helpers import TinyModel, fill_store, tiny_gems


def tiny_train_fn(engine: Engine, tmp_path: Path, fail: bool = False) -> Any:
    settings = Settings(artifacts_dir=str(tmp_path / "artifacts"))

    def run(checkpoint: Any, guard: Any) -> registry.ModelVersion:
        if fail:
            raise RuntimeError("the matrix could not be built")
        return train(
            engine,
            settings,
            model_name="tiny",
            model_factory=TinyModel,
            gems_factory=tiny_gems,
            k_lists=8,
            k_similar=5,
            checkpoint=checkpoint,
            guard=guard,
        )

    return run


def make(engine: Engine, train_fn: Any, **config: Any) -> RetrainScheduler:
    values = {"min_new_events": 1, "backoff_seconds": 30.0, **config}
    return RetrainScheduler(engine, SchedulerConfig(**values), train_fn)


def steal_lease(engine: Engine, thief: str = "thief:1:x") -> None:
    """Another process takes the lease (as after this one's expired)."""
    with engine.begin() as conn:
        conn.execute(update(scheduler_leases).values(expires_at_ms=now_ms() - 1))
    assert sql.acquire_lease(engine, LEASE_NAME, thief, 60_000, now_ms()) == "acquired"


# -- the lease -------------------------------------------------------------------------


def test_one_holder_at_a_time_and_expiry_hands_it_over(engine: Engine) -> None:
    t = now_ms()
    assert sql.acquire_lease(engine, LEASE_NAME, "a", 1000, t) == "acquired"
    assert sql.acquire_lease(engine, LEASE_NAME, "b", 1000, t + 10) is None
    assert sql.acquire_lease(engine, LEASE_NAME, "a", 1000, t + 500) == "renewed"
    # a stops renewing: after the expiry b takes it, and a's renewal fails
    assert sql.acquire_lease(engine, LEASE_NAME, "b", 1000, t + 1501) == "acquired"
    with engine.begin() as conn:
        assert not sql.renew_lease(conn, LEASE_NAME, "a", 1000, t + 1600)
    assert sql.read_lease(engine, LEASE_NAME).holder == "b"  # type: ignore[union-attr]
    # a released lease is free at once
    sql.release_lease(engine, LEASE_NAME, "b", t + 1700)
    assert sql.acquire_lease(engine, LEASE_NAME, "a", 1000, t + 1701) == "acquired"


def test_own_expired_lease_is_a_fresh_acquisition(engine: Engine) -> None:
    """A holder paused past its expiry had a break: its run of before must stop."""
    t = now_ms()
    assert sql.acquire_lease(engine, LEASE_NAME, "a", 1000, t) == "acquired"
    assert sql.acquire_lease(engine, LEASE_NAME, "a", 1000, t + 5000) == "acquired"


# -- runs, fence, back-off -----------------------------------------------------------------


def test_a_run_is_recorded_and_promotes(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path))
    assert sched.heartbeat() and sched.holding
    run = sched.fire("now", "test")
    assert run is not None and run.outcome == "promoted" and run.trigger == "now"
    assert run.version_id == registry.active_version(engine).version_id  # type: ignore[union-attr]
    assert run.finished_at_ms is not None and run.finished_at_ms >= run.started_at_ms
    assert run.holder == sched.holder and run.error is None


def test_a_standby_does_not_train(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    first = make(engine, tiny_train_fn(engine, tmp_path))
    second = make(engine, tiny_train_fn(engine, tmp_path))
    assert first.heartbeat()
    assert not second.heartbeat() and not second.holding
    assert second.fire("now") is None
    second.check_new_events()
    assert sql.list_runs(engine) == [] and registry.list_versions(engine) == []


def test_lost_lease_stops_the_run_before_the_next_stage(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path))
    sched.heartbeat()
    inner = tiny_train_fn(engine, tmp_path)

    def losing(checkpoint: Any, guard: Any) -> Any:
        def cp(stage: str, version_id: str) -> None:
            if stage == "fitting":
                steal_lease(engine)
                sched.heartbeat()  # the heartbeat notices
            checkpoint(stage, version_id)

        return inner(cp, guard)

    sched.train_fn = losing
    run = sched.fire("now")
    assert run is not None and run.outcome == "lease_lost" and "fitting" in (run.error or "")
    assert registry.get_version(engine, run.version_id).status == "failed"  # type: ignore[arg-type]
    assert registry.active_version(engine) is None and not sched.holding


def test_the_promotion_is_fenced_by_the_lease(engine: Engine, tmp_path: Path) -> None:
    """Lost between the last check and the flip (no heartbeat yet): still not promoted."""
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path))
    sched.heartbeat()
    first = sched.fire("now")
    assert first is not None and first.outcome == "promoted"
    inner = tiny_train_fn(engine, tmp_path)

    def stolen_before_flip(checkpoint: Any, guard: Any) -> Any:
        def cp(stage: str, version_id: str) -> None:
            checkpoint(stage, version_id)
            if stage == "promotion":
                steal_lease(engine)

        return inner(cp, guard)

    sched.train_fn = stolen_before_flip
    run = sched.fire("now")
    assert run is not None and run.outcome == "lease_lost"
    assert registry.active_version(engine).version_id == first.version_id  # type: ignore[union-attr]
    assert registry.get_version(engine, run.version_id).status == "failed"  # type: ignore[arg-type]


def test_failures_are_recorded_and_back_off(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path, fail=True))
    sched.heartbeat()
    run = sched.fire("cron", "cron 0 3 * * *")
    assert run is not None and run.outcome == "failed"
    assert run.error == "RuntimeError: the matrix could not be built"
    until = sched.backoff_until_ms()
    assert until is not None and until >= run.finished_at_ms + 30_000 - 1  # type: ignore[operator]
    assert sched.fire("cron") is None  # backing off: nothing ran
    assert len(sql.list_runs(engine)) == 1
    # the back-off over (the failure moved back in time), a good run resets it
    with engine.begin() as conn:
        conn.execute(update(sql.scheduler_runs).values(finished_at_ms=now_ms() - 60_000))
    sched.train_fn = tiny_train_fn(engine, tmp_path)
    assert sched.fire("retry").outcome == "promoted"  # type: ignore[union-attr]
    assert sched.backoff_until_ms() is None


def test_backoff_is_exponential_and_capped() -> None:
    assert [backoff_delay(n, 10, 100) for n in range(7)] == [0, 10, 20, 40, 80, 100, 100]
    assert backoff_delay(10_000, 1, 3600) == 3600

    def run(outcome: str, end: int) -> sql.Run:
        return sql.Run(0, "cron", "", "h", end - 1, end, outcome, None, None)

    newest_first = [run("failed", 50), run("lease_lost", 40), run("interrupted", 30)]
    assert consecutive_failures([*newest_first, run("promoted", 20), run("failed", 10)]) == (
        2,
        50,
    )
    assert consecutive_failures([run("rejected", 9), run("failed", 5)]) == (0, None)


def test_a_killed_holders_run_is_marked_interrupted(engine: Engine, tmp_path: Path) -> None:
    """What a new holder finds after SIGKILL: a running run and a training version."""
    fill_store(engine)
    registry.start_version(engine, "v-dead", "tiny", {}, 1, None)
    assert sql.acquire_lease(engine, LEASE_NAME, "dead:1:x", 1000, now_ms() - 5000)
    run_id = sql.start_run(engine, "cron", "", "dead:1:x", now_ms() - 4000)
    sql.set_run_version(engine, run_id, "v-dead")
    sched = make(engine, tiny_train_fn(engine, tmp_path), backoff_seconds=0.1)
    assert sched.heartbeat()  # the dead holder's lease expired
    [run] = sql.list_runs(engine)
    assert run.outcome == "interrupted" and "dead:1:x" in (run.error or "")
    assert registry.get_version(engine, "v-dead").status == "failed"
    assert sched.backoff_until_ms() is None or sched.backoff_until_ms() <= now_ms() + 100  # type: ignore[operator]


# -- triggers ------------------------------------------------------------------------------


def test_new_events_trigger_counts_after_the_trained_snapshot(
    engine: Engine, tmp_path: Path
) -> None:
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path), min_new_events=2)
    sched.heartbeat()
    sched.check_new_events()  # no version yet: every event is new
    [first] = sql.list_runs(engine)
    assert first.trigger == "new_events" and first.outcome == "promoted"
    sched.check_new_events()  # nothing new since its snapshot
    assert len(sql.list_runs(engine)) == 1
    snapshot = registry.active_version(engine).snapshot_ms  # type: ignore[union-attr]
    rows = [
        {
            "event_id": f"new{i}",
            "user_id": "u01",
            "event_type": "follow_artist",
            "occurred_at_ms": snapshot + 1000 + i,
            "artist_id": "j1",
            "count": 1,
            "source": "organic",
        }
        for i in range(2)
    ]
    with engine.begin() as conn:
        insert_ignore(conn, user_events, rows[:1])
    sched.check_new_events()
    assert len(sql.list_runs(engine)) == 1  # one event < 2
    with engine.begin() as conn:
        insert_ignore(conn, user_events, rows[1:])
    sched.check_new_events()
    runs = sql.list_runs(engine)
    assert len(runs) == 2 and runs[0].trigger == "new_events"
    assert "2+ events after the snapshot" in runs[0].detail


def test_ctr_hook_fires_a_run(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    seen: list[str] = []

    def ctr_check(_engine: Engine, served: registry.ModelVersion) -> str | None:
        seen.append(served.version_id)
        return "CTR 30% below its first week" if len(seen) > 1 else None

    sched = make(engine, tiny_train_fn(engine, tmp_path), min_new_events=None)
    sched.ctr_check = ctr_check
    sched.heartbeat()
    sched.check_ctr()  # nothing served yet: not asked
    assert seen == []
    sched.fire("now")
    sched.check_ctr()
    sched.check_ctr()
    runs = sql.list_runs(engine)
    assert [r.trigger for r in runs] == ["ctr_drop", "now"]
    assert runs[0].detail == "CTR 30% below its first week"


def test_config_is_validated() -> None:
    with pytest.raises(Exception, match="cron"):
        SchedulerConfig(cron="61 * * * *")
    with pytest.raises(Exception, match="min_new_events"):
        SchedulerConfig(min_new_events=0)
    SchedulerConfig(cron="0 3 * * *")


# -- the Hidden Gems head is recomputed on every retrain ------------------------------------


def test_every_retrain_recomputes_the_hidden_gems_head(sqlite_url: str, tmp_path: Path) -> None:
    """An artist that becomes the most followed leaves the next version's Hidden Gems."""
    from cratedig.store import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=120, n_artists=150, n_events=3000, days=20))
    settings = Settings(artifacts_dir=str(tmp_path / "a"), promotion_margin=1.0)
    train_fn = make_train_fn(
        engine, settings, model_name="popularity", tune=False, k_lists=10, k_similar=5
    )
    sched = make(engine, train_fn)
    sched.heartbeat()
    first = sched.fire("now")
    assert first is not None and first.outcome == "promoted"

    def gems(version_id: str) -> list[list[str]]:
        with engine.connect() as conn:
            raws = conn.execute(
                select(precomputed_lists.c.entries).where(
                    precomputed_lists.c.version_id == version_id,
                    precomputed_lists.c.list_type == "hidden_gems",
                )
            ).scalars()
            return [[i["artist_id"] for i in json.loads(raw)] for raw in raws]

    before = gems(first.version_id)  # type: ignore[arg-type]
    gem = before[0][0]
    # every user follows the gem, after the snapshot: it becomes the most followed
    snapshot = registry.active_version(engine).snapshot_ms  # type: ignore[union-attr]
    with engine.connect() as conn:
        user_ids = conn.execute(select(user_events.c.user_id).distinct()).scalars().all()
    rows = [
        {
            "event_id": f"gemfollow-{u}",
            "user_id": u,
            "event_type": "follow_artist",
            "occurred_at_ms": snapshot + 1000,
            "artist_id": gem,
            "count": 1,
            "source": "organic",
        }
        for u in user_ids
    ]
    with engine.begin() as conn:
        insert_ignore(conn, user_events, rows)
    sched.check_new_events()
    second = sql.list_runs(engine)[0]
    assert second.trigger == "new_events" and second.outcome == "promoted"
    after = gems(second.version_id)  # type: ignore[arg-type]
    assert sum(gem in items for items in before) > 0
    assert after and all(gem not in items for items in after)
    engine.dispose()


# -- the command ---------------------------------------------------------------------------


def test_history_and_lease_commands(sqlite_url: str, tmp_path: Path) -> None:
    from cratedig.store import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path))
    sched.heartbeat()
    sched.fire("now", "test")
    sched.train_fn = tiny_train_fn(engine, tmp_path, fail=True)
    sched.fire("cron")
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", sqlite_url, "scheduler", "history"])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert "failed" in lines[0] and "RuntimeError" in lines[0] and "promoted" in lines[1]
    as_json = runner.invoke(cli, ["--db", sqlite_url, "scheduler", "history", "--json"])
    records = [json.loads(line) for line in as_json.output.splitlines()]
    assert [r["outcome"] for r in records] == ["failed", "promoted"]
    assert set(records[0]) >= {"trigger", "started_at_ms", "finished_at_ms", "version_id", "error"}
    lease = runner.invoke(cli, ["--db", sqlite_url, "scheduler", "lease"])
    assert lease.output.startswith("held: " + sched.holder)
    usage = runner.invoke(cli, ["--db", sqlite_url, "scheduler", "run"])
    assert usage.exit_code == 2 and "--cron" in usage.output
    bad = runner.invoke(cli, ["--db", sqlite_url, "scheduler", "run", "--cron", "nope"])
    assert bad.exit_code != 0
    engine.dispose()


def test_a_stopping_scheduler_ends_its_run_as_stopped(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    sched = make(engine, tiny_train_fn(engine, tmp_path))
    sched.heartbeat()
    inner = tiny_train_fn(engine, tmp_path)

    def stopped_mid_run(checkpoint: Any, guard: Any) -> Any:
        def cp(stage: str, version_id: str) -> None:
            if stage == "fitting":
                sched._stopping.set()  # what stop() (SIGTERM) does first
            checkpoint(stage, version_id)

        return inner(cp, guard)

    sched.train_fn = stopped_mid_run
    run = sched.fire("now")
    assert run is not None and run.outcome == "stopped" and "fitting" in (run.error or "")
    assert registry.get_version(engine, run.version_id).status == "failed"  # type: ignore[arg-type]
    assert sched.backoff_until_ms() is None  # a stop is not a failure
    sched.stop()
    assert not sched.holding
    lease = sql.read_lease(engine, LEASE_NAME)
    assert lease is not None and lease.expires_at_ms < now_ms()
