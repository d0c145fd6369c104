"""Splits partition X, are deterministic by seed and leak-free."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.exceptions import ValidationError
from cratedig.matrix.split import global_time_split, leave_last_out, random_holdout


def _matrix(seed: int = 3) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    X = sp.random(60, 40, density=0.15, format="csr", dtype=np.float32, random_state=rng)
    X.data += 0.5  # strictly positive
    times = X.copy().astype(np.int64)
    times.data = rng.integers(1_000, 1_000_000, X.nnz)
    return X, times


def _assert_partition(X, parts) -> None:
    total = sp.csr_matrix(X.shape, dtype=X.dtype)
    for part in parts:
        assert isinstance(part, sp.csr_matrix) and part.shape == X.shape
        assert part.dtype == X.dtype
        total = total + part
    assert sum(p.nnz for p in parts) == X.nnz  # no entry in two parts
    assert (total != X).nnz == 0  # every entry, with its value
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            assert a.multiply(b).nnz == 0


def test_random_holdout_partitions_and_is_seeded():
    X, _ = _matrix()
    parts = random_holdout(X, (0.6, 0.2, 0.2), seed=11)
    _assert_partition(X, parts)
    again = random_holdout(X, (0.6, 0.2, 0.2), seed=11)
    assert all((a != b).nnz == 0 for a, b in zip(parts, again, strict=True))
    other = random_holdout(X, (0.6, 0.2, 0.2), seed=12)
    assert (parts[2] != other[2]).nnz > 0


def test_random_holdout_counts_per_user():
    # user 0: 10 entries; user 1: 2 entries (< min_interactions 3); user 2: 3 entries
    X = sp.csr_matrix(
        np.array(
            [[1] * 10, [1, 1] + [0] * 8, [0, 0, 0, 1, 1, 1] + [0] * 4],
            dtype=np.float32,
        )
    )
    train, val, test = random_holdout(X, (0.8, 0.1, 0.1), seed=0)
    # user 0: round(1.0) test, round(1.0) val; user 1 all train; user 2: at least 1 each
    assert test.getnnz(axis=1).tolist() == [1, 0, 1]
    assert val.getnnz(axis=1).tolist() == [1, 0, 1]
    assert train.getnnz(axis=1).tolist() == [8, 2, 1]
    train, val, test = random_holdout(X, (0.5, 0.0, 0.5), seed=0)
    assert val.nnz == 0 and test.getnnz(axis=1).tolist() == [5, 0, 2]  # 1.5 rounds to 2


def test_random_holdout_rejects_bad_fractions():
    X, _ = _matrix()
    with pytest.raises(ValidationError, match="fractions"):
        random_holdout(X, (0.8, 0.1, 0.2))


def test_leave_last_out_by_hand():
    X = sp.csr_matrix(np.array([[1, 2, 3, 4], [5, 6, 0, 0], [1, 1, 1, 0]], dtype=np.float32))
    times = sp.csr_matrix(np.array([[40, 10, 30, 20], [1, 2, 0, 0], [7, 9, 8, 0]], dtype=np.int64))
    train, val, test = leave_last_out(X, times, n_test=1, n_val=1)
    # user 0: newest col 0 -> test, next col 2 -> val; user 1 has 2 < 3 entries: all train
    assert test.toarray().tolist() == [[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]
    assert val.toarray().tolist() == [[0, 0, 3, 0], [0, 0, 0, 0], [0, 0, 1, 0]]
    assert train.toarray().tolist() == [[0, 2, 0, 4], [5, 6, 0, 0], [1, 0, 0, 0]]


def test_leave_last_out_is_leak_free_and_seeded():
    X, times = _matrix()
    times.data //= 50_000  # many ties in time
    parts = leave_last_out(X, times, n_test=2, n_val=1, seed=5)
    _assert_partition(X, parts)
    train, val, test = parts
    T = times.toarray()
    for u in range(X.shape[0]):
        newest = T[u][(test[u].toarray()[0] != 0)]
        middle = T[u][(val[u].toarray()[0] != 0)]
        kept = T[u][(train[u].toarray()[0] != 0)]
        if newest.size:
            assert newest.size == 2 and middle.size == 1
            assert newest.min() >= middle.max() >= kept.max()  # nothing newer stays behind
    again = leave_last_out(X, times, n_test=2, n_val=1, seed=5)
    assert all((a != b).nnz == 0 for a, b in zip(parts, again, strict=True))


def test_leave_last_out_needs_matching_times():
    X, times = _matrix()
    with pytest.raises(ValidationError, match="last_ms"):
        leave_last_out(X, times[:, :-1])


def test_global_time_split():
    X, times = _matrix()
    train, val, test = global_time_split(X, times, test_start_ms=700_000, val_start_ms=500_000)
    _assert_partition(X, (train, val, test))
    T = times.toarray()
    assert (T[train.toarray() != 0] < 500_000).all()
    assert ((T[val.toarray() != 0] >= 500_000) & (T[val.toarray() != 0] < 700_000)).all()
    assert (T[test.toarray() != 0] >= 700_000).all()
    _, _, by_fraction = global_time_split(X, times, test_fraction=0.25)
    assert by_fraction.nnz == pytest.approx(0.25 * X.nnz, abs=2)
    with pytest.raises(ValidationError):
        global_time_split(X, times)
