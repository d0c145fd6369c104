"""insert_ignore_arrow: the fast bulk insert agrees with insert_ignore on both backends."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import Engine, select

from cratedig.store import insert_ignore, schema
from cratedig.store.writes import insert_ignore_arrow


def events_table(ids: list[str], **columns: list[object]) -> pa.Table:
    n = len(ids)
    data: dict[str, object] = {
        "event_id": ids,
        "user_id": [f"u{i}" for i in range(n)],
        "event_type": ["visit"] * n,
        "occurred_at_ms": [1_000 * i for i in range(n)],
        "count": [1] * n,
        "source": ["organic"] * n,
    }
    data.update(columns)
    return pa.table(data)


def stored(engine: Engine) -> list[tuple[object, ...]]:
    e = schema.user_events.c
    query = select(e.event_id, e.user_id, e.occurred_at_ms, e.tag, e.session_id, e.duration_ms)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query.order_by(e.event_id))]


def test_counts_only_new_rows_and_skips_duplicates_in_the_batch(engine: Engine) -> None:
    with engine.begin() as conn:
        assert insert_ignore_arrow(conn, schema.user_events, events_table(["e1", "e2"])) == 2
    with engine.begin() as conn:
        again = events_table(["e2", "e3", "e3", "e4"])
        assert insert_ignore_arrow(conn, schema.user_events, again) == 2  # e3 once, e4
        # twice in one transaction works too (PostgreSQL reuses its staging table)
        assert insert_ignore_arrow(conn, schema.user_events, events_table(["e5"])) == 1
    assert [r[0] for r in stored(engine)] == ["e1", "e2", "e3", "e4", "e5"]
    assert stored(engine)[2][1] == "u1"  # the first e3 of the batch won


def test_nulls_empty_strings_quotes_and_big_numbers_survive(engine: Engine) -> None:
    table = events_table(
        ["q1", "q2", "q3"],
        tag=[None, "", 'say "hi", ok\nnext'],
        session_id=["s,1", None, "é ✓"],
        duration_ms=pa.array([None, 2**53, 0], pa.int64()),
    )
    with engine.begin() as conn:
        assert insert_ignore_arrow(conn, schema.user_events, table) == 3
    assert stored(engine) == [
        ("q1", "u0", 0, None, "s,1", None),
        ("q2", "u1", 1000, "", None, 2**53),
        ("q3", "u2", 2000, 'say "hi", ok\nnext', "é ✓", 0),
    ]


def test_agrees_with_insert_ignore(engine: Engine) -> None:
    with engine.begin() as conn:
        first = [{"event_id": "x1", "user_id": "u", "event_type": "visit", "occurred_at_ms": 5}]
        assert insert_ignore(conn, schema.user_events, first) == 1
        assert insert_ignore_arrow(conn, schema.user_events, events_table(["x1", "x2"])) == 1
        assert insert_ignore_arrow(conn, schema.user_events, events_table([])) == 0
    assert [r[0] for r in stored(engine)] == ["x1", "x2"]


def test_insert_ignore_rows_skips_stored_keys_on_both_backends(engine: Engine) -> None:
    from cratedig.store.writes import insert_ignore_rows

    cols = ("event_id", "user_id", "event_type", "occurred_at_ms", "count", "source")
    rows = [(f"e{i}", "u1", "visit", i, 1, "organic") for i in range(4)]
    with engine.begin() as conn:
        assert insert_ignore_rows(conn, schema.user_events, cols, rows) == 4
    with engine.begin() as conn:
        again = [*rows[2:], ("e9", "u2", "visit", 9, 1, "organic")]
        assert insert_ignore_rows(conn, schema.user_events, cols, again) == 1
        stub = insert_ignore_rows(conn, schema.users, ("user_id", "is_stub"), [("u1", True)])
        assert stub == 1
        ids = conn.execute(select(schema.user_events.c.event_id)).scalars().all()
        assert sorted(ids) == ["e0", "e1", "e2", "e3", "e9"]
        assert conn.execute(select(schema.users.c.is_stub)).scalar_one() is True
