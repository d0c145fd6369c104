"""The traffic simulator against the real service (in process, and over gunicorn)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sqlalchemy import Engine, select

from cratedig.exceptions import ValidationError
from cratedig.simulator.client import HttpClient, ServiceError, TestClientAdapter
from cratedig.simulator.listeners import build_listeners
from cratedig.simulator.traffic import TrafficConfig, TrafficSummary, simulate_traffic
from cratedig.simulator.traffic_log import NON_EVENT_ACTIONS, read_log
from cratedig.simulator.world import build_world
from cratedig.store import make_engine
from cratedig.store.schema import feedback, impressions, user_events
from tests.simulator.conftest import KEY, SITE, build_store, make_app, start_after_store

EVENT_COLUMNS = (
    "event_id", "user_id", "event_type", "occurred_at_ms", "artist_id", "track_id",
    "duration_ms", "count", "tag", "session_id", "source",
)  # fmt: skip


def run(engine: Engine, app: Any, log: Path, **params: Any) -> tuple[TrafficSummary, pl.DataFrame]:
    config = TrafficConfig(start_ms=start_after_store(engine), **params)
    summary = simulate_traffic(TestClientAdapter(app.test_client(), KEY), SITE, config, log)
    return summary, read_log(log)


def traffic_events(engine: Engine) -> list[tuple[Any, ...]]:
    """Every stored event the traffic simulator sent (its session ids start with ``tr``)."""
    cols = [user_events.c[name] for name in EVENT_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*cols).where(user_events.c.session_id.like("tr%")).order_by(cols[0])
        ).all()
    return [tuple(r) for r in rows]


def feedback_rows(engine: Engine) -> list[tuple[Any, ...]]:
    cols = (feedback.c.user_id, feedback.c.list_id, feedback.c.artist_id, feedback.c.kind,
            feedback.c.value)  # fmt: skip
    with engine.connect() as conn:
        return sorted((tuple(r) for r in conn.execute(select(*cols)).all()), key=str)


def test_listeners_carry_the_site_simulators_ground_truth() -> None:
    from cratedig.simulator.events import simulate_block
    from cratedig.simulator.frames import truth_frame

    world = build_world(SITE)
    truth = truth_frame(world, simulate_block(world, 0))
    listeners = build_listeners(world, np.array([0, 7, 42], dtype=np.int64))
    for listener in listeners:
        mine = truth.filter(pl.col("user_id") == listener.user_id)
        artists = [int(a[1:]) for a in mine["artist_id"]]
        assert sorted(listener.candidates) == sorted(artists)
        np.testing.assert_allclose(
            listener.affinity[artists], mine["affinity"].to_numpy(), atol=1e-5
        )


def test_same_seed_gives_the_same_log_and_store(
    served: Callable[[str], Any], deterministic_list_ids: Callable[[], None], tmp_path: Path
) -> None:
    engine_a, app_a = served("a")
    summary_a, _ = run(engine_a, app_a, tmp_path / "a.jsonl", days=3, users=40, seed=9)
    deterministic_list_ids()
    engine_b, app_b = served("b")
    summary_b, _ = run(engine_b, app_b, tmp_path / "b.jsonl", days=3, users=40, seed=9)
    engine_c, app_c = served("c")
    run(engine_c, app_c, tmp_path / "c.jsonl", days=3, users=40, seed=10)

    assert summary_a.counts == summary_b.counts
    assert summary_a.counts["lists fetched"] > 0 and summary_a.counts["events sent"] > 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    events_a = traffic_events(engine_a)
    assert events_a and events_a == traffic_events(engine_b)
    assert feedback_rows(engine_a) == feedback_rows(engine_b)
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_the_log_matches_what_the_store_holds(served: Callable[[str], Any], tmp_path: Path) -> None:
    engine, app = served("log")
    summary, log = run(engine, app, tmp_path / "log.jsonl", days=4, users=60, seed=1)
    app.extensions["cratedig"].close()  # writes the buffered impressions
    check_log_matches_store(engine, summary, log)


@pytest.mark.postgres
def test_the_log_matches_what_a_postgresql_store_holds(postgres_url: str, tmp_path: Path) -> None:
    engine = build_store(postgres_url, tmp_path / "artifacts")
    app = make_app(engine, tmp_path / "artifacts")
    try:
        summary, log = run(engine, app, tmp_path / "log.jsonl", days=2, users=40, seed=2)
    finally:
        app.extensions["cratedig"].close()
    check_log_matches_store(engine, summary, log)
    engine.dispose()


def check_log_matches_store(engine: Engine, summary: TrafficSummary, log: pl.DataFrame) -> None:
    """Every logged event, list and feedback is in the store, and nothing else is."""
    events = log.filter(~pl.col("action").is_in(sorted(NON_EVENT_ACTIONS)))
    stored = {row[0]: row for row in traffic_events(engine)}
    assert len(stored) == events.height == summary.counts["events sent"]
    for rec in events.iter_rows(named=True):
        row = dict(zip(EVENT_COLUMNS, stored[rec["event_id"]], strict=True))
        assert row["user_id"] == rec["user"]
        assert row["event_type"] == rec["action"]
        assert row["occurred_at_ms"] == rec["t"]
        assert row["source"] == rec["source"]
        assert row["artist_id"] == rec["artist_id"]
        assert row["track_id"] == rec["track_id"]
        assert row["session_id"] == rec["session_id"]
        if rec["action"] == "play_track":
            assert row["duration_ms"] == rec["value"]
    # events led by a list carry the id of a list this listener was served
    fetched = log.filter(pl.col("action") == "fetch_list")
    served_to = dict(zip(fetched["list_id"], fetched["user"], strict=True))
    from_lists = events.filter(pl.col("source") != "organic")
    assert from_lists.height > 0
    pairs = zip(from_lists["source"], from_lists["user"], strict=True)
    assert all(served_to[source] == user for source, user in pairs)
    assert set(from_lists["action"]) >= {"recommendation_click", "play_track"}
    # every fetched list is an impression with the same artists in the same order
    with engine.connect() as conn:
        shown = {r.list_id: r for r in conn.execute(select(impressions)).all()}
    for rec in fetched.iter_rows(named=True):
        assert shown[rec["list_id"]].user_id == rec["user"]
        assert shown[rec["list_id"]].list_type == rec["list_type"]
        assert rec["artists"] == json.loads(shown[rec["list_id"]].artist_ids)
    # feedback: one stored row per thumb and rating logged
    thumbs = log.filter(pl.col("action").is_in(["thumb", "rating"]))
    logged = sorted(
        (
            (r["user"], r["list_id"], r["artist_id"], r["action"], int(r["value"]))
            for r in thumbs.iter_rows(named=True)
        ),
        key=str,
    )
    assert logged and logged == feedback_rows(engine)


@pytest.fixture(scope="module")
def moderate_log(base_store: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """The log of a moderate run (100 listeners, 8 days) on a copy of the base store."""
    path, artifacts = base_store
    folder = tmp_path_factory.mktemp("moderate")
    shutil.copy(path, folder / "store.sqlite")
    engine = make_engine(f"sqlite:///{folder / 'store.sqlite'}")
    app = make_app(engine, artifacts)
    try:
        _, log = run(engine, app, folder / "log.jsonl", days=8, users=100, seed=4)
    finally:
        app.extensions["cratedig"].close()
        engine.dispose()
    return log


def test_affinity_drives_clicks_plays_and_listening_time(moderate_log: pl.DataFrame) -> None:
    log = moderate_log
    examined = log.filter(pl.col("action") == "examine")
    clicks = log.filter(pl.col("action") == "recommendation_click")
    assert clicks.height >= 50
    key = ["list_id", "position"]
    clicked = examined.join(clicks.select(*key, clicked=pl.lit(1)), on=key, how="left")
    clicked = clicked.with_columns(pl.col("clicked").fill_null(0))
    high = clicked.filter(pl.col("affinity") >= clicked["affinity"].median())
    low = clicked.filter(pl.col("affinity") < clicked["affinity"].median())
    assert high["clicked"].mean() > 2 * low["clicked"].mean()  # type: ignore[operator]
    rho, p = stats.spearmanr(clicked["affinity"], clicked["clicked"])
    assert rho > 0 and p < 1e-6

    plays = log.filter(pl.col("action") == "play_track")
    rho, p = stats.spearmanr(plays["affinity"], plays["value"])
    assert rho > 0.2 and p < 1e-6  # plays last longer for artists liked more
    skips = log.filter(pl.col("action") == "skip_track")
    skipped = plays.join(skips.select("user", "track_id", "session_id", s=pl.lit(1)),
                         on=["user", "track_id", "session_id"], how="left")  # fmt: skip
    skipped = skipped.with_columns(pl.col("s").fill_null(0))
    liked = skipped.filter(pl.col("affinity") >= 0.5)["s"].mean()
    disliked = skipped.filter(pl.col("affinity") < 0.2)["s"].mean()
    assert liked < disliked  # type: ignore[operator]
    # clicks on artists liked more lead to more plays
    per_click = (
        log.filter((pl.col("action") == "play_track") & (pl.col("source") != "organic"))
        .group_by("list_id", "position")
        .len()
        .join(clicks.select(*key, "affinity"), on=key)
    )
    rho, p = stats.spearmanr(per_click["affinity"], per_click["len"])
    assert rho > 0 and p < 0.01
    thumbs = log.filter(pl.col("action") == "thumb")
    up = thumbs.filter(pl.col("value") > 0)["affinity"].mean()
    down = thumbs.filter(pl.col("value") < 0)["affinity"].mean()
    assert up > down  # type: ignore[operator]


def test_click_through_falls_with_position(moderate_log: pl.DataFrame) -> None:
    log = moderate_log
    shown = log.filter(pl.col("action") == "fetch_list").select(
        "list_id", pl.col("artists").list.len().alias("n")
    )
    positions = np.arange(1, 11)
    n_shown = np.array([(shown["n"] >= p).sum() for p in positions])
    counts = Counter(log.filter(pl.col("action") == "recommendation_click")["position"])
    ctr = np.array([counts.get(p, 0) for p in positions]) / n_shown
    examined = Counter(log.filter(pl.col("action") == "examine")["position"])
    exam = np.array([examined.get(p, 0) for p in positions]) / n_shown
    assert np.all(np.diff(exam) < 0)  # the cascade examines fewer items further down
    rho, p = stats.spearmanr(positions, ctr)
    assert rho < -0.6 and p < 0.05
    assert ctr[:3].mean() > 2 * ctr[-3:].mean()


def test_without_a_model_lists_fail_and_organic_traffic_goes_on(tmp_path: Path) -> None:
    engine = build_store(f"sqlite:///{tmp_path / 'untrained.sqlite'}", tmp_path / "a", False)
    app = make_app(engine, tmp_path / "a")
    try:
        summary, log = run(engine, app, tmp_path / "log.jsonl", days=2, users=20)
    finally:
        app.extensions["cratedig"].close()
    assert summary.counts["list errors"] > 0
    assert set(log.filter(pl.col("action") == "list_error")["value"]) == {503.0}
    assert "lists fetched" not in summary.counts
    assert len(traffic_events(engine)) == summary.counts["events sent"] > 0
    engine.dispose()


@pytest.mark.parametrize(
    ("field", "value"),
    [("days", 0), ("users", -1), ("k", 101), ("seed", -2), ("click_max", 1.5),
     ("continue_prob", -0.1), ("start_ms", 12), ("visit_scale", -1.0)],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        TrafficConfig(**{field: value})  # type: ignore[arg-type]
    assert err.value.field == field


def test_more_listeners_than_users_is_refused() -> None:
    with pytest.raises(ValidationError, match="users: 151"):
        simulate_traffic(TestClientAdapter(None), SITE, TrafficConfig(users=151))


def test_an_unreachable_service_is_a_clear_error() -> None:
    client = HttpClient("http://127.0.0.1:9", api_key="k", timeout=2)
    with pytest.raises(ServiceError, match="unreachable"):
        simulate_traffic(client, SITE, TrafficConfig(users=30, days=2))


def test_the_command_runs_in_process_after_the_stores_last_event(
    base_store: tuple[Path, Path], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from cratedig.cli import cli

    path, artifacts = base_store
    shutil.copy(path, tmp_path / "store.sqlite")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = make_engine(url)
    start = start_after_store(engine)
    site = [
        "--site-users", str(SITE.n_users), "--site-artists", str(SITE.n_artists),
        "--site-events", str(SITE.n_events), "--site-days", str(SITE.days),
        "--site-seed", str(SITE.seed),
    ]  # fmt: skip
    result = CliRunner().invoke(
        cli,
        ["--db", url, "simulate-traffic", "--in-process", "--days", "2", "--users", "30",
         "--log", str(tmp_path / "log.jsonl"), *site],
        env={"CRATEDIG_ARTIFACTS_DIR": str(artifacts), "CRATEDIG_API_KEYS": ""},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Simulated traffic" in result.output and "lists fetched" in result.output
    log = read_log(tmp_path / "log.jsonl")
    sent = log.filter(~pl.col("action").is_in(sorted(NON_EVENT_ACTIONS)))
    assert sent.height == len(traffic_events(engine)) > 0
    assert start <= log["t"].min() < start + 86_400_000
    engine.dispose()


@pytest.mark.slow
def test_over_http_against_gunicorn(base_store: tuple[Path, Path], tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import requests

    import cratedig

    path, artifacts = base_store
    shutil.copy(path, tmp_path / "store.sqlite")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    src = str(Path(cratedig.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "CRATEDIG_DATABASE_URL": url,
        "CRATEDIG_API_KEYS": KEY,
        "CRATEDIG_ARTIFACTS_DIR": str(artifacts),
    }
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--worker-class", "gthread", "--threads", "2", "--log-level", "warning",
            "cratedig.serving:create_app()"]  # fmt: skip
    server = subprocess.Popen(argv, env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        engine = make_engine(url)
        client = HttpClient(base, api_key=KEY)
        config = TrafficConfig(days=3, users=40, seed=5, start_ms=start_after_store(engine))
        summary = simulate_traffic(client, SITE, config, tmp_path / "log.jsonl")
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)  # the workers write their impressions on exit
        server.wait(timeout=30)
    log = read_log(tmp_path / "log.jsonl")
    assert summary.counts["lists fetched"] > 0 and summary.counts["recommendation_click (list)"] > 0
    check_log_matches_store(engine, summary, log)
    engine.dispose()


def test_a_version_promoted_mid_run_serves_the_following_days(
    served: Callable[[str], Any], tmp_path: Path
) -> None:
    from cratedig.config import Settings
    from cratedig.pipeline.train import train
    from tests.serving.helpers import TinyModel, tiny_gems

    engine, app = served("promote")
    days: list[int] = []
    versions: list[str] = []

    def on_day(day: int, day_start_ms: int) -> None:
        days.append(day)
        if day == 2:
            version = train(
                engine, Settings(artifacts_dir=str(tmp_path / "art2"), promotion_margin=1.0),
                model_name="tiny", model_factory=TinyModel, gems_factory=tiny_gems,
                k_lists=20, k_similar=10,
            )  # fmt: skip
            versions.append(version.version_id)
            app.extensions["cratedig"].active_version(fresh=True)

    config = TrafficConfig(days=4, users=60, seed=3, start_ms=start_after_store(engine))
    client = TestClientAdapter(app.test_client(), KEY)
    simulate_traffic(client, SITE, config, tmp_path / "log.jsonl", on_day=on_day)
    assert days == [0, 1, 2, 3]
    fetched = read_log(tmp_path / "log.jsonl").filter(pl.col("action") == "fetch_list")
    switch = config.start_ms + 2 * 86_400_000  # type: ignore[operator]
    before = set(fetched.filter(pl.col("t") < switch)["model_version"])
    after = set(fetched.filter(pl.col("t") >= switch)["model_version"])
    assert len(before) == 1 and after == set(versions) and before != after
