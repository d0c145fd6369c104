"""The retraining scheduler: retrain on a cron expression and when enough new events arrived.

``cratedig scheduler run`` runs one :class:`RetrainScheduler`, a long-running process of
its own (never inside gunicorn workers: ``docs/scheduler.md``), built on APScheduler 3:

* **Triggers.** A cron expression (``cron``), a check every ``check_every_seconds`` of
  how many events occurred after the newest snapshot a completed run trained on
  (``new_events``), an optional hook for a fall of the served version's online CTR
  (``ctr_drop``; it waits for the online-metrics issue: nothing computes that CTR yet),
  a run at start (``now``), and retries after failures (``retry``). Runs are serial.
* **The lease.** Only the holder of the ``retrain`` lease row acts on a store. It is
  renewed by a heartbeat every third of its lifetime; a killed scheduler stops renewing
  and its lease expires, and a standby scheduler takes it over. A scheduler that finds
  its lease lost stops its training at the next stage boundary, and can never promote
  it: the promotion's transaction renews the lease first (a fence).
* **Runs** are recorded in ``scheduler_runs`` (trigger, start, end, outcome, version,
  error). A run still ``running`` when a new holder takes the lease belonged to a killed
  process: it becomes ``interrupted`` and its half-written version ``failed``.
* **Back-off.** After ``n`` failed or interrupted runs in a row, no run starts before
  ``min(backoff * 2 ** (n - 1), backoff_max)`` seconds after the last one ended; a
  ``retry`` run is scheduled for then. A run stopped by SIGTERM is ``stopped`` and
  counts neither way.

Every retrain goes through :func:`cratedig.pipeline.train.train`, which fits the Hidden
Gems re-ranker on the new matrix, so its popular head is recomputed each time.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine

from cratedig.clock import now_ms
from cratedig.config import Settings
from cratedig.exceptions import CratedigError, ValidationError
from cratedig.pipeline import registry
from cratedig.store import scheduler as sql

LEASE_NAME = "retrain"
log = logging.getLogger("cratedig.scheduler")

#: ``train_fn(checkpoint, guard)``: one training run (see :func:`make_train_fn`).
TrainFn = Callable[[Callable[[str, str], None], registry.PromotionGuard], registry.ModelVersion]
#: ``ctr_check(engine, served_version)``: a reason to retrain, or ``None``.
CtrCheck = Callable[[Engine, registry.ModelVersion], str | None]


class LeaseLostError(CratedigError):
    """This scheduler no longer holds the lease: its run must stop without promoting."""


class StopRequestedError(CratedigError):
    """The scheduler is shutting down (SIGTERM): the run stops at a stage boundary."""


@dataclass(frozen=True)
class SchedulerConfig:
    """When to retrain and how to behave.

    Attributes
    ----------
    cron
        A five-field crontab expression (UTC), e.g. ``"0 3 * * *"``.
    min_new_events
        Retrain when at least this many events occurred after the newest snapshot a
        completed run (promoted or rejected) trained on.
    check_every_seconds
        How often the event count (and the CTR hook) is checked.
    lease_ttl_seconds
        Lifetime of the lease; renewed every third of it.
    backoff_seconds, backoff_max_seconds
        First delay after a failure, doubled per further failure, capped.
    run_now
        Start one run as soon as the lease is held.
    """

    cron: str | None = None
    min_new_events: int | None = None
    check_every_seconds: float = 60.0
    lease_ttl_seconds: float = 60.0
    backoff_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    run_now: bool = False

    def __post_init__(self) -> None:
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron, timezone=UTC)
            except ValueError as exc:
                raise ValidationError("cron", self.cron, f"a crontab expression ({exc})") from None
        if self.min_new_events is not None and self.min_new_events < 1:
            raise ValidationError("min_new_events", self.min_new_events, "an integer >= 1")
        for name in ("check_every_seconds", "lease_ttl_seconds", "backoff_seconds"):
            if not getattr(self, name) > 0:
                raise ValidationError(name, getattr(self, name), "a number of seconds > 0")
        if not self.backoff_max_seconds >= self.backoff_seconds:
            raise ValidationError(
                "backoff_max_seconds", self.backoff_max_seconds, "a number >= backoff_seconds"
            )


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` failed runs in a row (0 when none).

    Examples
    --------
    >>> [backoff_delay(n, 60, 600) for n in range(6)]
    [0.0, 60.0, 120.0, 240.0, 480.0, 600.0]
    """
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2.0 ** min(failures - 1, 60)))


def consecutive_failures(runs: list[sql.Run]) -> tuple[int, int | None]:
    """Failed or interrupted runs in a row, newest first, and when the newest one ended.

    Runs that lost the lease, were stopped (SIGTERM) or are still running count neither way.
    """
    count, last_end = 0, None
    for run in runs:
        if run.outcome in ("promoted", "rejected"):
            break
        if run.outcome in ("failed", "interrupted"):
            count += 1
            if last_end is None:
                last_end = run.finished_at_ms or run.started_at_ms
    return count, last_end


