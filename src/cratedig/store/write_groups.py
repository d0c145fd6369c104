"""Group commit: concurrent small write transactions of one process share one commit.

On SQLite a commit writes every page the transaction changed to the WAL, one frame per
page. The inserts of a 500-event API batch change a few hundred scattered index pages
(three indexes of ``user_events`` are in random order), so the commit cost as much as
the inserts, all of it inside the write lock. Batches posted at the same time mostly
change the same pages: written in one transaction, the pages are written once.

:func:`grouped_write` queues a write (a function of a connection) and takes the store's
write lock (:func:`cratedig.store.engine.write_lock`). The thread that gets it runs
every write queued by then, in queue order, in one transaction; the others find their
write done (committed) when the lock is theirs, and return its result. The writes of a
group run one after another exactly as in separate transactions, so each sees the
rows of the ones before it; if the group's transaction fails, each write of the group
is run again alone, in a transaction of its own, so that one failing write takes no
other down with it. A write must touch nothing but the store (it may run twice).

Other databases (PostgreSQL) need no write lock and get no grouping: each write is a
transaction of its own, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from cratedig.store.engine import FileLock, file_lock

T = TypeVar("T")

#: The most writes one transaction runs (the rest wait for the next).
MAX_GROUP = 16


class _Write(Generic[T]):
    __slots__ = ("done", "error", "ok", "result", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = False  # its transaction is over (committed or not)
        self.ok = False  # committed, with ``result``
        self.result: T | None = None
        self.error: BaseException | None = None

    def succeed(self, result: T) -> None:
        self.result, self.ok = result, True

    def outcome(self) -> T:
        if not self.ok:
            raise self.error or RuntimeError("the write was not run")
        return self.result  # type: ignore[return-value]


def grouped_write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work(conn)`` in a committed write transaction, shared with the writes
    other threads of this process queued meanwhile (see the module docstring).

    Returns
    -------
    T
        What ``work`` returned, once its transaction is committed.

    Raises
    ------
    Exception
        What ``work`` raised (run alone, its transaction rolled back).
    """
    lock = file_lock(engine)
    if lock is None:
        with engine.begin() as conn:
            return work(conn)
    write: _Write[T] = _Write(work)
    with lock.queue_guard:
        lock.queue.append(write)
    with lock.thread_lock:
        if not write.done:
            with lock.file_held():
                _run(engine, lock, write)
    return write.outcome()


def _take(lock: FileLock, room: int, write: _Write | None = None) -> list[_Write]:
    """Up to ``room`` queued writes, in queue order (``write`` always among them); the
    rest stay queued."""
    with lock.queue_guard:
        queue = lock.queue
        group = queue[:room]
        if write is not None and write not in group:
            group = [*queue[: room - 1], write]
        taken = {id(w) for w in group}
        lock.queue = [w for w in queue if id(w) not in taken]
    return group


def _run(engine: Engine, lock: FileLock, write: _Write) -> None:
    """Run ``write`` and the writes queued with it in one transaction (alone each, if
    that fails); the caller holds the write lock."""
    # taken once the file lock is ours: writes queued while another process held it
    # join this transaction, and so do the ones queued while it runs, up to the commit
    group = _take(lock, MAX_GROUP, write)
    try:
        try:
            results: list[object] = []
            with engine.begin() as conn:
                while len(results) < len(group):
                    results.append(group[len(results)].work(conn))
                    if len(results) == len(group) < MAX_GROUP:
                        group += _take(lock, MAX_GROUP - len(group))
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
                return
            for w in group:
                try:
                    with engine.begin() as conn:
                        result = w.work(conn)
                except Exception as alone:
                    w.error = alone
                else:
                    w.succeed(result)
        else:
            for w, result in zip(group, results, strict=True):
                w.succeed(result)
    except BaseException as exc:  # interrupted: the writes not committed fail with it
        for w in group:
            if not w.ok:
                w.error = exc
        raise
    finally:
        for w in group:
            w.done = True
