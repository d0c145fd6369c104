"""Train / validation / test splits of an engagement matrix.

Every split returns three CSR matrices of ``X``'s shape whose nonzeros partition
``X``'s nonzeros exactly (each stored entry of ``X`` lands in exactly one of them, with
its value). The splits are leak-free at the pair level: a user x artist pair is never in
two parts, so a model trained on ``train`` never saw a held-out pair. Randomness comes
only from ``numpy.random.default_rng(seed)``, so a seed always gives the same split.
All work is vectorised over the CSR arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cratedig.exceptions import ValidationError

Split = tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]


def _canonical(X: sp.csr_matrix | sp.sparray, name: str = "X") -> sp.csr_matrix:
    if not sp.issparse(X):
        raise ValidationError(name, type(X).__name__, "a scipy.sparse matrix")
    X = sp.csr_matrix(X)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def _rows(X: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """The row of every stored entry."""
    return np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))


def _parts(X: sp.csr_matrix, part: npt.NDArray[np.int8]) -> Split:
    """Three matrices of X's shape holding the entries whose ``part`` is 0, 1, 2."""
    rows = _rows(X)
    out = []
    for p in range(3):
        keep = part == p
        out.append(
            sp.csr_matrix(
                (X.data[keep], (rows[keep], X.indices[keep])), shape=X.shape, dtype=X.dtype
            )
        )
    return out[0], out[1], out[2]


def _rank_within_rows(
    X: sp.csr_matrix, keys: list[npt.NDArray[np.generic]]
) -> npt.NDArray[np.int64]:
    """Rank (0 = first) of every stored entry within its row, by ``keys`` (last is primary)."""
    rows = _rows(X)
    order = np.lexsort([*keys, rows])
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - X.indptr[rows[order]]
    return rank


def _check_min(min_interactions: int) -> None:
    if min_interactions < 1:
        raise ValidationError("min_interactions", min_interactions, "an integer >= 1")


