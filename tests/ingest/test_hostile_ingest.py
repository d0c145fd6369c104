"""Regression tests for the ingest side of issue #10 (defects 3, 9, 11 and the missing
``occurred_at`` column of 12); each failed on the code before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from cratedig.clock import now_ms
from cratedig.config import load_settings
from cratedig.events import validate_event
from cratedig.exceptions import ValidationError
from cratedig.fields import FUTURE_TOLERANCE_MS
from cratedig.ingest.bulk import import_batches, import_file
from cratedig.ingest.event_batch import normalise_event_batch
from cratedig.ingest.write_path import store_events
from cratedig.store import schema

FAR_FUTURE = "9999-12-31T23:59:59Z"
PAST = "2025-01-01T00:00:00Z"


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _reasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(schema.quarantine.c.reason)).scalars())


# -- defect 3: events in the future ----------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_far_future_event_is_quarantined_on_import(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    """Defect 3: `u999,visit,9999-12-31T23:59:59Z` was stored and became the snapshot."""
    rows = [
        {"user_id": "u1", "event_type": "visit", "occurred_at": PAST},
        {"user_id": "u999", "event_type": "visit", "occurred_at": FAR_FUTURE},
        # in ms, as the fast path reads integers
        {"user_id": "u998", "event_type": "visit", "occurred_at": str(now_ms() + 10 * 86_400_000)},
    ]
    path = tmp_path / f"e.{fmt}"
    if fmt == "csv":
        path.write_text(
            "user_id,event_type,occurred_at\n"
            + "".join(f"{r['user_id']},{r['event_type']},{r['occurred_at']}\n" for r in rows)
        )
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (1, 2)
    reasons = _reasons(engine)
    assert len(reasons) == 2
    assert all("occurred_at" in r and "in the future" in r for r in reasons)
    with engine.connect() as conn:
        stored = conn.execute(select(func.max(schema.user_events.c.occurred_at_ms))).scalar_one()
    assert stored < now_ms()


def test_the_fast_path_and_validate_event_agree_on_the_future_limit() -> None:
    limit = now_ms() + FUTURE_TOLERANCE_MS
    values = [limit - 1, limit, limit + 1, 2**62]
    batch = pa.RecordBatch.from_pylist(
        [{"user_id": "u", "event_type": "visit", "occurred_at": v} for v in values]
    )
    ok = normalise_event_batch(batch, limit).ok.tolist()
    assert ok == [True, True, False, False]
    for value, fast in zip(values, ok, strict=True):
        raw = {"user_id": "u", "event_type": "visit", "occurred_at": value}
        try:
            validate_event(raw, not_after_ms=limit)
            slow = True
        except ValidationError:
            slow = False
        assert slow == fast or (value == 2**62 and not slow)


def test_the_api_rejects_a_far_future_event(engine: Engine) -> None:
    """Defect 3 (API): the event was stored."""
    result = store_events(
        engine,
        [
            {"event_id": "p1", "user_id": "u1", "event_type": "visit", "occurred_at": PAST},
            {"event_id": "f1", "user_id": "u1", "event_type": "visit", "occurred_at": FAR_FUTURE},
        ],
    )
    assert result.accepted == 1
    assert [e["field"] for e in result.errors] == ["occurred_at"]
    assert result.errors[0]["index"] == 1
    assert "in the future" in result.errors[0]["message"]
    assert _count(engine, schema.user_events) == 1


def test_the_future_tolerance_is_configurable(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_two_hours = now_ms() + 2 * 3_600_000
    table = pa.table(
        {"user_id": ["u1"], "event_type": ["visit"], "occurred_at": pa.array([in_two_hours])}
    )
    report = import_batches(engine, "events", [table], source="mem", future_tolerance_ms=0)
    assert report.quarantined == 1
    report = import_batches(engine, "events", [table], source="mem")  # default: one day
    assert report.accepted == 1
    raw = {"event_id": "x", "user_id": "u1", "event_type": "visit", "occurred_at": in_two_hours}
    assert store_events(engine, [raw], future_tolerance_ms=3_600_000).errors
    monkeypatch.setenv("CRATEDIG_FUTURE_TOLERANCE_SECONDS", "60")
    assert load_settings().future_tolerance_seconds == 60.0
    monkeypatch.setenv("CRATEDIG_FUTURE_TOLERANCE_SECONDS", "-1")
    with pytest.raises(Exception, match="future_tolerance_seconds"):
        load_settings()


# -- defect 9: Parquet integers at the edges ---------------------------------------------


def test_uint64_values_above_the_int64_range_are_quarantined(
    engine: Engine, tmp_path: Path
) -> None:
    """Defect 9: the fast path's cast to int64 raised ArrowInvalid; the import aborted."""
    path = tmp_path / "u.parquet"
    table = pa.table(
        {
            "event_id": ["ok", "big-time", "big-duration"],
            "user_id": ["u1", "u1", "u1"],
            "event_type": ["play_track"] * 3,
            "artist_id": ["a1"] * 3,
            "occurred_at": pa.array([1_735_689_600_000, 2**64 - 1, 1_735_689_600_000], pa.uint64()),
            "duration_ms": pa.array([1_000, 1_000, 2**63 + 5], pa.uint64()),
        }
    )
    pq.write_table(table, path)
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (1, 2)
    reasons = sorted(_reasons(engine))
    assert reasons[0].startswith("duration_ms:") and reasons[1].startswith("occurred_at:")


