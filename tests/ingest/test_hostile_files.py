"""Regression tests for import defects found by a hostile probe (issue #10):
each failed on the code before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text

from cratedig.cli import cli
from cratedig.exceptions import ValidationError
from cratedig.ingest.bulk import import_file
from cratedig.store import schema

HEADER = "event_id,user_id,event_type,occurred_at,artist_id\n"


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_lone_surrogate_is_quarantined_not_a_crash(engine: Engine, tmp_path: Path) -> None:
    """Defect 2: writing the row to quarantine raised UnicodeEncodeError; nothing stored."""
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"event_id":"s1","user_id":"u1","event_type":"visit","occurred_at":"2025-01-01T00:00:00Z"}\n'
        '{"event_id":"s2","user_id":"u\\ud800","event_type":"visit","occurred_at":"2025-01-01T00:00:00Z"}\n',
        encoding="utf-8",
    )
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (1, 1)
    with engine.connect() as conn:
        raw = conn.execute(select(schema.quarantine.c.raw)).scalar_one()
    assert "\\ud800" in raw  # kept as a JSON escape


def test_a_new_bad_row_at_a_reused_path_and_line_is_kept(engine: Engine, tmp_path: Path) -> None:
    """Defect 4: quarantine was keyed by (path, line), so the second bad row was lost."""
    path = tmp_path / "e.csv"
    path.write_text(
        HEADER + "a1,u1,visit,2025-01-01T00:00:00Z,\na2,u1,plya,2025-01-01T00:00:00Z,\n"
    )
    assert import_file(engine, "events", path).quarantined == 1
    path.write_text(
        HEADER + "b1,u1,visit,2025-01-01T00:00:00Z,\nb2,u1,pley,2025-01-01T00:00:00Z,\n"
    )
    assert import_file(engine, "events", path).quarantined == 1
    with engine.connect() as conn:
        raws = conn.execute(select(schema.quarantine.c.raw).order_by("raw")).scalars().all()
    assert len(raws) == 2 and "plya" in raws[0] + raws[1] and "pley" in raws[0] + raws[1]
    # and importing the same file again still adds nothing
    import_file(engine, "events", path)
    assert _count(engine, schema.quarantine) == 2


def test_a_csv_row_over_a_mebibyte_is_read(engine: Engine, tmp_path: Path) -> None:
    """Defect 5: pyarrow's 'straddles two block boundaries' aborted the whole import."""
    path = tmp_path / "big.csv"
    huge = '"' + ("x" * 600_000 + "\n") * 3 + '"'  # one quoted value of 1.8 MB
    rows = [f"r{i},u{i},visit,2025-01-01T00:00:00Z," for i in range(2000)]
    path.write_text(
        HEADER
        + "\n".join(rows[:1000])
        + f"\nbig,{huge},visit,2025-01-01T00:00:00Z,\n"
        + "\n".join(rows[1000:])
        + "\n"
    )
    report = import_file(engine, "events", path, chunk_rows=300)
    assert report.accepted + report.quarantined == 2001
    assert report.accepted == 2000  # the huge user id is over the id length limit
    with engine.connect() as conn:
        line = conn.execute(select(schema.quarantine.c.line)).scalar_one()
    assert line == 1002


@pytest.mark.parametrize("content", [b"", b"PAR1 this is not parquet"])
def test_an_empty_or_corrupt_parquet_file_is_one_clear_error(
    engine: Engine, tmp_path: Path, content: bytes
) -> None:
    """Defect 9: a raw pyarrow traceback."""
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    with pytest.raises(ValidationError, match="a readable Parquet file"):
        import_file(engine, "events", path)


def test_a_byte_order_mark_does_not_cost_line_one(engine: Engine, tmp_path: Path) -> None:
    """Defect 12: line 1 of a JSON Lines file with a BOM went to quarantine."""
    path = tmp_path / "bom.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"event_id":"b1","user_id":"u1","event_type":"visit",'
        b'"occurred_at":"2025-01-01T00:00:00Z"}\n'
    )
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (1, 0)


