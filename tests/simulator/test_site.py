"""The simulator's API: configuration, determinism, file formats and the store path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cratedig.cli import cli
from cratedig.exceptions import ValidationError
from cratedig.ingest.bulk import import_file
from cratedig.matrix.idmap import IdMap
from cratedig.simulator.site import (
    SimulationConfig,
    ground_truth_matrix,
    read_ground_truth,
    simulate_to_store,
    write_files,
)
from cratedig.store import init_db, make_engine, schema

TINY = SimulationConfig(n_users=60, n_artists=90, n_events=3_000, days=20, seed=5)
READERS = {"csv": pl.read_csv, "parquet": pl.read_parquet, "jsonl": pl.read_ndjson}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_users", 0),
        ("n_artists", 1),
        ("n_events", -5),
        ("days", 0),
        ("seed", -1),
        ("n_users", 2.5),
        ("start", "2025-01-01"),
        ("new_artist_fraction", 1.5),
        ("zipf_exponent", -1.0),
        ("tracks_per_artist", 0.5),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        SimulationConfig(**{field: value})  # type: ignore[arg-type]
    assert err.value.field == field
    assert repr(value) in str(err.value)


def test_config_period_and_blocks() -> None:
    cfg = SimulationConfig(start=date(2025, 1, 1), days=2, n_users=10, n_events=100)
    assert cfg.start_ms == 1_735_689_600_000  # 2025-01-01T00:00:00Z
    assert cfg.end_ms == cfg.start_ms + 2 * 86_400_000
    assert cfg.block_users == 10
    big = SimulationConfig(n_users=100_000, n_events=10_000_000)
    assert big.block_users == 2_500  # about 250,000 events per block


def test_write_files_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="fmt"):
        write_files(TINY, tmp_path, fmt="xml")


def test_same_seed_same_files_different_seed_different_events(tmp_path: Path) -> None:
    first = write_files(TINY, tmp_path / "a")
    again = write_files(TINY, tmp_path / "b")
    other = write_files(SimulationConfig(**{**TINY.__dict__, "seed": 6}), tmp_path / "c")
    assert set(first) == {"users", "artists", "tracks", "events", "ground_truth"}
    for name in first:
        assert first[name].read_bytes() == again[name].read_bytes(), name
    for name in ("events", "ground_truth", "users"):
        assert first[name].read_bytes() != other[name].read_bytes(), name
    a, c = pl.read_csv(first["events"]), pl.read_csv(other["events"])
    assert a["event_id"].str.starts_with("e5-").all()
    assert c["event_id"].str.starts_with("e6-").all()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_every_format_reads_back_the_same_tables(tmp_path: Path, fmt: str) -> None:
    reference = write_files(TINY, tmp_path / "csv", fmt="csv")
    paths = write_files(TINY, tmp_path / fmt, fmt=fmt)
    for name, path in paths.items():
        assert path.suffix == f".{fmt}"
        got = READERS[fmt](path)
        want = pl.read_csv(reference[name])
        assert got.columns == want.columns
        assert got.height == want.height > 0
        for column in ("user_id", "artist_id", "event_id", "occurred_at"):
            if column in want.columns:
                assert got[column].cast(pl.String).to_list() == want[column].to_list()
    events = READERS[fmt](paths["events"])
    assert events.columns == [
        "event_id",
        "user_id",
        "event_type",
        "artist_id",
        "track_id",
        "duration_ms",
        "occurred_at",
        "session_id",
        "source",
    ]
    # ISO 8601 with the user's UTC offset, e.g. 2025-01-06T20:15:00.123+01:00
    assert (
        events["occurred_at"]
        .str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
        .all()
    )
    artists = READERS[fmt](paths["artists"])
    assert artists["tags"].str.contains(r"^[^|]+(\|[^|]+)+$").all()


def test_files_pass_the_bulk_importer_without_quarantine(tmp_path: Path) -> None:
    paths = write_files(TINY, tmp_path, fmt="csv")
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    init_db(engine)
    for kind in ("users", "artists", "tracks", "events"):
        report = import_file(engine, kind, paths[kind])
        assert report.quarantined == 0, report.reasons
        assert report.stubs_created == 0
        assert report.accepted == pl.read_csv(paths[kind]).height
    engine.dispose()


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_simulate_to_store_counts_match_the_files(engine: Engine, tmp_path: Path) -> None:
    truth_path = tmp_path / "truth.csv"
    counts = simulate_to_store(engine, TINY, ground_truth_path=truth_path)
    files = write_files(TINY, tmp_path / "files")
    expected = {
        "users": TINY.n_users,
        "artists": TINY.n_artists,
        "tracks": pl.read_csv(files["tracks"]).height,
        "user_events": pl.read_csv(files["events"]).height,
        "artist_tags": int(pl.read_csv(files["artists"])["tags"].str.split("|").list.len().sum()),
    }
    assert counts == expected
    for name, table in (
        ("users", schema.users),
        ("artists", schema.artists),
        ("artist_tags", schema.artist_tags),
        ("tracks", schema.tracks),
        ("user_events", schema.user_events),
    ):
        assert _count(engine, table) == expected[name], name
    assert truth_path.read_bytes() == files["ground_truth"].read_bytes()
    # the store holds the same events as the files, with times in epoch ms
    with engine.connect() as conn:
        stored = conn.execute(
            select(schema.user_events.c.event_id, schema.user_events.c.occurred_at_ms).order_by(
                schema.user_events.c.event_id
            )
        ).all()
    events = pl.read_csv(files["events"]).with_columns(
        ms=pl.col("occurred_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3f%:z").dt.epoch("ms")
    )
    want = sorted(zip(events["event_id"].to_list(), events["ms"].to_list(), strict=True))
    assert [tuple(r) for r in stored] == want
    # simulating the same seed again adds nothing
    again = simulate_to_store(engine, TINY)
    assert again == dict.fromkeys(expected, 0)


def test_cli_help_describes_the_options() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    for option in ("--users", "--artists", "--events", "--days", "--seed", "--out", "--format"):
        assert option in result.output
    assert "--to-store" in result.output


def test_cli_writes_files_and_to_store(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--users", "40", "--artists", "50", "--events", "1500", "--days", "10", "--seed", "3"]
    out = tmp_path / "out"
    result = runner.invoke(cli, ["simulate", *args, "--out", str(out), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    assert pl.read_ndjson(out / "users.jsonl").height == 40
    db = tmp_path / "s.sqlite"
    result = runner.invoke(cli, ["--db", f"sqlite:///{db}", "simulate", *args, "--to-store"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{db}")
    assert _count(engine, schema.users) == 40
    assert _count(engine, schema.user_events) == pl.read_ndjson(out / "events.jsonl").height
    engine.dispose()
    result = runner.invoke(cli, ["simulate", *args])
    assert result.exit_code != 0
    assert "--out" in result.output
    later = tmp_path / "later"
    result = runner.invoke(cli, ["simulate", *args, "--start", "2024-06-01", "--out", str(later)])
    assert result.exit_code == 0, result.output
    first = pl.read_csv(later / "events.csv")["occurred_at"].sort()[0]
    assert first.startswith(("2024-06-01", "2024-05-31"))
    result = runner.invoke(cli, ["simulate", *args, "--start", "June", "--out", str(later)])
    assert isinstance(result.exception, ValidationError)
    assert "start" in str(result.exception)
    result = runner.invoke(cli, ["simulate", "--users", "0", "--out", str(later)])
    assert isinstance(result.exception, ValidationError)
    assert "n_users: 0" in str(result.exception)


def test_ground_truth_matrix_aligns_with_id_maps(tmp_path: Path) -> None:
    truth_path = tmp_path / "truth.csv"
    truth_path.write_text(
        "user_id,artist_id,affinity,discovered_at\n"
        "u1,a2,0.75,2025-01-06T00:00:00.000Z\n"
        "u0,a0,0.25,2025-01-06T00:00:00.000Z\n"
        "u9,a0,0.5,2025-01-06T00:00:00.000Z\n"  # user not in the map: left out
    )
    users, artists = IdMap(["u0", "u1"]), IdMap(["a0", "a1", "a2"])
    matrix = ground_truth_matrix(truth_path, users, artists)
    assert matrix.shape == (2, 3)
    assert matrix.dtype == np.float32
    assert matrix.toarray().tolist() == [[0.25, 0.0, 0.0], [0.0, 0.0, 0.75]]
    with pytest.raises(ValidationError, match="path"):
        read_ground_truth(tmp_path / "truth.txt")


def test_ground_truth_of_a_run_fills_a_matrix(tmp_path: Path) -> None:
    paths = write_files(TINY, tmp_path, fmt="parquet")
    truth = read_ground_truth(paths["ground_truth"])
    users = IdMap(pl.read_parquet(paths["users"])["user_id"].to_list())
    artists = IdMap(pl.read_parquet(paths["artists"])["artist_id"].to_list())
    matrix = ground_truth_matrix(truth, users, artists)
    assert matrix.nnz == truth.height
    assert matrix.data.min() > 0 and matrix.data.max() < 1