def test_int64_minimum_time_is_quarantined_not_stored_as_zero(
    engine: Engine, tmp_path: Path
) -> None:
    """Defect 9: abs(-2**63) overflowed, the fast path read it as seconds and stored 0,
    although validate_event rejects it."""
    path = tmp_path / "m.parquet"
    table = pa.table(
        {
            "event_id": ["min", "ok"],
            "user_id": ["u1", "u1"],
            "event_type": ["visit", "visit"],
            "occurred_at": pa.array([-(2**63), 1_735_689_600_000], pa.int64()),
        }
    )
    pq.write_table(table, path)
    with pytest.raises(ValidationError):
        validate_event(table.slice(0, 1).to_pylist()[0])
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (1, 1)
    with engine.connect() as conn:
        times = conn.execute(select(schema.user_events.c.occurred_at_ms)).scalars().all()
    assert times == [1_735_689_600_000]
    assert _reasons(engine)[0].startswith("occurred_at:")


def test_second_timestamps_that_overflow_milliseconds_are_quarantined(engine: Engine) -> None:
    """Found while fixing defect 9: ``timestamp[s]`` times 1000 wrapped around in int64."""
    table = pa.table(
        {
            "user_id": ["u1"],
            "event_type": ["visit"],
            "occurred_at": pa.array([2**62], pa.timestamp("s")),
        }
    )
    report = import_batches(engine, "events", [table], source="mem")
    assert (report.accepted, report.quarantined) == (0, 1)


# -- defect 11: an event_id stored with other content ----------------------------------


def test_a_known_event_id_with_other_content_is_a_conflict(engine: Engine, tmp_path: Path) -> None:
    """Defect 11: it was counted as a plain duplicate and silently dropped."""
    first = tmp_path / "a.csv"
    first.write_text("event_id,user_id,event_type,occurred_at\ne1,u1,visit," + PAST + "\n")
    assert import_file(engine, "events", first).accepted == 1
    second = tmp_path / "b.csv"
    second.write_text(
        "event_id,user_id,event_type,occurred_at\n"
        f"e1,u1,visit,{PAST}\n"  # identical: a duplicate
        f"e1,u2,visit,{PAST}\n"  # same id, other user: a conflict
        f"e2,u1,visit,{PAST}\n"  # new
        f"e2,u1,subscribe,{PAST}\n"  # same id as a row earlier in this file: a conflict
    )
    report = import_file(engine, "events", second)
    assert (report.accepted, report.duplicates, report.conflicts, report.quarantined) == (
        1,
        1,
        2,
        0,
    )
    assert report.rows == 4
    with engine.connect() as conn:
        rows = conn.execute(select(schema.quarantine.c.line, schema.quarantine.c.reason)).all()
        users = dict(
            conn.execute(select(schema.user_events.c.event_id, schema.user_events.c.user_id)).all()
        )
    assert users == {"e1": "u1", "e2": "u1"}
    assert sorted(line for line, _ in rows) == [3, 5]
    reasons = dict(rows)
    assert "conflict" in reasons[3] and "user_id" in reasons[3]
    assert "event_type" in reasons[5]
    # importing the same file again: the same counts, nothing more stored
    again = import_file(engine, "events", second)
    assert (again.accepted, again.duplicates, again.conflicts) == (0, 2, 2)
    assert _count(engine, schema.quarantine) == 2


