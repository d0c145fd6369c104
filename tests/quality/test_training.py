"""Decisions reach training: excluded periods (and excluded types within a period) are
left out of the engagement matrix on every read path, `train` records them in the
version, lists unreviewed findings and stops on them with --require-reviewed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cratedig.cli import cli
from cratedig.config import Settings
from cratedig.exceptions import ValidationError
from cratedig.ingest.bulk import import_records
from cratedig.matrix import EngagementConfig, build_engagement, store_config
from cratedig.pipeline import registry
from cratedig.store import init_db, make_engine, schema
from cratedig.store.quality import excluded_periods, replace_findings

DAY_MS = 86_400_000
DAY1 = 20_513  # 2026-03-01
USERS = [f"u{i:02d}" for i in range(30)]


def _events() -> list[dict]:
    rows = []
    for n, user in enumerate(USERS):
        t1 = (DAY1 + 0) * DAY_MS + 3_600_000 + n
        t2 = (DAY1 + 1) * DAY_MS + 3_600_000 + n
        t3 = (DAY1 + 2) * DAY_MS + 3_600_000 + n
        rows += [
            {"user_id": user, "event_type": "play_track", "artist_id": "a1", "occurred_at_ms": t1},
            {
                "user_id": user,
                "event_type": "play_track",
                "artist_id": f"a{2 + n % 3}",
                "occurred_at_ms": t1 + 1,
            },
            # only on the excluded day
            {
                "user_id": user,
                "event_type": "like_track",
                "artist_id": "gone_day",
                "occurred_at_ms": t2,
            },
            # on day 3 follows are excluded, plays are not
            {
                "user_id": user,
                "event_type": "follow_artist",
                "artist_id": "gone_type",
                "occurred_at_ms": t3,
            },
            {
                "user_id": user,
                "event_type": "play_track",
                "artist_id": "kept",
                "occurred_at_ms": t3 + 1,
            },
        ]
    return rows


def _store(url: str) -> Engine:
    engine = make_engine(url)
    init_db(engine)
    import_records(engine, "events", enumerate(_events(), start=1), source="test")
    return engine


def _decide(url: str, *args: str) -> None:
    result = CliRunner().invoke(
        cli, ["--db", url, "quality", "decide", *args, "--by", "bob"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output


def _exclude_both(url: str) -> None:
    _decide(url, "2026-03-02", "--exclude", "--note", "tracking outage")
    _decide(url, "2026-03-03", "--exclude", "--type", "follow_artist", "--note", "follows lost")


def test_excluded_days_and_types_are_left_out_of_the_matrix(db_url: str) -> None:
    engine = _store(db_url)
    before = build_engagement(engine, EngagementConfig())
    assert {"gone_day", "gone_type", "kept"} <= set(before.artists.ids)
    _exclude_both(db_url)
    periods = excluded_periods(engine)
    assert periods == [
        ((DAY1 + 1) * DAY_MS, (DAY1 + 2) * DAY_MS, None),
        ((DAY1 + 2) * DAY_MS, (DAY1 + 3) * DAY_MS, "follow_artist"),
    ]
    config = store_config(engine, Settings())
    assert config.excluded_periods == tuple(periods)
    strategies = ["sql", "stream"] if engine.dialect.name == "sqlite" else ["sql"]
    for strategy in strategies:
        eng = build_engagement(engine, config, strategy=strategy)  # type: ignore[arg-type]
        artists = set(eng.artists.ids)
        assert "gone_day" not in artists and "gone_type" not in artists
        assert {"a1", "a2", "a3", "a4", "kept"} <= artists
        # everything else is as before: only the two excluded pairs per user are gone
        assert eng.X.nnz == before.X.nnz - 2 * len(USERS)
    # the same filter under the other unfollow policies
    for policy in ("negative", "ignore"):
        other = build_engagement(engine, store_config(engine, Settings(), unfollow_policy=policy))
        assert "gone_type" not in set(other.artists.ids)
    # a later `keep` of exactly the same period undoes the exclusion
    _decide(db_url, "2026-03-02", "--keep", "--note", "the outage was elsewhere")
    assert excluded_periods(engine) == [periods[1]]
    again = build_engagement(engine, store_config(engine, Settings()))
    assert "gone_day" in set(again.artists.ids)
    engine.dispose()


def test_config_record_round_trip_keeps_the_periods() -> None:
    config = EngagementConfig(excluded_periods=((5, 10, None), (1, 3, "visit")))
    assert config.excluded_periods == ((1, 3, "visit"), (5, 10, None))
    record = config.as_record()
    back = EngagementConfig.from_record(json.loads(json.dumps(record)))
    assert back == config
    with pytest.raises(ValidationError, match="excluded_periods"):
        EngagementConfig(excluded_periods=((10, 5, None),))
    with pytest.raises(ValidationError, match="excluded_periods"):
        EngagementConfig(excluded_periods=((1, 5, "no_such_type"),))


def _train(url: str, tmp_path: Path, *extra: str):
    env = {"CRATEDIG_ARTIFACTS_DIR": str(tmp_path / "art")}
    args = ["--db", url, "train", "--model", "popularity", "--quiet", "--k", "5", *extra]
    return CliRunner().invoke(cli, args, env=env)


def test_train_records_the_skipped_periods_and_warns(sqlite_url: str, tmp_path: Path) -> None:
    engine = _store(sqlite_url)
    finding = {
        "check_name": "low_volume_day",
        "start_ms": (DAY1 + 1) * DAY_MS,
        "end_ms": (DAY1 + 2) * DAY_MS,
        "event_type": "",
        "observed": 30.0,
        "expected": 600.0,
        "lower_bound": 300.0,
        "detail": "30 events on this day; ...",
        "found_at_ms": 1,
    }
    with engine.begin() as conn:
        replace_findings(conn, DAY1 * DAY_MS, (DAY1 + 3) * DAY_MS, [finding])
    stopped = _train(sqlite_url, tmp_path, "--require-reviewed")
    assert stopped.exit_code != 0
    assert "1 data-quality finding(s) not reviewed" in stopped.stderr
    assert "low_volume_day" in stopped.stderr
    with engine.connect() as conn:  # nothing was started
        assert conn.scalar(select(func.count()).select_from(schema.model_versions)) == 0
    warned = _train(sqlite_url, tmp_path)
    assert warned.exit_code == 0, warned.output
    assert "not reviewed" in warned.stderr
    first = registry.active_version(engine)
    assert first.params["engagement"]["excluded_periods"] == []

    _exclude_both(sqlite_url)
    reviewed = _train(sqlite_url, tmp_path, "--require-reviewed")
    assert reviewed.exit_code == 0, reviewed.stderr
    assert "not reviewed" not in reviewed.stderr
    version = registry.active_version(engine)
    assert version.version_id != first.version_id
    assert version.params["engagement"]["excluded_periods"] == [
        [(DAY1 + 1) * DAY_MS, (DAY1 + 2) * DAY_MS, None],
        [(DAY1 + 2) * DAY_MS, (DAY1 + 3) * DAY_MS, "follow_artist"],
    ]
    # the recorded configuration rebuilds the matrix without them
    recorded = EngagementConfig.from_record(version.params["engagement"])
    assert "gone_day" not in build_engagement(engine, recorded).artists.ids
    engine.dispose()


def test_evaluate_skips_excluded_periods(sqlite_url: str) -> None:
    from cratedig.commands.evaluation import run_evaluation

    engine = _store(sqlite_url)
    _exclude_both(sqlite_url)
    _, meta = run_evaluation(engine, Settings(), ["popularity"], progress=False)
    assert len(meta["engagement"]["excluded_periods"]) == 2
    full = build_engagement(engine, EngagementConfig())
    assert meta["pairs"] == full.X.nnz - 2 * len(USERS)
    engine.dispose()
