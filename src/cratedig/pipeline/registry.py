"""The model registry: one row per training run and the pointer to the served version.

A version is ``training`` while its run writes artifacts and lists, then ``ready``
(promoted: it became the active version), ``rejected`` (its NDCG@10 was too far
below the active version's) or ``failed``. The ``active_version`` pointer in
``serving_state`` is flipped in the same transaction that marks a version ready,
so serving switches from one complete version to another and never sees a half-
written one.

A run that is killed (SIGKILL, power loss) cannot mark itself ``failed``: it leaves a
``training`` row, some lists and an artifact folder behind. :func:`cleanup_abandoned`
(run at the start of every ``train`` and by ``cratedig versions --cleanup``) finds such
runs, marks them ``failed`` and deletes their lists and folders, and those of failed
runs; it never touches the served version, ``ready`` or ``rejected`` versions, or a run
that is still going (each ``training`` row notes the process and host running it).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from cratedig.clock import now_ms
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.store.schema import model_versions, serving_state
from cratedig.store.writes import upsert

ACTIVE_KEY = "active_version"


@dataclass(frozen=True)
class ModelVersion:
    """One row of the registry.

    Attributes
    ----------
    version_id
        Unique, sortable by start time (``v20261128T230102-1a2b3c``).
    status
        ``training``, ``ready``, ``rejected`` or ``failed``.
    metrics
        Holdout metrics (``ndcg@10``...), empty until evaluated.
    snapshot_ms
        The time of the data the version was trained on; events after it are
        "recent activity" for serving.
    active
        Whether this is the version being served (filled in by the readers).
    """

    version_id: str
    status: str
    model_name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    ndcg_at_10: float | None = None
    snapshot_ms: int = 0
    started_at_ms: int = 0
    finished_at_ms: int | None = None
    promoted_at_ms: int | None = None
    artifact_path: str | None = None
    n_users: int | None = None
    n_artists: int | None = None
    note: str | None = None
    active: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the version."""
        return {
            "version_id": self.version_id,
            "status": self.status,
            "active": self.active,
            "model_name": self.model_name,
            "params": self.params,
            "metrics": self.metrics,
            "ndcg_at_10": self.ndcg_at_10,
            "snapshot_ms": self.snapshot_ms,
            "started_at_ms": self.started_at_ms,
            "finished_at_ms": self.finished_at_ms,
            "promoted_at_ms": self.promoted_at_ms,
            "artifact_path": self.artifact_path,
            "n_users": self.n_users,
            "n_artists": self.n_artists,
            "note": self.note,
        }


def new_version_id(at_ms: int | None = None) -> str:
    """A new unique version id that sorts by time."""
    at = datetime.fromtimestamp((at_ms or now_ms()) / 1000, tz=UTC)
    return f"v{at:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _row_to_version(row: Any, active_id: str | None) -> ModelVersion:
    m = row._mapping
    return ModelVersion(
        version_id=m["version_id"],
        status=m["status"],
        model_name=m["model_name"],
        params=json.loads(m["params"] or "{}"),
        metrics=json.loads(m["metrics"] or "{}"),
        ndcg_at_10=m["ndcg_at_10"],
        snapshot_ms=int(m["snapshot_ms"]),
        started_at_ms=int(m["started_at_ms"]),
        finished_at_ms=m["finished_at_ms"],
        promoted_at_ms=m["promoted_at_ms"],
        artifact_path=m["artifact_path"],
        n_users=m["n_users"],
        n_artists=m["n_artists"],
        note=m["note"],
        active=m["version_id"] == active_id,
    )


