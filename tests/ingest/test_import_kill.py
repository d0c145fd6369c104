"""A real `cratedig import` killed with SIGKILL midway, then run again: exact totals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cratedig.ingest.bulk import import_file
from cratedig.store import init_db, make_engine, schema

CHUNK_ROWS = 100
BAD_EVERY = 50  # rows 0, 50, 100... have an unknown event type
T0_MS = 1_772_392_500_000


def write_events(path: Path, n_rows: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("event_id,user_id,event_type,occurred_at,artist_id\n")
        for i in range(n_rows):
            kind = "bad_type" if i % BAD_EVERY == 0 else "follow_artist"
            handle.write(f"k{i:08d},u{i % 40},{kind},{T0_MS + i},a{i % 25}\n")


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(schema.user_events)).scalar_one()
        bad = conn.execute(select(func.count()).select_from(schema.quarantine)).scalar_one()
    return int(events), int(bad)


def good_and_bad_in_first_chunks(n_rows: int, chunks: int) -> tuple[int, int]:
    rows = min(n_rows, chunks * CHUNK_ROWS)
    bad = (rows + BAD_EVERY - 1) // BAD_EVERY
    return rows - bad, bad


def start_import(db_url: str, path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cratedig.cli", "--db", db_url, "import", "events",
               str(path), "--chunk-rows", str(CHUNK_ROWS), "--quiet"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_midway(db_url: str, engine: Engine, path: Path, n_rows: int) -> tuple[int, int] | None:
    """Run the import, SIGKILL it once some but not all chunks are stored; the counts then.

    ``None`` when the import finished before it could be killed.
    """
    total_good = good_and_bad_in_first_chunks(n_rows, n_rows)[0]
    process = start_import(db_url, path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            events, _ = counts(engine)
            if 0 < events < total_good // 2:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                return counts(engine)
            if process.poll() is not None:
                assert process.returncode == 0, process.stderr.read() if process.stderr else ""
                return None
            time.sleep(0.01)
        pytest.fail("the import neither stored rows nor finished within 120 s")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return None


@pytest.mark.slow
def test_import_killed_midway_then_rerun_has_exact_totals(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    n_rows = 8_000
    for _attempt in range(4):
        path = tmp_path / f"events-{n_rows}.csv"
        write_events(path, n_rows)
        after_kill = kill_midway(db_url, engine, path, n_rows)
        if after_kill is not None:
            break
        # Finished too fast to be killed: start again on a fresh store, bigger file.
        with engine.begin() as conn:
            for table in (schema.user_events, schema.quarantine, schema.users, schema.artists):
                conn.execute(table.delete())
        n_rows *= 4
    else:
        pytest.fail("every import finished before it could be killed")
    events, bad = after_kill
    # No partial chunk: what is stored is exactly the first k chunks, events and quarantine.
    chunks = next(
        (k for k in range(n_rows // CHUNK_ROWS + 1)
         if good_and_bad_in_first_chunks(n_rows, k) == (events, bad)),
        None,
    )  # fmt: skip
    assert chunks is not None and chunks >= 1, (events, bad)

    report = import_file(engine, "events", path, chunk_rows=CHUNK_ROWS)
    total_good, total_bad = good_and_bad_in_first_chunks(n_rows, n_rows // CHUNK_ROWS)
    assert counts(engine) == (total_good, total_bad)
    assert report.accepted == total_good - events
    assert report.duplicates == events
    assert report.quarantined == total_bad
    with engine.connect() as conn:
        distinct = select(func.count(func.distinct(schema.user_events.c.event_id)))
        assert conn.execute(distinct).scalar_one() == total_good
        assert conn.execute(select(func.count()).select_from(schema.users)).scalar_one() == 40
    engine.dispose()
