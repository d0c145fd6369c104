"""Assignment of users to experiment variants: pure hashing, ids in, variant out.

Design
------
* **Buckets.** A user's bucket in an experiment is ``sha256(salt + ":" + user_id)``,
  read as a big-endian 64-bit integer, modulo :data:`N_BUCKETS` (10,000). The hash is
  stable across processes, machines and Python versions (Python's ``hash`` is salted per
  process and must never be used). The modulo bias of ``2**64 mod 10_000`` is below
  ``1e-15`` and invisible.
* **Variants and ramp.** The bucket line is cut into one *slot* per variant, its width
  set by the designed weights (``[0, w0)``, ``[w0, w0 + w1)``...). At a ramp (traffic
  fraction) ``r`` only the first ``floor(r * width)`` buckets of each slot are enrolled;
  the rest are not in the experiment. Raising the ramp only appends buckets to the end
  of each enrolled range, so a user once enrolled keeps the same variant at every
  higher ramp (sticky), and every ramp keeps the designed split between variants. This
  is GrowthBook's ``getBucketRanges(coverage, weights)`` scheme. Changing the *weights*
  of a running experiment moves slot boundaries and does reassign users; do it by
  starting a new experiment (new salt) instead.
* **Layers.** Experiments that must not overlap (for example two experiments on the same
  list) share a :class:`Layer`. The layer hashes the user with its own salt into the
  same 10,000 buckets and hands consecutive bucket ranges to its experiments in order
  (``allocations``), so a user is in at most one experiment of a layer. Appending an
  experiment to a layer does not move the earlier ones. Inside its range the experiment
  assigns the variant with its own salt, which is independent of the layer hash.
  Experiments in different layers use unrelated salts, so their assignments are
  independent (orthogonal), as in Tang et al. 2010, "Overlapping Experiment
  Infrastructure: More, Better, Faster Experimentation" (Google).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cratedig.exceptions import ValidationError

N_BUCKETS = 10_000
NOT_ENROLLED = -1


def bucket(salt: str, user_id: str) -> int:
    """Stable bucket in ``[0, N_BUCKETS)`` of ``user_id`` under ``salt``.

    Parameters
    ----------
    salt
        The experiment's (or layer's) salt; different salts give independent buckets.
    user_id
        The site's own user id.

    Returns
    -------
    int
        ``int(sha256(salt:user_id)[:8]) % N_BUCKETS``.
    """
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % N_BUCKETS


def buckets(salt: str, user_ids: Iterable[str]) -> npt.NDArray[np.int64]:
    """Buckets of many users under one salt (same values as :func:`bucket`)."""
    prefix = f"{salt}:".encode()
    sha = hashlib.sha256
    out = [
        int.from_bytes(sha(prefix + str(u).encode()).digest()[:8], "big") % N_BUCKETS
        for u in user_ids
    ]
    return np.asarray(out, dtype=np.int64)


def _check_weights(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size < 2 or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValidationError("weights", list(weights), "two or more positive numbers")
    return w / w.sum()


def _check_fraction(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ValidationError(name, value, "a number between 0 and 1")
    return float(value)


def bucket_ranges(weights: Sequence[float], ramp: float = 1.0) -> list[tuple[int, int]]:
    """Enrolled bucket range ``[start, stop)`` of each variant.

    Parameters
    ----------
    weights
        Designed share of each variant (normalised to sum to 1).
    ramp
        Traffic fraction in ``[0, 1]``: the share of each variant's slot enrolled.

    Returns
    -------
    list of (int, int)
        One half-open range per variant; ranges at a higher ramp contain those at a
        lower ramp.
    """
    w = _check_weights(weights)
    r = _check_fraction("ramp", ramp)
    edges = np.rint(np.concatenate([[0.0], np.cumsum(w)]) * N_BUCKETS).astype(int)
    edges[-1] = N_BUCKETS
    # floor(r * width) is non-decreasing in r, hence ramping up never reassigns anyone
    return [
        (int(lo), int(lo + math.floor(r * (hi - lo) + 1e-9)))
        for lo, hi in itertools.pairwise(edges)
    ]


def variant_of_buckets(
    bucket_values: npt.ArrayLike, weights: Sequence[float], ramp: float = 1.0
) -> npt.NDArray[np.int64]:
    """Variant index of each bucket, :data:`NOT_ENROLLED` (-1) outside the ramp."""
    b = np.asarray(bucket_values, dtype=np.int64)
    out = np.full(b.shape, NOT_ENROLLED, dtype=np.int64)
    for i, (lo, hi) in enumerate(bucket_ranges(weights, ramp)):
        out[(b >= lo) & (b < hi)] = i
    return out


@dataclass(frozen=True)
class ExperimentDesign:
    """What assignment needs to know of an experiment.

    Attributes
    ----------
    salt
        Stable per-experiment salt (for example its name plus creation time).
    variants
        Variant names, control first.
    weights
        Designed share of each variant.
    ramp
        Traffic fraction in ``[0, 1]``.
    """

    salt: str
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    ramp: float = 1.0

    def __post_init__(self) -> None:
        if not self.salt:
            raise ValidationError("salt", self.salt, "a non-empty string")
        if len(self.variants) != len(self.weights) or len(set(self.variants)) != len(self.variants):
            raise ValidationError(
                "variants", self.variants, f"{len(self.weights)} distinct names, one per weight"
            )
        _check_weights(self.weights)
        _check_fraction("ramp", self.ramp)


def assign(design: ExperimentDesign, user_id: str) -> str | None:
    """Variant name of ``user_id``, or ``None`` when the user is not enrolled."""
    idx = int(variant_of_buckets([bucket(design.salt, user_id)], design.weights, design.ramp)[0])
    return None if idx == NOT_ENROLLED else design.variants[idx]


def assign_many(design: ExperimentDesign, user_ids: Iterable[str]) -> npt.NDArray[np.int64]:
    """Variant index of each user (:data:`NOT_ENROLLED` when not enrolled)."""
    return variant_of_buckets(buckets(design.salt, user_ids), design.weights, design.ramp)


@dataclass(frozen=True)
class Layer:
    """Mutually exclusive experiments: each user falls into at most one of them.

    Attributes
    ----------
    salt
        The layer's salt (independent of its experiments' salts).
    allocations
        ``(experiment name, share of the layer's users)`` in order; the shares sum to at
        most 1. New experiments are appended so earlier ranges never move.
    """

    salt: str
    allocations: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        names = [name for name, _ in self.allocations]
        if len(set(names)) != len(names):
            raise ValidationError("allocations", names, "distinct experiment names")
        shares = [_check_fraction(f"allocations[{n}]", s) for n, s in self.allocations]
        if sum(shares) > 1.0 + 1e-9:
            raise ValidationError("allocations", self.allocations, "shares summing to <= 1")

    def ranges(self) -> dict[str, tuple[int, int]]:
        """Layer bucket range ``[start, stop)`` of each experiment."""
        out: dict[str, tuple[int, int]] = {}
        start = 0.0
        for name, share in self.allocations:
            lo, hi = round(start * N_BUCKETS), round((start + share) * N_BUCKETS)
            out[name] = (lo, min(hi, N_BUCKETS))
            start += share
        return out

    def experiment_of(self, user_id: str) -> str | None:
        """The layer's experiment that may enrol ``user_id`` (``None``: none)."""
        b = bucket(self.salt, user_id)
        for name, (lo, hi) in self.ranges().items():
            if lo <= b < hi:
                return name
        return None


def assign_in_layer(
    layer: Layer, designs: Mapping[str, ExperimentDesign], user_id: str
) -> tuple[str, str] | None:
    """``(experiment, variant)`` of ``user_id`` within ``layer``, or ``None``.

    Parameters
    ----------
    layer
        The layer the experiments share.
    designs
        Design of each experiment named in the layer's allocations.
    user_id
        The site's own user id.
    """
    name = layer.experiment_of(user_id)
    if name is None:
        return None
    if name not in designs:
        raise ValidationError("designs", sorted(designs), f"a design for experiment {name!r}")
    variant = assign(designs[name], user_id)
    return None if variant is None else (name, variant)