def random_holdout(
    X: sp.csr_matrix,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    min_interactions: int = 3,
) -> Split:
    """Per-user random holdout of each user's nonzero entries.

    For a user with ``n >= min_interactions`` entries, ``round(n * f_test)`` (at least 1
    when ``f_test > 0``) random entries go to test and ``round(n * f_val)`` (at least 1
    when ``f_val > 0``) to validation, always leaving at least one in train (validation
    shrinks first, then test). Users with fewer entries keep them all in train.

    Parameters
    ----------
    X
        Users x artists sparse matrix.
    fractions
        ``(train, validation, test)``, each >= 0, summing to 1.
    seed
        Seed of the shuffle.
    min_interactions
        Users with fewer nonzero entries are not held out at all.

    Returns
    -------
    train, validation, test
        CSR matrices of ``X``'s shape whose nonzeros partition ``X``'s.
    """
    X = _canonical(X)
    _check_min(min_interactions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValidationError("fractions", fractions, "three numbers >= 0 summing to 1")
    _, f_val, f_test = (float(f) for f in fractions)
    counts = np.diff(X.indptr).astype(np.int64)
    eligible = counts >= min_interactions
    n_test = np.where(eligible, np.floor(counts * f_test + 0.5), 0).astype(np.int64)
    n_val = np.where(eligible, np.floor(counts * f_val + 0.5), 0).astype(np.int64)
    if f_test > 0:
        n_test = np.where(eligible, np.maximum(n_test, 1), 0)
    if f_val > 0:
        n_val = np.where(eligible, np.maximum(n_val, 1), 0)
    n_test = np.minimum(n_test, np.maximum(counts - 1, 0))
    n_val = np.minimum(n_val, np.maximum(counts - 1 - n_test, 0))

    rng = np.random.default_rng(seed)
    rank = _rank_within_rows(X, [rng.random(X.nnz)])
    rows = _rows(X)
    part = np.zeros(X.nnz, dtype=np.int8)
    part[rank < n_test[rows]] = 2
    part[(rank >= n_test[rows]) & (rank < n_test[rows] + n_val[rows])] = 1
    return _parts(X, part)


def _aligned_times(X: sp.csr_matrix, last_ms: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """``last_ms``'s values in ``X``'s entry order (same structure required)."""
    times = _canonical(last_ms, "last_ms")
    if (
        times.shape != X.shape
        or times.nnz != X.nnz
        or not np.array_equal(times.indptr, X.indptr)
        or not np.array_equal(times.indices, X.indices)
    ):
        raise ValidationError(
            "last_ms", f"{times.shape} with {times.nnz} entries", "X's exact sparsity structure"
        )
    return np.asarray(times.data, dtype=np.int64)


def leave_last_out(
    X: sp.csr_matrix,
    last_ms: sp.csr_matrix,
    n_test: int = 1,
    n_val: int = 0,
    seed: int = 0,
    min_interactions: int = 3,
) -> Split:
    """Per-user leave-last-out by time.

    Each user's ``n_test`` most recent pairs (by last interaction time) go to test, the
    ``n_val`` before them to validation, the rest to train; ties in time are broken by a
    seeded random order. Users with fewer than ``min_interactions`` entries, or fewer
    than ``n_test + n_val + 1``, keep everything in train, so every held-out pair is
    newer than (or as new as) all of that user's train pairs.

    Parameters
    ----------
    X
        Users x artists sparse matrix.
    last_ms
        The matching matrix of last-interaction times (``Engagement.last_ms``).
    n_test, n_val
        Pairs held out per user for test and for validation.
    seed
        Seed of the tie-breaking order.
    min_interactions
        Users with fewer entries are not held out at all.
    """
    X = _canonical(X)
    _check_min(min_interactions)
    if n_test < 0 or n_val < 0:
        raise ValidationError("n_test/n_val", (n_test, n_val), "integers >= 0")
    times = _aligned_times(X, last_ms)
    counts = np.diff(X.indptr).astype(np.int64)
    eligible = (counts >= min_interactions) & (counts >= n_test + n_val + 1)
    rng = np.random.default_rng(seed)
    # rank 0 = the most recent pair of the user
    rank = _rank_within_rows(X, [rng.random(X.nnz), -times])
    rows = _rows(X)
    part = np.zeros(X.nnz, dtype=np.int8)
    held = eligible[rows]
    part[held & (rank < n_test)] = 2
    part[held & (rank >= n_test) & (rank < n_test + n_val)] = 1
    return _parts(X, part)


def global_time_split(
    X: sp.csr_matrix,
    last_ms: sp.csr_matrix,
    test_start_ms: int | None = None,
    val_start_ms: int | None = None,
    test_fraction: float | None = None,
) -> Split:
    """Global split by time: pairs last touched before a cutoff train, later ones test.

    A pair goes to test when its last interaction is at or after ``test_start_ms``, to
    validation when it is in ``[val_start_ms, test_start_ms)``, else to train. So train
    holds nothing touched after ``val_start_ms`` (or ``test_start_ms``): no future leaks
    into training. (A pair touched both before and after the cutoff is held out whole;
    rebuild with ``EngagementConfig(now_ms=cutoff)`` to keep its earlier part in train.)
    No randomness is involved.

    Parameters
    ----------
    X, last_ms
        The matrix and its matching last-interaction times (``Engagement.last_ms``).
    test_start_ms
        The test cutoff; or give ``test_fraction`` instead.
    val_start_ms
        Optional validation cutoff, ``<= test_start_ms``.
    test_fraction
        Choose ``test_start_ms`` as the ``1 - test_fraction`` quantile of the pairs'
        last-interaction times.
    """
    X = _canonical(X)
    times = _aligned_times(X, last_ms)
    if (test_start_ms is None) == (test_fraction is None):
        raise ValidationError(
            "test_start_ms", test_start_ms, "exactly one of test_start_ms and test_fraction"
        )
    if test_fraction is not None:
        if not 0.0 < test_fraction < 1.0:
            raise ValidationError("test_fraction", test_fraction, "a number in (0, 1)")
        if X.nnz == 0:
            return _parts(X, np.zeros(0, dtype=np.int8))
        test_start_ms = int(np.quantile(times, 1.0 - test_fraction, method="higher"))
    assert test_start_ms is not None
    if val_start_ms is not None and val_start_ms > test_start_ms:
        raise ValidationError(
            "val_start_ms", val_start_ms, f"a time <= test_start_ms ({test_start_ms})"
        )
    part = np.zeros(X.nnz, dtype=np.int8)
    if val_start_ms is not None:
        part[times >= val_start_ms] = 1
    part[times >= test_start_ms] = 2
    return _parts(X, part)
