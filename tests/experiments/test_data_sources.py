"""The analysis reads the online rollup (``online_user_daily``) or the raw tables: same
numbers either way on the same stored rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert

from cratedig.cli import cli
from cratedig.exceptions import ValidationError
from cratedig.experiments import manage
from cratedig.experiments.analysis import analyse
from cratedig.experiments.data import load_data
from cratedig.experiments.report import render_html
from cratedig.online.refresh import refresh
from cratedig.store import init_db, make_engine
from cratedig.store.schema import feedback, impressions, user_events

DAY = 86_400_000
START = 20_100 * DAY + 5 * 3_600_000  # mid-day: the analysis covers whole days
DAYS = 8
ARTISTS = [f"a{i}" for i in range(40)]


def fill(engine: Engine, seed: int = 0) -> None:
    """Random lists of two arms (and pre-period lists), and what they led to.

    Treatment lists get more clicks. Besides clean clicks there are repeated clicks on
    one item, sourced events naming an artist not in the list, events of another user
    citing the list, list-level events without an artist, organic plays, and ratings.
    """
    rng = np.random.default_rng(seed)
    imps: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    fb: list[dict[str, Any]] = []
    n = 0

    def event(user: str, etype: str, at: int, artist: str | None, source: str) -> None:
        nonlocal n
        n += 1
        events.append({"event_id": f"e{n}", "user_id": user, "event_type": etype,
                       "occurred_at_ms": at, "artist_id": artist, "duration_ms": 1000 * n % 7,
                       "count": 1, "source": source})  # fmt: skip

    for u in range(120):
        user = f"u{u}"
        arm = "exp:a" if u % 2 else "exp:b"
        days = [d for d in range(-5, DAYS) if rng.random() < 0.5]
        for d in days:
            for lt in ("may_like", "hidden_gems"):
                list_id = f"L{u}-{d}-{lt}"
                ids = list(rng.choice(ARTISTS, size=6, replace=False))
                at = START + d * DAY + int(rng.integers(0, 3_600_000))
                variant = arm if (d >= 0 and lt == "may_like") else None
                if d == 0 and at < START:
                    variant = None
                imps.append({"list_id": list_id, "user_id": user, "list_type": lt,
                             "model_version": "v1" if d % 2 else "v2", "variant": variant,
                             "artist_ids": json.dumps(ids), "n_items": len(ids),
                             "shown_at_ms": at})  # fmt: skip
                p = 0.25 if arm == "exp:b" else 0.12
                for artist in ids:
                    if rng.random() < p:
                        event(user, "recommendation_click", at + 60_000, artist, list_id)
                        if rng.random() < 0.5:  # a second click on the same item
                            event(user, "recommendation_click", at + 90_000, artist, list_id)
                        if rng.random() < 0.5:
                            event(user, "play_track", at + 120_000, artist, list_id)
                if rng.random() < 0.3:  # an artist not in the list, from the list
                    event(user, "play_track", at + 5_000, "zz", list_id)
                if rng.random() < 0.3:  # another user citing the list
                    event(f"u{(u + 1) % 120}", "recommendation_click", at + 9, ids[0], list_id)
                if rng.random() < 0.3:
                    event(user, "visit", at + 1, None, list_id)
                if rng.random() < 0.3:
                    event(user, "play_track", at + 7_000, ids[1], "organic")
                if rng.random() < 0.4:
                    fb.append({"user_id": user, "list_id": list_id, "artist_id": None,
                               "kind": "rating", "value": int(rng.integers(1, 6)),
                               "created_at_ms": at + 100})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(impressions), imps)
        conn.execute(insert(user_events), events)
        conn.execute(insert(feedback), fb)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An empty store, on SQLite and on PostgreSQL."""
    engine = make_engine(db_url)
    init_db(engine)
    yield engine
    engine.dispose()


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.select(sorted(frame.columns)).sort(keys)


