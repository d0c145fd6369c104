"""Exactness: on a seeded simulated run, every online metric cratedig computes equals
the tally computed from the traffic simulator's own log (and the site simulator's own
events, the history before the traffic), on SQLite and on PostgreSQL.

The run: a simulated site, two model versions (``tiny`` served, ``popularity``), a
few days of simulated listeners in process; from day 1 an experiment splits part of
the users' May Like lists between the two versions, so rows differ by day, list type,
model version and variant. The service's clock follows the simulated time
(``TestClientAdapter`` drives :func:`cratedig.clock.set_simulated_ms`), so the
impressions carry the ``t`` of the log's ``fetch_list`` records. Then ``cratedig
online refresh --full`` runs, and every rollup row, and the API's figures, are
compared with :mod:`tests.online.reference`, which implements ``docs/online.md``'s
rules on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cratedig.cli import cli
from cratedig.clock import simulated_ms
from cratedig.config import Settings
from cratedig.experiments import manage
from cratedig.online.refresh import refresh
from cratedig.pipeline import registry
from cratedig.pipeline.train import train
from cratedig.simulator.client import TestClientAdapter
from cratedig.simulator.frames import events_frame
from cratedig.simulator.site import iter_blocks
from cratedig.simulator.traffic import TrafficConfig, simulate_traffic
from cratedig.simulator.traffic_log import read_log
from cratedig.simulator.world import build_world
from cratedig.store.schema import impressions, user_events
from cratedig.store.schema.rollups import (
    online_daily,
    online_event_daily,
    online_position_daily,
    online_user_daily,
)
from tests.online import reference as R
from tests.serving.helpers import tiny_gems
from tests.simulator.conftest import KEY, SITE, build_store, make_app, start_after_store

DAYS = 3
#: Generous rates, so that every metric (shares, ratings, subscriptions...) is exercised.
TRAFFIC = {
    "users": 45, "seed": 21, "visit_scale": 3.0, "click_max": 0.9, "share_base": 0.6,
    "rate_prob": 0.3, "thumb_prob": 0.15, "subscribe_base": 0.05, "organic_follow": 0.3,
}  # fmt: skip


def _table(engine: Engine, table: Any, key: list[str]) -> R.Rows:
    with engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    return {tuple(r[k] for k in key): {c: int(r[c]) for c in r if c not in key} for r in rows}


def _simulate(engine: Engine, artifacts: Path, log: Path) -> int:
    """The seeded run (see the module docstring); returns the end of the simulated period."""
    served = registry.active_version(engine)
    assert served is not None
    popular = train(
        engine, Settings(artifacts_dir=str(artifacts)), model_name="popularity", tune=False,
        gems_factory=tiny_gems, k_lists=20, k_similar=10,
    )  # fmt: skip
    registry.promote(engine, served.version_id)  # whether or not popularity was promoted
    manage.create(
        engine, "exact", [f"pop={popular.version_id}", "served=active"], layer_share=0.7,
        salt="exact-1",
    )  # fmt: skip
    app = make_app(engine, artifacts)
    start = start_after_store(engine)

    def on_day(day: int, day_start_ms: int) -> None:
        if day == 1:
            manage.start(engine, "exact", at_ms=day_start_ms)
            app.extensions["cratedig"].versions.layers(fresh=True)

    config = TrafficConfig(days=DAYS, start_ms=start, **TRAFFIC)  # type: ignore[arg-type]
    try:
        simulate_traffic(
            TestClientAdapter(app.test_client(), KEY), SITE, config, log, on_day=on_day
        )
    finally:
        app.extensions["cratedig"].close()  # writes the buffered impressions
    assert simulated_ms() is None  # the wall clock is back
    return start + DAYS * R.DAY


def _history() -> pl.DataFrame:
    """The site simulator's own events (what filled the store before the traffic)."""
    world = build_world(SITE)
    return pl.concat([events_frame(world, block, "ms") for block in iter_blocks(world)])


def _compare(found: R.Rows, expected: R.Rows, what: str) -> None:
    assert set(found) == set(expected), f"{what}: the keys differ"
    for key, row in expected.items():
        assert set(row) <= set(found[key]), f"{what}: unknown columns {set(row) - set(found[key])}"
        want = {c: row.get(c, 0) for c in found[key]}
        assert found[key] == want, f"{what} {key}"


