"""Which model version (and which experiment arm) a request reads.

The registry may serve several versions at once (an A/B experiment's arms), so
nothing in serving holds "the" version: every list reader takes a version, and
:meth:`Versions.for_user` chooses it per request. It reads the active version and the
running experiments at most every ``ttl_seconds`` (one cached read, no SQL per
request), then assigns the user with the pure hashing of
:mod:`cratedig.experiments.assignment`: the user's bucket in each layer picks at most
one experiment of the layer, and the experiment's salt picks the arm.

**Swapping versions.** A promotion flips the registry's ``active_version`` pointer in
one transaction, after every list of the new version was written; the old version's
lists stay in the store, so a request still reading them completes normally and no
request fails across a swap. Each worker re-reads the pointer when its copy is older
than :data:`VERSION_TTL_SECONDS`, and a copy's age counts from when its read *began*:
so every request that starts more than ``VERSION_TTL_SECONDS`` after the promotion
committed is served by the new version (the bound that ``docs/scheduler.md`` states
and ``tests/serving/test_swap.py`` checks on a real gunicorn under load). Per-user cache
entries carry the version id in their key, so none of the old version's is served
after the flip.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from cratedig.exceptions import StoreError
from cratedig.experiments.assignment import N_BUCKETS, Layer, bucket, bucket_ranges
from cratedig.experiments.spec import ACTIVE, Experiment
from cratedig.pipeline import registry
from cratedig.store import experiments as experiment_sql

#: How long a worker trusts its idea of the active version and the running experiments.
VERSION_TTL_SECONDS = 1.0


class NotReadyError(StoreError):
    """No model version has been promoted yet."""


@dataclass(frozen=True)
class Route:
    """What one request serves.

    Attributes
    ----------
    version
        The version whose lists are read (team A's for an interleaved arm).
    experiment, variant
        The experiment and arm the user is in (``None`` outside experiments).
    personalise
        Whether the list is re-ranked by recent activity.
    holdout
        Serve the version's global popular list.
    interleave_with
        Team B's version of an interleaved arm.
    salt
        The experiment's salt (seeds the interleaving).
    gems
        The arm's Hidden Gems placement (``first``, ``last``, ``off``; ``None``: default).
    """

    version: registry.ModelVersion
    experiment: str | None = None
    variant: str | None = None
    personalise: bool = True
    holdout: bool = False
    interleave_with: registry.ModelVersion | None = None
    salt: str = ""
    gems: str | None = None

    @property
    def label(self) -> str | None:
        """The impression's ``variant`` value: ``"<experiment>:<variant>"``."""
        return None if self.experiment is None else f"{self.experiment}:{self.variant}"

    @property
    def cache_key(self) -> str:
        """What distinguishes this route's lists in the per-user cache."""
        return (
            self.version.version_id
            if self.label is None
            else f"{self.version.version_id}|{self.label}"
        )


@dataclass(frozen=True)
class _CachedLayer:
    """A layer's salt, its experiments' bucket ranges, and each one's arm ranges.

    Precomputed from :meth:`Layer.ranges` and :func:`bucket_ranges` when the running
    experiments are re-read, so a request only hashes the user (two sha256 per layer)
    and compares integers: the same assignment as :func:`assign_in_layer`.
    """

    salt: str
    ranges: tuple[tuple[str, int, int], ...]
    experiments: dict[str, tuple[Experiment, tuple[tuple[int, int], ...]]]

    def assign(self, user_id: str) -> tuple[Experiment, str] | None:
        """The user's experiment and arm in this layer (``None``: not enrolled)."""
        b = bucket(self.salt, user_id)
        for name, lo, hi in self.ranges:
            if lo <= b < hi:
                found = self.experiments.get(name)  # None: a free range
                if found is None:
                    return None
                exp, arms = found
                vb = bucket(exp.salt, user_id)
                for variant, (a_lo, a_hi) in zip(exp.variants, arms, strict=True):
                    if a_lo <= vb < a_hi:
                        return exp, variant.name
                return None  # outside the ramp
        return None


def _layers(
    running: list[Experiment],
) -> list[_CachedLayer]:
    """One :class:`Layer` per layer name, its experiments at their stored ranges."""
    by_layer: dict[str, list[Experiment]] = {}
    for exp in running:
        if exp.layer_range is not None:
            by_layer.setdefault(exp.layer, []).append(exp)
    out = []
    for name in sorted(by_layer):
        exps = sorted(by_layer[name], key=lambda e: e.layer_range or (0, 0))
        allocations: list[tuple[str, float]] = []
        cursor = 0
        for i, exp in enumerate(exps):
            lo, hi = exp.layer_range or (0, 0)
            if lo > cursor:  # a free range between experiments
                allocations.append((f"~free{i}", (lo - cursor) / N_BUCKETS))
            allocations.append((exp.name, (hi - max(lo, cursor)) / N_BUCKETS))
            cursor = max(cursor, hi)
        layer = Layer(f"layer:{name}", tuple(allocations))
        ranges = tuple((n, lo, hi) for n, (lo, hi) in layer.ranges().items())
        arms = {e.name: (e, tuple(bucket_ranges(e.weights, e.ramp))) for e in exps}
        out.append(_CachedLayer(layer.salt, ranges, arms))
    return out


class Versions:
    """The served versions and experiments, re-read at most every ``ttl_seconds``."""

    def __init__(self, engine: Engine, ttl_seconds: float = VERSION_TTL_SECONDS) -> None:
        self.engine = engine
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._active: tuple[float, registry.ModelVersion | None] = (-ttl_seconds - 1.0, None)
        self._layers: tuple[float, list[_CachedLayer]] = (
            -ttl_seconds - 1.0,
            [],
        )
        self._by_id: dict[str, registry.ModelVersion] = {}
        self._plain: Route | None = None  # the active version's route outside experiments

    def active(self, fresh: bool = False) -> registry.ModelVersion | None:
        """The active version (``None`` before the first promotion).

        A copy is stamped with the time its read began, and a slower concurrent read
        that began earlier never replaces a newer one, so no thread sees the pointer
        go back to an older version once another thread has seen the new one.
        """
        read_at, version = self._active
        if fresh or time.monotonic() - read_at > self.ttl_seconds:
            began = time.monotonic()
            version = registry.active_version(self.engine)
            with self._lock:
                if began > self._active[0]:
                    self._active = (began, version)
                else:
                    version = self._active[1]
        return version

    def layers(self, fresh: bool = False) -> list[_CachedLayer]:
        """The running experiments grouped by layer (cached like the active version)."""
        read_at, layers = self._layers
        if fresh or time.monotonic() - read_at > self.ttl_seconds:
            with self.engine.connect() as conn:
                rows = experiment_sql.list_experiments(conn, ["running"])
            layers = _layers([Experiment.from_row(r) for r in rows])
            with self._lock:
                self._layers = (time.monotonic(), layers)
        return layers

    def version(self, version_id: str) -> registry.ModelVersion:
        """A version by id (``"active"``: the active one), cached."""
        if version_id == ACTIVE:
            return self._require_active()
        found = self._by_id.get(version_id)
        if found is None:
            found = registry.get_version(self.engine, version_id)
            self._by_id[version_id] = found
        return found

    def _require_active(self) -> registry.ModelVersion:
        version = self.active()
        if version is None:
            raise NotReadyError("no model version is being served yet; run `cratedig train` first.")
        return version

    def for_user(self, user_id: str | None, list_type: str | None = None) -> Route:
        """What ``user_id`` (``None``: anonymous) is served on ``list_type``.

        Raises
        ------
        NotReadyError
            When no version is served yet.
        """
        active = self._require_active()
        plain = self._plain
        if plain is None or plain.version is not active:
            plain = self._plain = Route(active)
        if user_id is None or list_type is None:
            return plain
        for layer in self.layers():
            found = layer.assign(user_id)
            if found is None:  # not in this layer's experiments (or outside the ramp)
                continue
            exp, variant = found
            if list_type not in exp.list_types:
                continue
            arm = exp.variant(variant)
            return Route(
                self.version(arm.version_id),
                exp.name,
                arm.name,
                arm.personalise,
                arm.holdout,
                self.version(arm.interleave_with) if arm.interleave_with else None,
                exp.salt,
                arm.gems,
            )
        return plain