def test_the_import_summary_shows_conflicts(sqlite_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cratedig.cli import cli

    path = tmp_path / "c.csv"
    path.write_text(
        f"event_id,user_id,event_type,occurred_at\ne1,u1,visit,{PAST}\ne1,u2,visit,{PAST}\n"
    )
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "import", "events", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "conflicts:     1" in result.output
    assert "quarantined:   0" in result.output


def test_the_api_reports_conflicts_apart_from_duplicates(engine: Engine) -> None:
    """Defect 11 (API): a changed re-send answered as a duplicate."""
    e1 = {"event_id": "e1", "user_id": "u1", "event_type": "visit", "occurred_at": PAST}
    assert store_events(engine, [e1]).accepted == 1
    changed = {**e1, "user_id": "u2"}
    result = store_events(engine, [e1, changed, {**e1, "event_id": "e2"}, {**changed}])
    body = result.as_dict()
    assert (body["accepted"], body["duplicates"], body["conflicts"], body["rejected"]) == (
        1,
        1,
        2,
        0,
    )
    assert [(e["index"], e["code"], e["field"]) for e in body["errors"]] == [
        (1, "conflict", "event_id"),
        (3, "conflict", "event_id"),
    ]
    assert "user_id" in body["errors"][0]["message"]
    # within one batch too
    batch = store_events(engine, [{**e1, "event_id": "e3"}, {**e1, "event_id": "e3", "count": 2}])
    assert (batch.accepted, batch.duplicates, batch.conflicts) == (1, 0, 1)
    assert "count" in batch.errors[0]["message"]


# -- defect 12: a missing occurred_at column -------------------------------------------


def _write(path: Path, fmt: str, rows: list[dict]) -> None:
    if fmt == "csv":
        names = list(rows[0])
        path.write_text(
            ",".join(names) + "\n" + "".join(",".join(r[n] for n in names) + "\n" for r in rows)
        )
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_missing_occurred_at_column_is_one_file_level_error(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    """Defect 12: every row was quarantined, one by one, with the same reason."""
    path = tmp_path / f"e.{fmt}"
    _write(path, fmt, [{"user_id": f"u{i}", "event_type": "visit"} for i in range(5)])
    with pytest.raises(ValidationError, match=r"occurred_at.*column named occurred_at"):
        import_file(engine, "events", path, chunk_rows=2)
    assert _count(engine, schema.quarantine) == 0
    assert _count(engine, schema.user_events) == 0
    assert _count(engine, schema.users) == 0


def test_the_cli_reports_a_missing_column_once(sqlite_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cratedig.cli import cli

    path = tmp_path / "e.csv"
    path.write_text("user_id,event_type,when\nu1,visit,2025-01-01\n")
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "import", "events", str(path), "--quiet"])
    # (cli.main turns a CratedigError into "Error: ..." and exit status 2)
    assert isinstance(result.exception, ValidationError)
    message = str(result.exception)
    assert message.startswith("occurred_at:") and "its columns: event_type, user_id, when" in (
        message
    )


def test_jsonl_rows_that_only_sometimes_lack_occurred_at_are_quarantined_row_by_row(
    engine: Engine, tmp_path: Path
) -> None:
    """JSON Lines keys vary per row: only when no row of the first chunk has the column
    is it a file-level error; otherwise the rows without it are quarantined."""
    path = tmp_path / "e.jsonl"
    rows = [
        {"user_id": "u1", "event_type": "visit", "occurred_at": PAST},
        {"user_id": "u2", "event_type": "visit"},
    ]
    _write(path, "jsonl", rows)
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert report.reasons[0].startswith("line 2: occurred_at")


# -- found by the property test ----------------------------------------------------------


def test_a_csv_row_with_wrong_fields_and_broken_utf8_loses_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    """pyarrow cannot hand such a row to the invalid-row handler (it decodes the text
    first): the header read treated the file as empty and imported nothing, silently;
    now the file is read again with Python's csv module from that row on."""
    path = tmp_path / "x.csv"
    path.write_bytes(
        b"\xef\xbb\xbfevent_id,user_id,event_type,occurred_at\r\n"
        b"e1,u\xed\xa0\x80,visit\r"
        b"e2,u1,visit,2025-01-01T00:00:00Z\n"
        b"e3,u1,visit,2025-01-01T00:00:00Z,x\n"
        b'e4,"a\nb",visit,2025-01-01T00:00:00Z\n'
    )
    report = import_file(engine, "events", path, chunk_rows=2)
    assert (report.accepted, report.quarantined) == (2, 2)  # e2, and e4 (a newline is text)
    assert report.reasons == [
        "line 2: row is not valid UTF-8 text",
        "line 4: row has 5 fields; expected 4",
    ]
