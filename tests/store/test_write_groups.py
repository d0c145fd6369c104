"""store.write_groups: concurrent writes of one process share one committed transaction,
run in queue order, and a failing write takes no other down with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, Engine, event, func, select

from cratedig.store import init_db, make_engine, schema
from cratedig.store.engine import file_lock
from cratedig.store.write_groups import MAX_GROUP, grouped_write
from cratedig.store.writes import insert_ignore_rows


def _count_commits(engine: Engine) -> list[int]:
    commits = [0]

    @event.listens_for(engine, "commit")
    def _commit(_conn: Connection) -> None:
        commits[0] += 1

    return commits


def _add_user(user_id: str) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        insert_ignore_rows(conn, schema.users, ("user_id", "is_stub"), [(user_id, True)])
        return int(conn.execute(select(func.count()).select_from(schema.users)).scalar_one())

    return work


def _fail(conn: Connection) -> int:
    insert_ignore_rows(conn, schema.users, ("user_id", "is_stub"), [("doomed", True)])
    raise ValueError("this write fails")


def _queued_while_locked(engine: Engine, works: list[Callable[[Connection], int]]) -> list:
    """Run each work in a thread of its own while this thread holds the write lock, so
    that all are queued before any runs; their outcomes (result or exception)."""
    lock = file_lock(engine)
    assert lock is not None
    outcomes: list = [None] * len(works)

    def run(k: int) -> None:
        try:
            outcomes[k] = grouped_write(engine, works[k])
        except Exception as exc:
            outcomes[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(works))]
    with lock.thread_lock:
        for k, thread in enumerate(threads):
            thread.start()
            while len(lock.queue) < k + 1:  # queued in this order
                time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_queued_writes_share_one_commit_in_queue_order(file_engine: Engine) -> None:
    commits = _count_commits(file_engine)
    outcomes = _queued_while_locked(file_engine, [_add_user(f"u{k}") for k in range(5)])
    assert outcomes == [1, 2, 3, 4, 5]  # each saw the rows of the writes before it
    assert commits[0] == 1


def test_a_failing_write_takes_no_other_down(file_engine: Engine) -> None:
    commits = _count_commits(file_engine)
    outcomes = _queued_while_locked(file_engine, [_add_user("a"), _fail, _add_user("b")])
    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], ValueError)
    with file_engine.connect() as conn:
        users = set(conn.execute(select(schema.users.c.user_id)).scalars())
    assert users == {"a", "b"}  # the failed write's row was rolled back
    assert commits[0] == 2  # the group rolled back; a and b committed alone


def test_a_group_holds_at_most_max_group_writes(file_engine: Engine) -> None:
    commits = _count_commits(file_engine)
    n = MAX_GROUP + 3
    outcomes = _queued_while_locked(file_engine, [_add_user(f"u{k}") for k in range(n)])
    assert sorted(outcomes) == list(range(1, n + 1))
    assert commits[0] == 2


def test_a_lone_write_raises_its_error_and_leaves_nothing_queued(file_engine: Engine) -> None:
    with pytest.raises(ValueError, match="this write fails"):
        grouped_write(file_engine, _fail)
    assert grouped_write(file_engine, _add_user("u1")) == 1
    lock = file_lock(file_engine)
    assert lock is not None and lock.queue == []


@pytest.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.postgres)])
def unlocked_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A store with no write lock: SQLite in memory, and PostgreSQL."""
    if request.param == "memory":
        eng = make_engine("sqlite://")
        init_db(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("engine_postgres")


def test_without_a_file_lock_each_write_is_its_own_transaction(unlocked_engine: Engine) -> None:
    assert file_lock(unlocked_engine) is None
    commits = _count_commits(unlocked_engine)
    assert grouped_write(unlocked_engine, _add_user("u1")) == 1
    with pytest.raises(ValueError):
        grouped_write(unlocked_engine, _fail)
    assert grouped_write(unlocked_engine, _add_user("u2")) == 2
    assert commits[0] == 2
