"""store_events under concurrency: batches posted at once share one commit (group
commit, :mod:`cratedig.store.write_groups`) and report exactly what separate
transactions in queue order would: duplicates and conflicts across the batches of a
group, stubs, the in-transaction hook, and every event answered is stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event, func, select

from cratedig.ingest.write_path import BatchResult, store_events
from cratedig.store import schema
from cratedig.store.engine import file_lock

PAST = "2025-01-01T00:00:00Z"


def _visit(event_id: str, user_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user_id,
        "event_type": "play_track",
        "artist_id": "a-" + user_id,
        "occurred_at": PAST,
        **extra,
    }


def _run_together(engine: Engine, n: int, post: Callable[[int], None]) -> None:
    """Run ``post(k)`` for k < n, each in a thread of its own, all queued before the
    first is written (this thread holds the write lock meanwhile)."""
    lock = file_lock(engine)
    assert lock is not None
    threads = [threading.Thread(target=post, args=(k,)) for k in range(n)]
    with lock.thread_lock:
        for k, thread in enumerate(threads):
            thread.start()
            while len(lock.queue) < k + 1:
                time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=30)


def _post_together(engine: Engine, batches: list[list[dict]], hook: Any = None) -> list:
    """Post each batch from a thread of its own (:func:`_run_together`); the results in
    order."""
    results: list[BatchResult | None] = [None] * len(batches)

    def post(k: int) -> None:
        results[k] = store_events(engine, batches[k], hook)

    _run_together(engine, len(batches), post)
    return results


def test_a_group_reports_what_separate_transactions_would(file_engine: Engine) -> None:
    commits = [0]

    @event.listens_for(file_engine, "commit")
    def _commit(_conn: Connection) -> None:
        commits[0] += 1

    hooked: list[set[str]] = []

    def hook(conn: Connection, users: set[str]) -> None:
        assert conn.in_transaction()
        hooked.append(set(users))

    first = [_visit("e1", "u1"), _visit("e2", "u2")]
    second = [_visit("e2", "u2"), _visit("e3", "u3")]  # e2 again: a duplicate
    third = [_visit("e1", "u1", count=2), _visit("e4", "u1"), {"user_id": "u9"}]
    a, b, c = _post_together(file_engine, [first, second, third], hook)
    assert commits[0] == 1
    assert (a.accepted, a.duplicates, a.conflicts, a.stubs_created) == (2, 0, 0, 4)
    assert (b.accepted, b.duplicates, b.conflicts, b.stubs_created) == (1, 1, 0, 2)
    assert (c.accepted, c.duplicates, c.conflicts, c.stubs_created) == (1, 0, 1, 0)
    assert [(e["index"], e["code"], e["field"]) for e in c.errors] == [
        (0, "conflict", "event_id"),
        (2, "validation_error", "event_type"),
    ]
    assert "count" in c.errors[0]["message"]
    assert hooked == [{"u1", "u2"}, {"u2", "u3"}, {"u1"}]
    with file_engine.connect() as conn:
        e = schema.user_events.c
        stored = {r.event_id: r.count for r in conn.execute(select(e.event_id, e.count))}
    assert stored == {"e1": 1, "e2": 1, "e3": 1, "e4": 1}


def test_a_failing_hook_fails_its_own_batch_only(file_engine: Engine) -> None:
    def hook(conn: Connection, users: set[str]) -> None:
        if "bad" in users:
            raise RuntimeError("hook failed")

    outcomes: list[Any] = [None] * 3
    batches = [[_visit("e1", "u1")], [_visit("e2", "bad")], [_visit("e3", "u3")]]

    def post(k: int) -> None:
        try:
            outcomes[k] = store_events(file_engine, batches[k], hook)
        except RuntimeError as exc:
            outcomes[k] = exc

    _run_together(file_engine, 3, post)
    assert outcomes[0].accepted == 1 and outcomes[2].accepted == 1
    assert isinstance(outcomes[1], RuntimeError)
    with file_engine.connect() as conn:
        ids = set(conn.execute(select(schema.user_events.c.event_id)).scalars())
        users = set(conn.execute(select(schema.users.c.user_id)).scalars())
    assert ids == {"e1", "e3"}  # nothing of the failed batch, all of the others
    assert "bad" not in users


def test_many_threads_lose_nothing(file_engine: Engine) -> None:
    """Eight threads post overlapping batches freely: every event id is stored once,
    and accepted + duplicates add up to the events posted."""
    results: list[BatchResult] = []
    guard = threading.Lock()

    def post(t: int) -> None:
        for b in range(5):
            k = t * 5 + b  # batch k holds events 20k .. 20k + 39: half of them in k + 1 too
            batch = [_visit(f"e{i}", f"u{i % 40}") for i in range(20 * k, 20 * k + 40)]
            result = store_events(file_engine, batch)
            with guard:
                results.append(result)

    threads = [threading.Thread(target=post, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 40
    with file_engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(schema.user_events)).scalar_one()
    assert sum(r.accepted for r in results) == n == 20 * 39 + 40
    assert sum(r.accepted + r.duplicates for r in results) == 40 * 40
    assert all(r.conflicts == 0 and not r.errors for r in results)
