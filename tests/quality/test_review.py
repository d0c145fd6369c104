"""The quarantine review round trip through the CLI: import a file with bad rows,
``quarantine export``, fix the rows with a script, ``quarantine retry``; ``discard``;
``list`` and ``show``. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from cratedig.cli import cli
from cratedig.store import make_engine, schema

GOOD = 6
HEADER = "event_id,user_id,event_type,occurred_at,artist_id,duration_ms"
BAD_ROWS = [
    "f1,u1,folow_artist,2026-03-01T10:00:00Z,a1,",  # typo in the type: fixable
    "f2,u2,follow_artist,yesterday,a2,",  # unreadable time: fixable
    "f3,,play_track,2026-03-01T11:00:00Z,a3,180000",  # no user: fixable
    "f4,u4,play_track,2026-03-01T12:00:00Z,a4,-5",  # negative duration: fixable
    "f5,u5,lik_track,2026-03-01T13:00:00Z,a5,",  # the script makes it worse
    "f6,u6,follow_artist",  # too few fields: only raw text is kept
]
FIXED = 4


def run(db_url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def counts(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    q = schema.quarantine.c
    with engine.connect() as conn:
        out = {
            "events": conn.scalar(select(func.count()).select_from(schema.user_events)),
            "quarantine": conn.scalar(select(func.count()).select_from(schema.quarantine)),
        }
        for status in ("open", "retried", "discarded"):
            out[status] = conn.scalar(select(func.count()).where(q.status == status))
    engine.dispose()
    return {k: int(v or 0) for k, v in out.items()}


def imported(db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    good = [f"g{i},u1,play_track,2026-03-01T0{i}:00:00Z,a1,200000" for i in range(GOOD)]
    path.write_text("\n".join([HEADER, *good, *BAD_ROWS]) + "\n", encoding="utf-8")
    out = run(db_url, "import", "events", str(path), "--quiet").output
    assert re.search(rf"accepted:\s+{GOOD}\n", out)
    assert re.search(rf"quarantined:\s+{len(BAD_ROWS)}\n", out)
    return path


def fix_csv(exported: Path, fixed: Path) -> None:
    """The repair script a person would write."""
    with open(exported, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row.get("event_type") == "folow_artist":
            row["event_type"] = "follow_artist"
        if row.get("occurred_at") == "yesterday":
            row["occurred_at"] = "2026-02-28T09:00:00Z"
        if row.get("event_id") == "f3":
            row["user_id"] = "u3"
        if row.get("duration_ms") == "-5":
            row["duration_ms"] = "5000"
        if row.get("event_id") == "f5":  # fixes the type, breaks the time
            row["event_type"] = "like_track"
            row["occurred_at"] = "not a time either"
    with open(fixed, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_round_trip_export_fix_retry(db_url: str, tmp_path: Path) -> None:
    imported(db_url, tmp_path)
    before = counts(db_url)
    assert before == {
        "events": GOOD,
        "quarantine": len(BAD_ROWS),
        "open": len(BAD_ROWS),
        "retried": 0,
        "discarded": 0,
    }
    exported = tmp_path / "bad.csv"
    out = run(db_url, "quarantine", "export", "--out", str(exported)).output
    assert f"Wrote {len(BAD_ROWS)} rows" in out
    with open(exported, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(BAD_ROWS)
    assert all(row["_quarantine_id"] for row in rows)
    assert rows[-1]["_raw_text"] == "f6,u6,follow_artist"  # kept as it came

    fixed = tmp_path / "fixed.csv"
    fix_csv(exported, fixed)
    out = run(db_url, "quarantine", "retry", str(fixed)).output
    assert re.search(rf"stored \(left the quarantine\):\s+{FIXED}\n", out)
    assert re.search(r"still failing \(kept open\):\s+2\n", out)

    after = counts(db_url)
    assert after["events"] == GOOD + FIXED  # every fixed row stored once
    assert after["open"] == before["open"] - FIXED  # the quarantine shrank by as many
    assert after["retried"] == FIXED
    assert after["quarantine"] == before["quarantine"]  # nothing deleted
    assert after["open"] + after["retried"] + after["discarded"] == after["quarantine"]

    engine = make_engine(db_url)
    with engine.connect() as conn:
        q = schema.quarantine.c
        retried = {
            r.line: r.resolution
            for r in conn.execute(select(q.line, q.resolution).where(q.status == "retried"))
        }
        still = {
            r.line: r.reason
            for r in conn.execute(select(q.line, q.reason).where(q.status == "open"))
        }
        ids = set(conn.scalars(select(schema.user_events.c.event_id)))
    engine.dispose()
    # each retried row names the event it was stored as, and that event exists
    assert set(retried.values()) == {"f1", "f2", "f3", "f4"}
    assert set(retried.values()) <= ids
    # rows still broken stay open, with the new reason
    reasons = sorted(still.values())
    assert any("occurred_at" in r and "not a time either" in r for r in reasons)
    assert all(r.startswith("retry failed: ") for r in reasons)

    # retrying the same file again stores nothing twice
    out = run(db_url, "quarantine", "retry", str(fixed)).output
    assert re.search(r"stored \(left the quarantine\):\s+0\n", out)
    assert "not open in the quarantine (skipped): 4" in out
    assert counts(db_url)["events"] == GOOD + FIXED
    # a second failure does not pile up prefixes
    engine = make_engine(db_url)
    with engine.connect() as conn:
        q = schema.quarantine.c
        reasons = list(conn.scalars(select(q.reason).where(q.status == "open")))
    engine.dispose()
    assert all(r.count("retry failed") == 1 for r in reasons)


def test_round_trip_with_json_lines(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {
            "event_id": "j1",
            "user_id": "u1",
            "event_type": "follow_artist",
            "occurred_at": "2026-03-01T10:00:00Z",
            "artist_id": "a1",
        },
        {
            "event_id": "j2",
            "user_id": "u1",
            "event_type": "follow_artist",
            "occurred_at": 12,
            "artist_id": "",
        },
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{not json\n"
    path.write_text(text, encoding="utf-8")
    run(sqlite_url, "import", "events", str(path), "--quiet")
    exported = tmp_path / "bad.jsonl"
    run(sqlite_url, "quarantine", "export", "--out", str(exported))
    rows = [json.loads(x) for x in exported.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    assert rows[1]["_raw_text"] == "{not json"
    for row in rows:
        row.pop("_raw_text", None)
        row.update(
            event_id=row.get("event_id", "j3"),
            user_id="u1",
            event_type="follow_artist",
            occurred_at="2026-03-02T10:00:00Z",
            artist_id="a2",
        )
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = run(sqlite_url, "quarantine", "retry", str(fixed)).output
    assert re.search(r"stored \(left the quarantine\):\s+2\n", out)
    assert counts(sqlite_url)["events"] == 3
    assert counts(sqlite_url)["open"] == 0


def test_discard_records_a_decision_and_deletes_nothing(db_url: str, tmp_path: Path) -> None:
    imported(db_url, tmp_path)
    out = run(
        db_url,
        "quarantine",
        "discard",
        "--reason",
        "event_type",
        "--why",
        "typos of a broken client build",
        "--by",
        "alice",
        "--yes",
    ).output
    assert "Discarded 2 rows" in out
    after = counts(db_url)
    assert after == {
        "events": GOOD,
        "quarantine": len(BAD_ROWS),
        "open": len(BAD_ROWS) - 2,
        "retried": 0,
        "discarded": 2,
    }
    engine = make_engine(db_url)
    with engine.connect() as conn:
        decision = conn.execute(select(schema.quality_decisions)).one()
        q = schema.quarantine.c
        closed = list(
            conn.execute(select(q.resolution, q.resolved_at_ms).where(q.status == "discarded"))
        )
    engine.dispose()
    assert decision.action == "discard"
    assert decision.decided_by == "alice"
    assert decision.note == "typos of a broken client build"
    assert decision.rows_affected == 2
    assert decision.decided_at_ms > 0
    assert json.loads(decision.filters) == {"reason": "event_type", "status": "open"}
    assert {r.resolution for r in closed} == {f"decision {decision.decision_id}"}
    # discarded rows are no longer exported, nor discarded twice
    out = run(db_url, "quarantine", "discard", "--reason", "event_type", "--why", "x", "--yes")
    assert "nothing recorded" in out.output
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.quality_decisions)) == 1
    engine.dispose()
    exported = tmp_path / "left.csv"
    run(db_url, "quarantine", "export", "--out", str(exported))
    assert len(exported.read_text(encoding="utf-8").splitlines()) == 1 + len(BAD_ROWS) - 2
    assert counts(db_url)["quarantine"] == len(BAD_ROWS)


def test_list_and_show(sqlite_url: str, tmp_path: Path) -> None:
    source = imported(sqlite_url, tmp_path)
    out = run(sqlite_url, "quarantine", "list").output
    assert f"{len(BAD_ROWS)} rows in all" in out
    assert "event_type" in out and "occurred_at" in out
    assert "by source and reason" in out
    filtered = run(sqlite_url, "quarantine", "list", "--reason", "event_type").output
    assert "2 rows in all" in filtered
    none = run(sqlite_url, "quarantine", "list", "--source", "elsewhere.csv").output
    assert "0 rows in all" in none
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        first = conn.scalar(select(func.min(schema.quarantine.c.quarantine_id)))
    engine.dispose()
    shown = run(sqlite_url, "quarantine", "show", str(first)).output
    assert f"id:          {first}" in shown
    assert str(source.resolve()) in shown
    assert "status:      open" in shown
    assert '"folow_artist"' in shown
    missing = CliRunner().invoke(cli, ["--db", sqlite_url, "quarantine", "show", "999999"])
    assert missing.exit_code != 0 and "was not found" in missing.output


@pytest.mark.parametrize("name", ["bad.txt", "bad.parquet"])
def test_export_refuses_other_formats(sqlite_url: str, tmp_path: Path, name: str) -> None:
    imported(sqlite_url, tmp_path)
    result = CliRunner().invoke(
        cli, ["--db", sqlite_url, "quarantine", "export", "--out", str(tmp_path / name)]
    )
    assert result.exit_code != 0
