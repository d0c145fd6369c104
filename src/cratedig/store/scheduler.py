"""SQL of the retraining scheduler: the lease, the runs, and what triggers a run.

The lease is one row of ``scheduler_leases``. Taking and renewing it are single
``UPDATE ... WHERE`` statements, so two processes can never both hold it: on
PostgreSQL the second ``UPDATE`` waits for the first's row lock and then re-checks its
condition; on SQLite writers are serialised by the database lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, func, select, update

from cratedig.store.schema import model_versions, scheduler_leases, scheduler_runs, user_events
from cratedig.store.writes import insert_ignore

#: Outcomes of a run that ended.
FINISHED_OUTCOMES = ("promoted", "rejected", "failed", "lease_lost", "interrupted", "stopped")


@dataclass(frozen=True)
class Lease:
    """The lease row: its holder and when it expires (``*_ms``: epoch milliseconds)."""

    name: str
    holder: str
    acquired_at_ms: int
    renewed_at_ms: int
    expires_at_ms: int


@dataclass(frozen=True)
class Run:
    """One row of ``scheduler_runs``."""

    run_id: int
    trigger: str
    detail: str
    holder: str
    started_at_ms: int
    finished_at_ms: int | None
    outcome: str
    version_id: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the run."""
        return dict(self.__dict__)


def acquire_lease(
    engine: Engine, name: str, holder: str, ttl_ms: int, now_ms: int
) -> Literal["acquired", "renewed"] | None:
    """Take the lease ``name`` for ``holder``, or renew it when ``holder`` holds it.

    Returns
    -------
    str or None
        ``"renewed"``: ``holder`` held it without a break; ``"acquired"``: it was free or
        expired (possibly ``holder``'s own, which then had a break); ``None``: another
        process holds it. Held until ``now_ms + ttl_ms`` unless ``None``.
    """
    with engine.begin() as conn:
        insert_ignore(
            conn,
            scheduler_leases,
            [
                {
                    "name": name,
                    "holder": "",
                    "acquired_at_ms": 0,
                    "renewed_at_ms": 0,
                    "expires_at_ms": 0,
                }
            ],
        )
        if renew_lease(conn, name, holder, ttl_ms, now_ms):
            return "renewed"
        t = scheduler_leases.c
        taken = conn.execute(
            update(scheduler_leases)
            .where(t.name == name, t.expires_at_ms < now_ms)
            .values(
                holder=holder,
                acquired_at_ms=now_ms,
                renewed_at_ms=now_ms,
                expires_at_ms=now_ms + ttl_ms,
            )
        ).rowcount
        return "acquired" if taken == 1 else None


def renew_lease(conn: Connection, name: str, holder: str, ttl_ms: int, now_ms: int) -> bool:
    """Extend ``holder``'s unexpired lease to ``now_ms + ttl_ms`` (in the caller's transaction).

    The ``UPDATE`` locks the lease row, so inside a transaction it also fences what
    follows (the promotion of a version) against another process taking the lease.

    Returns
    -------
    bool
        ``False`` when the lease expired or another process holds it.
    """
    t = scheduler_leases.c
    renewed = conn.execute(
        update(scheduler_leases)
        .where(t.name == name, t.holder == holder, t.expires_at_ms >= now_ms)
        .values(renewed_at_ms=now_ms, expires_at_ms=now_ms + ttl_ms)
    ).rowcount
    return bool(renewed == 1)


def release_lease(engine: Engine, name: str, holder: str, now_ms: int) -> None:
    """Give the lease up now (when ``holder`` holds it), so another process may take it."""
    t = scheduler_leases.c
    with engine.begin() as conn:
        conn.execute(
            update(scheduler_leases)
            .where(t.name == name, t.holder == holder)
            .values(expires_at_ms=now_ms - 1)
        )


def read_lease(engine: Engine, name: str) -> Lease | None:
    """The lease row, or ``None`` when no scheduler ever ran on this store."""
    with engine.connect() as conn:
        row = conn.execute(select(scheduler_leases).where(scheduler_leases.c.name == name)).first()
    return None if row is None else Lease(**row._mapping)


def start_run(engine: Engine, trigger: str, detail: str, holder: str, now_ms: int) -> int:
    """Record a run that starts now (outcome ``running``); returns its ``run_id``."""
    with engine.begin() as conn:
        result = conn.execute(
            scheduler_runs.insert()
            .values(
                trigger=trigger,
                detail=detail,
                holder=holder,
                started_at_ms=now_ms,
                outcome="running",
            )
            .returning(scheduler_runs.c.run_id)
        )
        return int(result.scalar_one())


def set_run_version(engine: Engine, run_id: int, version_id: str) -> None:
    """Record the model version a running run is writing."""
    with engine.begin() as conn:
        conn.execute(
            update(scheduler_runs)
            .where(scheduler_runs.c.run_id == run_id)
            .values(version_id=version_id)
        )


def finish_run(
    engine: Engine,
    run_id: int,
    outcome: str,
    now_ms: int,
    version_id: str | None = None,
    error: str | None = None,
) -> None:
    """Record how a run ended (one of :data:`FINISHED_OUTCOMES`)."""
    values: dict[str, Any] = {"outcome": outcome, "finished_at_ms": now_ms, "error": error}
    if version_id is not None:
        values["version_id"] = version_id
    with engine.begin() as conn:
        conn.execute(
            update(scheduler_runs).where(scheduler_runs.c.run_id == run_id).values(**values)
        )


def interrupted_runs(engine: Engine, holder: str) -> list[Run]:
    """Runs still ``running`` under another holder (their process died or lost the lease)."""
    r = scheduler_runs.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(scheduler_runs).where(r.outcome == "running", r.holder != holder)
        ).all()
    return [Run(**row._mapping) for row in rows]


def list_runs(engine: Engine, limit: int = 20) -> list[Run]:
    """The most recent runs, newest first."""
    r = scheduler_runs.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(scheduler_runs).order_by(r.started_at_ms.desc(), r.run_id.desc()).limit(limit)
        ).all()
    return [Run(**row._mapping) for row in rows]


def trained_snapshot_ms(engine: Engine) -> int | None:
    """The newest data snapshot a completed training run saw (``ready`` or ``rejected``).

    Events after it are new to every model trained so far, whether or not the last
    version was promoted; ``None`` before the first completed run.
    """
    v = model_versions.c
    with engine.connect() as conn:
        value = conn.execute(
            select(func.max(v.snapshot_ms)).where(v.status.in_(("ready", "rejected")))
        ).scalar_one_or_none()
    return None if value is None else int(value)


def count_events_after(engine: Engine, since_ms: int | None, at_least: int) -> int:
    """How many events occurred after ``since_ms`` (all when ``None``), counting at most
    ``at_least`` (the scan stops there)."""
    stmt = select(user_events.c.event_id)
    if since_ms is not None:
        stmt = stmt.where(user_events.c.occurred_at_ms > since_ms)
    sub = stmt.limit(max(1, at_least)).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())
