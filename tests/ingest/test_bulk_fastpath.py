"""The vectorised fast path agrees with validate_event on every row it vouches for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cratedig.events import validate_event
from cratedig.exceptions import ValidationError
from cratedig.ingest.event_batch import (
    EVENT_COLUMNS,
    complete_event_batch,
    normalise_event_batch,
)

TRACKS = {"t1": "a1", "t2": "a2"}
T_MS = 1_772_392_500_000  # 2026-03-01T19:15:00Z (see test_events.py)


def fast_results(batch: pa.RecordBatch) -> dict[int, dict[str, Any]]:
    """Row index -> stored values, for the rows the fast path vouches for."""
    events = normalise_event_batch(batch)
    table = complete_event_batch(events, TRACKS.get)
    rows = table.to_pylist()
    return {r.pop("_row"): r for r in rows}


def check_agrees(batch: pa.RecordBatch) -> dict[int, dict[str, Any]]:
    fast = fast_results(batch)
    for i, raw in enumerate(batch.to_pylist()):
        if i not in fast:
            continue
        try:
            expected = validate_event(raw, TRACKS.get).as_row()
        except ValidationError as exc:  # pragma: no cover - the assertion explains
            pytest.fail(f"fast path accepted row {raw!r}, validate_event says {exc}")
        assert fast[i] == expected, raw
    return fast


def test_plain_rows_take_the_fast_path_with_exact_values() -> None:
    rows = [
        {"event_id": "e1", "user_id": "u1", "event_type": "play_track",
         "occurred_at": "2026-03-01T20:15:00+01:00", "artist_id": "a1", "track_id": "t1",
         "duration_ms": "180000", "count": ""},
        {"event_id": "", "user_id": "u2", "event_type": "visit",
         "occurred_at": "1772392500", "artist_id": "", "track_id": "", "duration_ms": "",
         "count": "3"},
        {"event_id": "e3", "user_id": "u3", "event_type": "like_track",
         "occurred_at": "2026-03-01 19:15:00.5", "artist_id": "", "track_id": "t2",
         "duration_ms": "", "count": "0"},
        {"event_id": "e4", "user_id": "u4", "event_type": "follow_artist",
         "occurred_at": str(T_MS), "artist_id": "a9", "track_id": "", "duration_ms": "",
         "count": ""},
        {"event_id": "e5", "user_id": "u5", "event_type": "share_artist",
         "occurred_at": "2026-03-01T14:15-05:00", "artist_id": "a9", "track_id": "",
         "duration_ms": "", "count": ""},
    ]  # fmt: skip
    fast = check_agrees(pa.RecordBatch.from_pylist(rows))
    assert sorted(fast) == [0, 1, 2, 3, 4]
    assert [fast[i]["occurred_at_ms"] for i in range(5)] == [T_MS, T_MS, T_MS + 500, T_MS, T_MS]
    assert fast[2]["artist_id"] == "a2"
    assert fast[1]["event_id"].startswith("h-") and fast[1]["count"] == 3


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-03-01T20:15:00.250+01:00", T_MS + 250),
        ("2026-03-01 14:15:00-05:00", T_MS),
        ("2026-03-01T19:15:00z", T_MS),
        ("2026-03-01T19:15:00.999Z", T_MS + 999),
        ("2024-02-29T00:00:00", 1_709_164_800_000),  # a leap day: 19782 days
        ("1969-12-31T23:59:59.000", -1000),
    ],
)
def test_fixed_shape_iso_times_are_read_exactly(text: str, ms: int) -> None:
    rows = [{"user_id": "u", "event_type": "visit", "occurred_at": text}]
    fast = check_agrees(pa.RecordBatch.from_pylist(rows))
    assert fast[0]["occurred_at_ms"] == ms


def test_doubtful_rows_are_left_to_validate_event() -> None:
    base = {"user_id": "u1", "event_type": "follow_artist", "occurred_at": "2026-03-01",
            "artist_id": "a1"}  # fmt: skip
    doubtful = [
        {"user_id": " u1"},
        {"event_type": "plya"},
        {"occurred_at": "2026-02-30"},
        {"occurred_at": "2026-03-01T19:15:00.1234"},
        {"occurred_at": "yesterday"},
        {"occurred_at": "99999999999999999"},
        {"artist_id": ""},
        {"event_type": "play_track", "artist_id": "", "track_id": "t9"},
        {"user_id": "u" * 129},
    ]
    rows = [{**base, "track_id": "", **change} for change in doubtful]
    fast = check_agrees(pa.RecordBatch.from_pylist([base | {"track_id": ""}, *rows]))
    assert sorted(fast) == [0]


def test_typed_columns_as_parquet_gives_them() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "user_id": pa.array([7, 8, 9], pa.int64()),
            "event_type": pa.array(["visit", "follow_artist", "visit"]),
            "occurred_at": pa.array(
                [datetime(2026, 3, 1, 19, 15, tzinfo=UTC)] * 2 + [None],
                pa.timestamp("us", tz="UTC"),
            ),
            "artist_id": pa.array([None, "a1", None]),
            "duration_ms": pa.array([None, 5, None], pa.int32()),
        }
    )
    fast = check_agrees(batch)
    assert sorted(fast) == [0, 1]
    assert fast[0]["user_id"] == "7" and fast[0]["occurred_at_ms"] == T_MS


TIMES = st.one_of(
    st.from_regex(
        r"\A(19[0-9]{2}|20[0-9]{2})-[01][0-9]-[0-3][0-9]([T ][0-2][0-9]:[0-5][0-9]"
        r"(:[0-6][0-9](\.[0-9]{1,4})?)?(Z|[+-][0-2][0-9]:[0-5][0-9])?)?\Z"
    ),
    st.integers(-(10**15), 10**15).map(str),
    st.sampled_from(["", " ", "1e9", "--5", "+5", "2026-03-01T19:15:00+0100", "nan"]),
)
IDS = st.one_of(st.sampled_from(["", " ", "u1", " u1 ", "a\u00a0", "\u3000x", "t1", "t9"]),
                st.text(max_size=4))  # fmt: skip
NUMBERS = st.one_of(
    st.integers(-5, 10**16).map(str), st.sampled_from(["", " 5", "1.0", "5.5", "x", "-0"])
)
ROWS = st.fixed_dictionaries(
    {
        "event_id": IDS,
        "user_id": IDS,
        "event_type": st.sampled_from(["visit", "play_track", "follow_artist", "tag_artist",
                                       "plya", " visit", ""]),
        "occurred_at": TIMES,
        "artist_id": IDS,
        "track_id": IDS,
        "duration_ms": NUMBERS,
        "count": NUMBERS,
        "tag": IDS,
        "source": IDS,
    }
)  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=20))
def test_fast_path_never_disagrees_with_validate_event(rows: list[dict[str, str]]) -> None:
    fast = check_agrees(pa.RecordBatch.from_pylist(rows))
    assert set(fast) <= set(range(len(rows)))
    assert all(set(values) == set(EVENT_COLUMNS) for values in fast.values())