def make_train_fn(engine: Engine, settings: Settings, **train_kwargs: Any) -> TrainFn:
    """A :data:`TrainFn` running :func:`cratedig.pipeline.train.train` with ``train_kwargs``."""

    def run(
        checkpoint: Callable[[str, str], None], guard: registry.PromotionGuard
    ) -> registry.ModelVersion:
        from cratedig.pipeline.train import train

        return train(engine, settings, checkpoint=checkpoint, guard=guard, **train_kwargs)

    return run


def new_holder() -> str:
    """This process's name in the lease: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class RetrainScheduler:
    """Retrains a store's model when its triggers fire, while it holds the lease.

    Parameters
    ----------
    engine
        The store.
    config
        The triggers and timings.
    train_fn
        One training run (:func:`make_train_fn`).
    ctr_check
        The CTR hook (see the module docstring); ``None``: no such trigger.
    """

    def __init__(
        self,
        engine: Engine,
        config: SchedulerConfig,
        train_fn: TrainFn,
        ctr_check: CtrCheck | None = None,
        holder: str | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.train_fn = train_fn
        self.ctr_check = ctr_check
        self.holder = holder or new_holder()
        self._holding = threading.Event()
        self._epoch = 0  # +1 on every fresh acquisition: a run of an older epoch is lost
        self._stopping = threading.Event()
        self._run_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None

    # -- the lease ----------------------------------------------------------------
    @property
    def ttl_ms(self) -> int:
        return int(self.config.lease_ttl_seconds * 1000)

    @property
    def holding(self) -> bool:
        """Whether this scheduler holds the lease (as of its last heartbeat)."""
        return self._holding.is_set()

    def heartbeat(self) -> bool:
        """Take or renew the lease; recover runs of a dead holder on a fresh take."""
        if self._stopping.is_set():
            return self.holding
        state = sql.acquire_lease(self.engine, LEASE_NAME, self.holder, self.ttl_ms, now_ms())
        if state == "renewed" and self.holding:
            return True
        if self.holding:
            log.warning("lost the lease (it expired before it was renewed)")
            self._holding.clear()
        if state is None:
            return False
        self._epoch += 1
        self._holding.set()
        log.info("holding the lease as %s", self.holder)
        self.recover()
        return True

    def recover(self) -> list[int]:
        """Mark runs left ``running`` by another holder ``interrupted`` (and their
        versions ``failed``); returns their run ids."""
        done = []
        for run in sql.interrupted_runs(self.engine, self.holder):
            reason = f"the scheduler {run.holder} stopped during this run (killed or lease lost)"
            if run.version_id is not None:
                registry.fail_if_training(self.engine, run.version_id, reason)
            sql.finish_run(self.engine, run.run_id, "interrupted", now_ms(), error=reason)
            log.warning("run %s of %s was interrupted", run.run_id, run.holder)
            done.append(run.run_id)
        if done:
            self._schedule_retry()  # the killed run is retried after the back-off
        return done

    # -- triggers -----------------------------------------------------------------
    def check_new_events(self) -> None:
        """The ``new_events`` trigger: run when enough events followed the last snapshot."""
        wanted = self.config.min_new_events
        if wanted is None or not self.holding:
            return
        since = sql.trained_snapshot_ms(self.engine)
        count = sql.count_events_after(self.engine, since, wanted)
        if count >= wanted:
            where = "in the store" if since is None else f"after the snapshot at {since} ms"
            self.fire("new_events", f"{count}+ events {where} (threshold {wanted})")

    def check_ctr(self) -> None:
        """The ``ctr_drop`` hook: run when ``ctr_check`` names a reason."""
        if self.ctr_check is None or not self.holding:
            return
        served = registry.active_version(self.engine)
        reason = None if served is None else self.ctr_check(self.engine, served)
        if reason:
            self.fire("ctr_drop", reason)

    def backoff_until_ms(self) -> int | None:
        """When the back-off after the latest failures ends, or ``None`` when not backing off."""
        failures, last_end = consecutive_failures(sql.list_runs(self.engine, limit=100))
        if failures == 0 or last_end is None:
            return None
        c = self.config
        until = last_end + int(
            backoff_delay(failures, c.backoff_seconds, c.backoff_max_seconds) * 1000
        )
        return until if until > now_ms() else None

    # -- one run ------------------------------------------------------------------
    def fire(self, trigger: str, detail: str = "") -> sql.Run | None:
        """Run a retrain now if this scheduler holds the lease and is not backing off.

        Returns
        -------
        Run or None
            The recorded run, or ``None`` when nothing ran.
        """
        with self._run_lock:
            if not self.holding or self._stopping.is_set():
                log.info("%s: not holding the lease; skipped", trigger)
                return None
            until = self.backoff_until_ms()
            if until is not None:
                log.info("%s: backing off after failures until %s ms; skipped", trigger, until)
                return None
            return self._run(trigger, detail)

    def _run(self, trigger: str, detail: str) -> sql.Run:
        epoch = self._epoch
        run_id = sql.start_run(self.engine, trigger, detail, self.holder, now_ms())
        log.info("run %s started (%s: %s)", run_id, trigger, detail)
        seen: list[str] = []

        def checkpoint(stage: str, version_id: str) -> None:
            if not seen:
                seen.append(version_id)
                sql.set_run_version(self.engine, run_id, version_id)
            if self._stopping.is_set():
                raise StopRequestedError(f"the scheduler is stopping (before {stage})")
            if not self.holding or self._epoch != epoch:
                raise LeaseLostError(f"the lease was lost (before {stage}); not promoted")

        def guard(conn: Connection) -> None:
            held = sql.renew_lease(conn, LEASE_NAME, self.holder, self.ttl_ms, now_ms())
            if not held or self._epoch != epoch:
                raise LeaseLostError("the lease was lost before the promotion; not promoted")

        version_id, error = None, None
        try:
            version = self.train_fn(checkpoint, guard)
            version_id = version.version_id
            outcome = "promoted" if version.active else "rejected"
        except LeaseLostError as exc:
            outcome, error = "lease_lost", str(exc)
        except StopRequestedError as exc:
            outcome, error = "stopped", str(exc)
        except Exception as exc:
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("run %s failed", run_id)
        sql.finish_run(self.engine, run_id, outcome, now_ms(), version_id, error)
        log.info("run %s ended: %s %s", run_id, outcome, version_id or error or "")
        if outcome == "failed":
            self._schedule_retry()
        return next(r for r in sql.list_runs(self.engine, limit=20) if r.run_id == run_id)

    def _schedule_retry(self) -> None:
        until = self.backoff_until_ms()
        if self._scheduler is None or until is None:
            return
        at = datetime.fromtimestamp(until / 1000 + 0.05, tz=UTC)
        self._scheduler.add_job(
            self.fire,
            "date",
            run_date=at,
            args=("retry", "after a failed run"),
            id="retry",
            replace_existing=True,
            misfire_grace_time=None,
        )
        log.info("retry scheduled at %s", at.isoformat())

    # -- the process --------------------------------------------------------------
    def start(self) -> BackgroundScheduler:
        """Start the heartbeat and the triggers in background threads."""
        c = self.config
        sched = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1), "lease": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler = sched
        now = datetime.now(UTC)
        sched.add_job(
            self.heartbeat,
            IntervalTrigger(seconds=c.lease_ttl_seconds / 3.0),
            id="lease",
            executor="lease",
            next_run_time=now,
        )
        if c.cron is not None:
            trigger = CronTrigger.from_crontab(c.cron, timezone=UTC)
            sched.add_job(self.fire, trigger, args=("cron", f"cron {c.cron}"), id="cron")
        checks = IntervalTrigger(seconds=c.check_every_seconds)
        first = now + timedelta(seconds=min(1.0, c.check_every_seconds))
        if c.min_new_events is not None:
            sched.add_job(self.check_new_events, checks, id="new_events", next_run_time=first)
        if self.ctr_check is not None:
            sched.add_job(self.check_ctr, checks, id="ctr_drop", next_run_time=first)
        if c.run_now:
            sched.add_job(self._fire_when_held, id="now", next_run_time=first)
        sched.start()
        return sched

    def _fire_when_held(self) -> None:
        if self.holding:
            self.fire("now", "run at start")
        elif self._scheduler is not None and not self._stopping.is_set():
            # not holding yet: try again shortly (the job id is reused)
            at = datetime.now(UTC) + timedelta(seconds=self.config.lease_ttl_seconds / 3.0)
            self._scheduler.add_job(
                self._fire_when_held, "date", run_date=at, id="now", replace_existing=True
            )

    def stop(self) -> None:
        """Stop: the current run ends at its next stage, then the lease is released."""
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        if self.holding:
            sql.release_lease(self.engine, LEASE_NAME, self.holder, now_ms())
            self._holding.clear()

    def run_forever(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set (the command sets it on SIGTERM or SIGINT)."""
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()

    def run_once(self) -> sql.Run | None:
        """One pass for cron-driven use: take the lease, run if due, release.

        With ``min_new_events`` a run starts only when enough new events arrived;
        without it, it always starts (trigger ``now``). Returns ``None`` when another
        scheduler holds the lease or nothing was due.
        """
        if not self.heartbeat():
            log.info("another scheduler holds the lease; nothing done")
            return None
        try:
            if self.config.min_new_events is None:
                return self.fire("now", "run once")
            before = sql.list_runs(self.engine, limit=1)
            self.check_new_events()
            after = sql.list_runs(self.engine, limit=1)
            return after[0] if after and after != before else None
        finally:
            sql.release_lease(self.engine, LEASE_NAME, self.holder, now_ms())
            self._holding.clear()
