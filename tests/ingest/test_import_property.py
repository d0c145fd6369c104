"""Property-based import test (issue #10): hostile CSV, JSON Lines and Parquet files.

For every generated file the import never raises, and every row written ends up stored,
counted as a duplicate or conflict, or quarantined with a reason:
``accepted + duplicates + conflicts + quarantined == rows written``, and the store grew
by exactly ``accepted`` events and ``quarantined + conflicts`` quarantine rows.

Hostile values: lone surrogates, NUL, huge fields, wrong types (lists, objects,
booleans, floats, NaN), extreme integers (int64/uint64 edges), a byte-order mark,
mixed ``\\n`` / ``\\r\\n`` / ``\\r`` line ends, quotes and newlines inside values, rows
with the wrong number of fields, lines that are not JSON, far-future times and
repeated event ids with other content.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from cratedig.ingest.bulk import import_file
from cratedig.store import init_db, make_engine, schema

COLUMNS = ("event_id", "user_id", "event_type", "occurred_at", "artist_id", "track_id",
           "duration_ms", "count", "tag", "source")  # fmt: skip
EXTREME_INTS = [0, -1, 1, 2**31 - 1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, -(2**63),
                2**64 - 1, 10**11, -(10**11), 1_735_689_600, 1_735_689_600_000,
                253_402_300_799_999]  # fmt: skip
HOSTILE_TEXT = ["", " ", "\x00", "u\x00x", "\ud800", "a\udfffb", "\ufeffu1", "x" * 300,
                "y" * 70_000, "\u2028", "line\nbreak", "cr\rlf", 'q"uote', "com,ma", "²",
                "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2025-02-30T00:00:00Z",
                "2025-01-01T00:00:00Z", "2025-01-01 12:00:00+05:30", "-0", "1e3", "nan",
                "inf", "1.5", "play_track", "visit", "tag_artist", "null"]  # fmt: skip
NOW_ISH = ["2025-01-01T00:00:00Z", "2025-06-01T10:20:30.123+02:00", "1735689600",
           "1735689600000", "2025-03-01"]  # fmt: skip
EVENT_TYPES = ["visit", "play_track", "follow_artist", "tag_artist", "subscribe", "bogus"]

_counter = itertools.count()

_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
    st.from_regex(r"[a-z]{1,3}[0-9]{0,2}", fullmatch=True),
)
_scalar: st.SearchStrategy[Any] = st.one_of(
    _text,
    st.sampled_from(EXTREME_INTS),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
_json_value = st.one_of(
    _scalar,
    st.lists(_scalar, max_size=2),
    st.dictionaries(st.sampled_from(["id", "x"]), _scalar, max_size=2),
)


def _plausible(column: str) -> st.SearchStrategy[Any]:
    """Mostly valid values (so that rows get stored too), hostile ones often."""
    good: dict[str, st.SearchStrategy[Any]] = {
        "event_id": st.sampled_from(["e1", "e2", "e3", None, ""]),
        "user_id": st.sampled_from(["u1", "u2", "Björk", "u3"]),
        "event_type": st.sampled_from(EVENT_TYPES),
        "occurred_at": st.sampled_from(NOW_ISH),
        "artist_id": st.sampled_from(["a1", "a2", None]),
        "track_id": st.sampled_from(["t1", None]),
        "duration_ms": st.sampled_from([None, 1000, "200000"]),
        "count": st.sampled_from([None, 1, "3"]),
        "tag": st.sampled_from([None, "jazz"]),
        "source": st.sampled_from([None, "organic", "list-1"]),
    }
    return st.one_of(good[column], good[column], _json_value)


_row = st.fixed_dictionaries({c: _plausible(c) for c in COLUMNS})
_newline = st.sampled_from(["\n", "\r\n", "\r"])


def _as_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, int]:
    """(file bytes, rows written)."""
    rows = draw(st.lists(_row, min_size=1, max_size=12))
    out = io.StringIO()
    out.write(",".join(COLUMNS) + draw(_newline))
    written = 0
    for row in rows:
        cells = [_as_cell(row[c]) for c in COLUMNS]
        if not any(cells):
            cells[1] = "u1"  # an all-empty row is a blank line, not a row
        shape = draw(st.sampled_from(["ok", "ok", "ok", "short", "long"]))
        if shape == "short":
            cells = cells[:-2]
        elif shape == "long":
            cells = [*cells, "extra"]
        line = io.StringIO()
        # (the writer quotes values holding a character of its line terminator)
        csv.writer(line, lineterminator="\r\n").writerow(cells)
        out.write(line.getvalue()[:-2] + draw(_newline))
        written += 1
    text = out.getvalue()
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8 bytes
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data, written


@st.composite
def jsonl_files(draw: st.DrawFn) -> tuple[bytes, int]:
    rows = draw(st.lists(_row, min_size=1, max_size=12))
    # the first line is a whole object with every column (see check_columns: a column
    # no row of the first chunk has is a file without that column, refused as a whole)
    first = {c: draw(_plausible(c)) for c in COLUMNS}
    lines = [json.dumps(first, ensure_ascii=draw(st.booleans()), allow_nan=True)]
    for row in rows:
        kind = draw(st.sampled_from(["object", "object", "object", "partial", "array", "junk"]))
        if kind == "partial":
            drop = draw(st.sets(st.sampled_from(COLUMNS), max_size=3))
            row = {k: v for k, v in row.items() if k not in drop}
        if kind == "array":
            line = json.dumps(list(row.values()))
        elif kind == "junk":
            line = draw(st.sampled_from(['{"user_id": "u1",', "not json", "[", '"text"', "1"]))
        else:
            line = json.dumps(row, ensure_ascii=draw(st.booleans()), allow_nan=True)
        lines.append(line)
    # JSON Lines ends lines with \n (or \r\n); a lone \r is not a line end there
    text = "".join(line + draw(st.sampled_from(["\n", "\r\n"])) for line in lines)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data, len(lines)


_ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "uint64": pa.uint64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "binary": pa.binary(),
    "list": pa.list_(pa.string()),
    "ts_s": pa.timestamp("s"),
    "ts_ns": pa.timestamp("ns", tz="UTC"),
}


def _arrow_value(kind: str) -> st.SearchStrategy[Any]:
    ints = st.one_of(st.sampled_from(EXTREME_INTS), st.integers(-(2**63), 2**63 - 1))
    return st.one_of(
        st.none(),
        {
            "string": st.one_of(
                st.sampled_from([t for t in HOSTILE_TEXT if _utf8(t)]),
                st.sampled_from(["u1", "a1", "visit", "play_track", *NOW_ISH]),
            ),
            "int64": ints.filter(lambda v: -(2**63) <= v < 2**63),
            "uint64": ints.filter(lambda v: 0 <= v < 2**64),
            "float": st.floats(allow_nan=True, allow_infinity=True),
            "bool": st.booleans(),
            "binary": st.sampled_from([b"u1", b"\xff\xfe", b"a\x00b", b""]),
            "list": st.lists(st.sampled_from(["u1", "x"]), max_size=2),
            # (Parquet stores seconds as milliseconds: keep * 1000 within int64)
            "ts_s": st.integers(-(2**52), 2**52),
            "ts_ns": st.integers(-(2**62), 2**62),
        }[kind],
    )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def parquet_tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(1, 12))
    arrays = {}
    for column in COLUMNS:
        kind = draw(st.sampled_from(["string", "string", *_ARROW_TYPES]))
        if column in ("occurred_at", "duration_ms", "count") and draw(st.booleans()):
            kind = draw(st.sampled_from(["int64", "uint64", "ts_s", "ts_ns"]))
        values = draw(st.lists(_arrow_value(kind), min_size=n, max_size=n))
        if column == "event_type" and kind == "string":
            values = [draw(st.sampled_from(EVENT_TYPES)) if v is None else v for v in values]
        arrays[column] = pa.array(values, _ARROW_TYPES[kind])
    return pa.table(arrays)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    folder = tmp_path_factory.mktemp("property")
    engine = make_engine(f"sqlite:///{folder / 'store.sqlite'}")
    init_db(engine)
    yield engine, folder
    engine.dispose()


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(schema.user_events)).scalar_one()
        bad = conn.execute(select(func.count()).select_from(schema.quarantine)).scalar_one()
        blank = conn.execute(
            select(func.count())
            .select_from(schema.quarantine)
            .where(func.length(func.trim(schema.quarantine.c.reason)) == 0)
        ).scalar_one()
    return int(events), int(bad), int(blank)


def check_import(store: tuple[Engine, Path], fmt: str, data: bytes | pa.Table, rows: int,
                 chunk_rows: int) -> None:  # fmt: skip
    engine, folder = store
    path = folder / f"f{next(_counter)}.{fmt}"
    if isinstance(data, pa.Table):
        pq.write_table(data, path)
    else:
        path.write_bytes(data)
    before = _counts(engine)
    report = import_file(engine, "events", path, chunk_rows=chunk_rows)
    after = _counts(engine)
    total = report.accepted + report.duplicates + report.conflicts + report.quarantined
    assert total == rows, (report.reasons, rows, path.read_bytes()[:3000])
    assert after[0] - before[0] == report.accepted
    assert after[1] - before[1] == report.quarantined + report.conflicts
    assert after[2] == 0  # every quarantined row has a reason
    assert len(report.reasons) == min(100, report.quarantined + report.conflicts)
    assert all(not math.isnan(report.seconds) for _ in [0])


# No shrinking: an import per example is slow to shrink; a failure prints its file.
_SETTINGS = dict(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                        HealthCheck.data_too_large])  # fmt: skip
FAST, SLOW = 20, 300


@settings(max_examples=FAST, **_SETTINGS)
@given(file=csv_files(), chunk_rows=st.integers(1, 5))
def test_hostile_csv_files_lose_no_row(store, file, chunk_rows) -> None:
    check_import(store, "csv", file[0], file[1], chunk_rows)


@settings(max_examples=FAST, **_SETTINGS)
@given(file=jsonl_files(), chunk_rows=st.integers(1, 5))
def test_hostile_jsonl_files_lose_no_row(store, file, chunk_rows) -> None:
    check_import(store, "jsonl", file[0], file[1], chunk_rows)


@settings(max_examples=FAST, **_SETTINGS)
@given(table=parquet_tables(), chunk_rows=st.integers(1, 5))
def test_hostile_parquet_files_lose_no_row(store, table, chunk_rows) -> None:
    check_import(store, "parquet", table, table.num_rows, chunk_rows)


@pytest.mark.slow
@settings(max_examples=SLOW, **_SETTINGS)
@given(
    fmt_and_file=st.one_of(
        csv_files().map(lambda f: ("csv", f[0], f[1])),
        jsonl_files().map(lambda f: ("jsonl", f[0], f[1])),
        parquet_tables().map(lambda t: ("parquet", t, t.num_rows)),
    ),
    chunk_rows=st.integers(1, 50),
)
def test_many_hostile_files_lose_no_row(store, fmt_and_file, chunk_rows) -> None:
    fmt, data, rows = fmt_and_file
    check_import(store, fmt, data, rows, chunk_rows)