def test_strict_import_with_quarantined_rows_exits_non_zero(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Defect 12: `import --strict` exited 0 although rows were quarantined."""
    path = tmp_path / "e.csv"
    path.write_text(
        HEADER + "a1,u1,visit,2025-01-01T00:00:00Z,\na2,u1,plya,2025-01-01T00:00:00Z,\n"
    )
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", sqlite_url, "import", "events", str(path), "--strict", "--quiet"]
    )
    assert result.exit_code == 1
    assert "quarantined under --strict" in result.output
    ok = tmp_path / "ok.csv"
    ok.write_text(HEADER + "c1,u1,visit,2025-01-01T00:00:00Z,\n")
    assert (
        runner.invoke(cli, ["--db", sqlite_url, "import", "events", str(ok), "--quiet"]).exit_code
        == 0
    )
    ok.write_text(HEADER + "c2,u1,visit,2025-01-01T00:00:00Z,\n")
    result = runner.invoke(
        cli, ["--db", sqlite_url, "import", "events", str(ok), "--strict", "--quiet"]
    )
    assert result.exit_code == 0, result.output


def test_quarantine_survives_a_reimport_on_both_databases(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(HEADER + "a2,u1,plya,2025-01-01T00:00:00Z,\n")
    import_file(engine, "events", path)
    import_file(engine, "events", path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM quarantine")).scalar() == 1


def test_huge_values_are_cut_in_reasons_and_quarantine(engine: Engine, tmp_path: Path) -> None:
    """Defect 10: a 100 MB user_id was echoed whole into the reason and the summary."""
    path = tmp_path / "huge.jsonl"
    big = "u" * 3_000_000
    path.write_text(
        '{"event_id":"h1","user_id":"' + big + '","event_type":"visit",'
        '"occurred_at":"2025-01-01T00:00:00Z"}\n',
        encoding="utf-8",
    )
    report = import_file(engine, "events", path)
    assert report.quarantined == 1
    assert all(len(r) < 1_000 for r in report.reasons)
    assert "cut; 3,000,000 long" in report.reasons[0]
    with engine.connect() as conn:
        reason, raw = conn.execute(
            select(schema.quarantine.c.reason, schema.quarantine.c.raw)
        ).one()
    assert len(reason) < 1_000
    assert len(raw) < 70_000 and "cut by cratedig" in raw


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", ["u001"]),
        ("user_id", {"id": "u"}),
        ("user_id", True),
        ("user_id", 12.5),
        ("count", True),
    ],
)
def test_non_string_ids_and_boolean_counts_are_rejected_naming_the_field(
    engine: Engine, tmp_path: Path, field: str, value: object
) -> None:
    """Defect 7: such values were stored as Python reprs ("['u001']", "True") or as 1."""
    import json

    row = {
        "event_id": "x1",
        "user_id": "u1",
        "event_type": "visit",
        "occurred_at": "2025-01-01T00:00:00Z",
        field: value,
    }
    path = tmp_path / "ids.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    report = import_file(engine, "events", path)
    assert (report.accepted, report.quarantined) == (0, 1)
    assert report.reasons[0].startswith(f"line 1: {field}:")


def test_a_binary_parquet_id_column_is_quarantined_not_stored_as_bytes(
    engine: Engine, tmp_path: Path
) -> None:
    """Defect 7: a binary column was stored as "b'u\\xff'", hiding invalid UTF-8."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "event_id": ["p1", "p2"],
            "user_id": pa.array([b"u1", b"u\xff"], pa.binary()),
            "event_type": ["visit", "visit"],
            "occurred_at_ms": [1_735_689_600_000, 1_735_689_600_000],
        }
    )
    path = tmp_path / "bin.parquet"
    pq.write_table(table, path)
    report = import_file(engine, "events", path)
    assert report.accepted == 0 and report.quarantined == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.user_events)).scalar() == 0