def active_version_id(conn: Connection) -> str | None:
    """The id of the version being served, or ``None`` before the first promotion."""
    value = conn.execute(
        select(serving_state.c.value).where(serving_state.c.key == ACTIVE_KEY)
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def active_version(engine: Engine) -> ModelVersion | None:
    """The version being served, or ``None`` before the first promotion."""
    with engine.connect() as conn:
        active_id = active_version_id(conn)
        if active_id is None:
            return None
        row = conn.execute(
            select(model_versions).where(model_versions.c.version_id == active_id)
        ).first()
    return None if row is None else _row_to_version(row, active_id)


def get_version(engine: Engine, version_id: str) -> ModelVersion:
    """One version by id.

    Raises
    ------
    NotFoundError
        When no such version exists.
    """
    with engine.connect() as conn:
        active_id = active_version_id(conn)
        row = conn.execute(
            select(model_versions).where(model_versions.c.version_id == version_id)
        ).first()
    if row is None:
        raise NotFoundError("model version", version_id)
    return _row_to_version(row, active_id)


def list_versions(engine: Engine, limit: int = 50) -> list[ModelVersion]:
    """The most recent versions, newest first."""
    if limit < 1:
        raise ValidationError("limit", limit, "an integer >= 1")
    with engine.connect() as conn:
        active_id = active_version_id(conn)
        rows = conn.execute(
            select(model_versions)
            .order_by(model_versions.c.started_at_ms.desc(), model_versions.c.version_id.desc())
            .limit(limit)
        ).all()
    return [_row_to_version(r, active_id) for r in rows]


def start_version(
    engine: Engine,
    version_id: str,
    model_name: str,
    params: dict[str, Any],
    snapshot_ms: int,
    artifact_path: str | None,
) -> None:
    """Record a run that has just started (status ``training``)."""
    with engine.begin() as conn:
        conn.execute(
            model_versions.insert().values(
                version_id=version_id,
                status="training",
                model_name=model_name,
                params=json.dumps(params, sort_keys=True, default=str),
                metrics="{}",
                snapshot_ms=snapshot_ms,
                started_at_ms=now_ms(),
                artifact_path=artifact_path,
                note=running_note(),
            )
        )


def record_params(engine: Engine, version_id: str, params: dict[str, Any]) -> None:
    """Replace the recorded parameters of a run (after tuning chose them)."""
    with engine.begin() as conn:
        update_version(conn, version_id, params=json.dumps(params, sort_keys=True, default=str))


def record_metrics(
    engine: Engine,
    version_id: str,
    metrics: dict[str, float],
    n_users: int,
    n_artists: int,
) -> None:
    """Store the holdout metrics and matrix size of a run."""
    ndcg = metrics.get("ndcg@10")
    with engine.begin() as conn:
        update_version(
            conn,
            version_id,
            metrics=json.dumps(metrics, sort_keys=True),
            ndcg_at_10=None if ndcg is None else float(ndcg),
            n_users=n_users,
            n_artists=n_artists,
        )


def should_promote(new_ndcg: float | None, current_ndcg: float | None, margin: float) -> bool:
    """Whether a new version may replace the current one.

    A version is not promoted when its NDCG@10 is lower than the current one's by
    more than ``margin`` (a fraction of the current value). Without a current version
    (or without metrics to compare), the new version is promoted.

    Examples
    --------
    >>> should_promote(0.19, 0.20, 0.05), should_promote(0.18, 0.20, 0.05)
    (True, False)
    """
    if margin < 0:
        raise ValidationError("promotion_margin", margin, "a fraction >= 0")
    if current_ndcg is None or new_ndcg is None:
        return True
    return new_ndcg >= current_ndcg * (1.0 - margin) - 1e-12


#: Called inside the promotion's transaction before anything changes; raises to stop it.
PromotionGuard = Callable[[Connection], None]


def finish_version(
    engine: Engine, version_id: str, margin: float, guard: PromotionGuard | None = None
) -> ModelVersion:
    """Promote a fully written version, or reject it when it is too much worse.

    The comparison with the active version and the flip of the active pointer happen
    in one transaction. ``guard(conn)`` runs first in that transaction: the scheduler
    renews its lease there, so a scheduler that lost its lease can never promote.

    Returns
    -------
    ModelVersion
        The version as stored afterwards (``ready`` and active, or ``rejected``).
    """
    finished = now_ms()
    with engine.begin() as conn:
        if guard is not None:
            guard(conn)
        row = conn.execute(
            select(model_versions).where(model_versions.c.version_id == version_id)
        ).first()
        if row is None:
            raise NotFoundError("model version", version_id)
        current_id = active_version_id(conn)
        current_ndcg = None
        if current_id is not None:
            current_ndcg = conn.execute(
                select(model_versions.c.ndcg_at_10).where(model_versions.c.version_id == current_id)
            ).scalar_one_or_none()
        new_ndcg = row._mapping["ndcg_at_10"]
        if should_promote(new_ndcg, current_ndcg, margin):
            set_active(conn, version_id, finished)
            update_version(
                conn, version_id, status="ready", finished_at_ms=finished, promoted_at_ms=finished
            )
        else:
            note = (
                f"ndcg@10 == {new_ndcg:.4f} is more than {margin:.0%} below the active "
                f"version {current_id}'s {current_ndcg:.4f}; not promoted."
            )
            update_version(conn, version_id, status="rejected", finished_at_ms=finished, note=note)
    return get_version(engine, version_id)


def update_version(conn: Connection, version_id: str, **values: Any) -> None:
    """Set columns of one version's row (inside the caller's transaction)."""
    conn.execute(
        update(model_versions).where(model_versions.c.version_id == version_id).values(**values)
    )


def set_active(conn: Connection, version_id: str, at_ms: int | None = None) -> None:
    """Point serving at a version (inside the caller's transaction)."""
    upsert(
        conn,
        serving_state,
        [{"key": ACTIVE_KEY, "value": version_id, "updated_at_ms": at_ms or now_ms()}],
    )


def promote(engine: Engine, version_id: str) -> ModelVersion:
    """Serve a given ``ready`` or ``rejected`` version (a manual override or rollback).

    Raises
    ------
    NotFoundError
        When the version does not exist.
    ValidationError
        When the version is still training or failed (its lists may be incomplete).
    """
    version = get_version(engine, version_id)
    if version.status not in ("ready", "rejected"):
        raise ValidationError(
            "version_id", version_id, f"a ready or rejected version (it is {version.status})"
        )
    at = now_ms()
    with engine.begin() as conn:
        set_active(conn, version_id, at)
        update_version(conn, version_id, status="ready", promoted_at_ms=at)
    return get_version(engine, version_id)


def mark_failed(engine: Engine, version_id: str, reason: str) -> None:
    """Mark a run as failed (best effort: the run may have died before its row)."""
    with engine.begin() as conn:
        update_version(
            conn, version_id, status="failed", finished_at_ms=now_ms(), note=reason[:2000]
        )


def running_note() -> str:
    """The note of a ``training`` row: which process on which host runs it."""
    return f"running: pid {os.getpid()} on {socket.gethostname()}"


def fail_if_training(engine: Engine, version_id: str, reason: str) -> bool:
    """Mark a run ``failed`` if it is still ``training`` (its process died).

    Returns
    -------
    bool
        Whether the version was still ``training`` (and is now ``failed``).
    """
    with engine.begin() as conn:
        changed = conn.execute(
            update(model_versions)
            .where(model_versions.c.version_id == version_id, model_versions.c.status == "training")
            .values(status="failed", finished_at_ms=now_ms(), note=reason[:2000])
        ).rowcount
    return bool(changed == 1)