def test_the_rollup_and_the_raw_tables_give_the_same_analysis(engine: Engine) -> None:
    manage.create(engine, "exp", ["a=active", "b=active,personalise=off"], guardrails=["rating"])
    manage.start(engine, "exp", at_ms=START)
    manage.stop(engine, "exp", at_ms=START + DAYS * DAY)
    fill(engine)
    exp = manage.load(engine, "exp")
    assert load_data(engine, exp).source == "raw"  # no refresh yet: the rollup is empty
    refresh(engine, full=True, now_ms=START + (DAYS + 1) * DAY)
    raw = load_data(engine, exp, source="raw")
    online = load_data(engine, exp)  # auto: the refresh ran after the stop
    assert (raw.source, online.source) == ("raw", "online")
    assert raw.daily.height > 300 and raw.daily["clicks"].sum() > 100
    assert raw.pre["clicks"].sum() > 10 and raw.pre["items"].sum() > 100
    assert _sorted(raw.daily, ["user_id", "day"]).equals(_sorted(online.daily, ["user_id", "day"]))
    assert _sorted(raw.pre, ["user_id"]).equals(_sorted(online.pre, ["user_id"]))
    assert raw.first.sort("user_id").equals(online.first.sort("user_id"))

    a, b = analyse(engine, exp, source="raw"), analyse(engine, exp, source="online")
    assert a.pop("source") == "raw" and b.pop("source") == "online"
    assert a == b
    ctr = next(m for m in b["metrics"] if m["metric"] == "ctr")
    assert ctr["fixed"]["p_value"] < 0.01 and "cuped" in ctr  # the pre-period is read too

    # the bootstrap interval sits beside the delta-method one, in the JSON and the HTML
    boot, fixed = ctr["bootstrap"], ctr["fixed"]
    assert boot["n_resamples"] == 2000 and boot["lift_ci"][0] < fixed["lift"] < boot["lift_ci"][1]
    width = fixed["lift_ci"][1] - fixed["lift_ci"][0]
    assert abs(boot["lift_ci"][0] - fixed["lift_ci"][0]) < 0.3 * width
    html = render_html(b, None)
    assert "95% CI (bootstrap)" in html and "percentile" in html and "2000 resamples" in html
    assert f"{boot['lift_ci'][0] * 100:+.2f}% .. {boot['lift_ci'][1] * 100:+.2f}%" in html
    assert "bootstrap" not in analyse(engine, exp, bootstrap_resamples=0)["metrics"][0]
    runner, db = CliRunner(), ["--db", str(engine.url)]
    out = runner.invoke(cli, [*db, "experiment", "report", "exp", "--bootstrap", "500"])
    assert out.exit_code == 0 and "; bootstrap " in out.output, out.output
    out = runner.invoke(cli, [*db, "experiment", "report", "exp", "--bootstrap", "50"])
    assert isinstance(out.exception, ValidationError)  # the CLI's entry point prints it
    assert str(out.exception).startswith("--bootstrap: 50 is not valid; expected")


def test_a_recommendation_click_without_a_source_is_the_one_difference(engine: Engine) -> None:
    manage.create(engine, "exp", ["a=active", "b=active,personalise=off"])
    manage.start(engine, "exp", at_ms=START)
    manage.stop(engine, "exp", at_ms=START + DAYS * DAY)
    with engine.begin() as conn:
        conn.execute(insert(impressions).values(
            list_id="L", user_id="u1", list_type="may_like", model_version="v", variant="exp:a",
            artist_ids=json.dumps(["x", "y"]), n_items=2, shown_at_ms=START + 1))  # fmt: skip
        conn.execute(insert(user_events).values(
            event_id="e", user_id="u1", event_type="recommendation_click",
            occurred_at_ms=START + 2, artist_id="y", count=1, source="organic"))  # fmt: skip
    refresh(engine, full=True, now_ms=START + (DAYS + 1) * DAY)
    exp = manage.load(engine, "exp")
    assert load_data(engine, exp, source="raw").daily["clicks"].sum() == 0
    assert load_data(engine, exp, source="online").daily["clicks"].sum() == 1  # view-through


def test_a_running_experiment_reads_the_rollup_up_to_its_last_whole_day(engine: Engine) -> None:
    manage.create(engine, "exp", ["a=active", "b=active,personalise=off"])
    manage.start(engine, "exp", at_ms=START)
    fill(engine, seed=1)
    exp = manage.load(engine, "exp")
    refresh(engine, full=True, now_ms=START + 5 * DAY + 3_600_000)  # day 5, 3 h in
    online = load_data(engine, exp)  # running: "now" is after the refresh
    assert online.source == "online" and online.end_day == online.start_day + 4
    raw = load_data(engine, exp, until_ms=(online.end_day + 1) * DAY - 1, source="raw")
    assert _sorted(raw.daily, ["user_id", "day"]).equals(_sorted(online.daily, ["user_id", "day"]))
    assert analyse(engine, exp)["days"] == 5
    # a refresh before the first whole day: the raw tables, up to now
    refresh(engine, full=True, now_ms=START + 3_600_000)
    assert load_data(engine, exp).source == "raw"