def test_every_metric_equals_the_tally_of_the_simulators_log(db_url: str, tmp_path: Path) -> None:
    engine = build_store(db_url, tmp_path / "artifacts")
    end = _simulate(engine, tmp_path / "artifacts", tmp_path / "log.jsonl")
    result = CliRunner().invoke(cli, ["--db", db_url, "online", "refresh", "--full"])
    assert result.exit_code == 0, result.output

    log = read_log(tmp_path / "log.jsonl")
    lists = R.lists_of(log)
    events = R.events_of(_history(), log)
    feedback = [
        {"list_id": r["list_id"], "artist_id": r["artist_id"], "kind": r["action"],
         "value": int(r["value"])}
        for r in log.filter(pl.col("action").is_in(["thumb", "rating"])).iter_rows(named=True)
    ]  # fmt: skip
    # the store holds what the simulators say, and lists were served at simulated times
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(user_events)).scalar() == len(events)
        shown = dict(conn.execute(select(impressions.c.list_id, impressions.c.shown_at_ms)).all())
    assert shown == {s.list_id: s.shown for s in lists}
    assert all(len(set(s.artists)) == len(s.artists) for s in lists)

    users, days, positions, event_days = R.tally(events, lists, feedback)
    user_key = ["day", "user_id", "list_type", "model_version", "variant"]
    key = ["day", "list_type", "model_version", "variant"]
    _compare(_table(engine, online_user_daily, user_key), users, "online_user_daily")
    stored_days = _table(engine, online_daily, key)
    _compare(stored_days, days, "online_daily")
    days = stored_days  # equal to the tally, with every column (zeros included)
    _compare(_table(engine, online_position_daily, [*key, "position"]), positions, "positions")
    _compare(_table(engine, online_event_daily, ["day"]), event_days, "online_event_daily")

    # the run exercised every metric and every grouping
    totals = {c: sum(r[c] for r in days.values()) for c in next(iter(days.values()))}
    for name in ("clicks", "clicked_items", "follows", "shares", "plays", "new_play_ms",
                 "new_artists", "thumbs_up", "thumbs_down", "ratings", "subscriptions",
                 "new_followers", "new_longtail_listeners", "longtail_items",
                 "returned_users"):  # fmt: skip
        assert totals[name] > 0, name
    assert sum(r["view_through"] for r in event_days.values()) > 0
    variants = {k[3] for k in days}
    assert {"", "exact:pop", "exact:served"} <= variants, variants
    assert len({k[2] for k in days}) == 2 and len({k[0] for k in days}) == DAYS
    assert {k[1] for k in days} == {"may_like", "hidden_gems"}

    # the API shows the same figures, grouped every way, and per position
    app = make_app(engine, tmp_path / "artifacts")
    body = (
        app.test_client()
        .get("/api/v1/metrics/online?group_by=day,list_type,model_version,variant")
        .get_json()
    )
    zero = dict.fromkeys(next(iter(days.values())), 0)
    expected_groups = {k: R.derive({**zero, **r}) for k, r in days.items()}
    found_groups = {
        (_day_number(g["day"]), g["list_type"], g["model_version"], g["variant"]): {
            n: g[n] for n in expected_groups[next(iter(expected_groups))]
        }
        for g in body["groups"]
    }
    assert found_groups == expected_groups
    assert body["totals"] == R.derive({**zero, **totals})
    by_position: dict[int, dict[str, int]] = {}
    for (_d, _lt, _mv, _var, position), row in positions.items():
        agg = by_position.setdefault(position, dict.fromkeys(row, 0))
        for name, value in row.items():
            agg[name] += value
    assert {p["position"]: {n: p[n] for n in by_position[1]} for p in body["positions"]} == (
        by_position
    )
    attribution = {n: sum(r[n] for r in event_days.values()) for n in body["attribution"]}
    assert body["attribution"] == attribution
    app.extensions["cratedig"].close()

    # an incremental refresh at the end of the run rewrites the same rows
    before = [_table(engine, t, k) for t, k in ((online_user_daily, user_key), (online_daily, key))]
    refresh(engine, days_back=DAYS, now_ms=end)
    after = [_table(engine, t, k) for t, k in ((online_user_daily, user_key), (online_daily, key))]
    assert after == before
    engine.dispose()


def _day_number(iso: str) -> int:
    import datetime as dt

    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


@pytest.fixture(autouse=True)
def _wall_clock_after() -> Any:
    """Whatever happens, later tests get the wall clock."""
    from cratedig.clock import set_simulated_ms

    yield
    set_simulated_ms(None)
