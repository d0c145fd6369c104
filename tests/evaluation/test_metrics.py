"""Accuracy metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.evaluation import metrics
from cratedig.exceptions import ValidationError


def relevant(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    data, r, c = [], [], []
    for i, items in enumerate(rows):
        for item in items:
            r.append(i)
            c.append(item)
            data.append(1.0)
    return sp.csr_matrix((data, (r, c)), shape=(len(rows), n_items))


# user 0: hits at ranks 1 and 3 out of 3 relevant {1, 3, 9}
# user 1: no hit (relevant {7})
# user 2: no relevant items at all -> undefined
RECS = np.array([[1, 2, 3, 4], [0, 1, 2, 3], [5, 6, -1, -1]])
REL = relevant([[1, 3, 9], [7], []])


def test_hit_matrix_marks_relevant_positions_and_ignores_padding() -> None:
    hits = metrics.hit_matrix(np.array([[1, -1, 3, 42]]), relevant([[1, 3]]))
    assert hits.tolist() == [[True, False, True, False]]


def test_precision_recall_f1_by_hand() -> None:
    p = metrics.precision_at_k(RECS, REL, k=4)
    r = metrics.recall_at_k(RECS, REL, k=4)
    f = metrics.f1_at_k(RECS, REL, k=4)
    assert p[:2] == pytest.approx([2 / 4, 0.0])
    assert r[:2] == pytest.approx([2 / 3, 0.0])
    assert f[0] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert f[1] == 0.0
    assert np.isnan(p[2]) and np.isnan(r[2]) and np.isnan(f[2])


def test_cutoff_shorter_than_list() -> None:
    # at k=2 only item 1 (rank 1) counts
    assert metrics.precision_at_k(RECS, REL, k=2)[0] == pytest.approx(0.5)
    assert metrics.recall_at_k(RECS, REL, k=2)[0] == pytest.approx(1 / 3)


def test_ndcg_by_hand() -> None:
    ndcg = metrics.ndcg_at_k(RECS, REL, k=4)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # min(4, 3) = 3 hits
    assert ndcg[0] == pytest.approx(dcg / idcg)
    assert ndcg[1] == 0.0
    assert np.isnan(ndcg[2])


def test_ndcg_ideal_is_limited_by_k() -> None:
    # 5 relevant items, k = 2, both recommendations relevant -> perfect
    rel = relevant([[0, 1, 2, 3, 4]])
    assert metrics.ndcg_at_k(np.array([[3, 4]]), rel, k=2)[0] == pytest.approx(1.0)


def test_map_by_hand() -> None:
    ap = metrics.average_precision_at_k(RECS, REL, k=4)
    # hits at ranks 1 and 3: (1/1 + 2/3) / min(4, 3)
    assert ap[0] == pytest.approx((1.0 + 2 / 3) / 3)
    assert ap[1] == 0.0


def test_hit_rate() -> None:
    assert metrics.hit_rate_at_k(RECS, REL, k=4)[:2].tolist() == [1.0, 0.0]
    assert metrics.hit_rate_at_k(RECS, REL, k=1)[:2].tolist() == [1.0, 0.0]


def test_empty_lists_score_zero_not_nan() -> None:
    recs = np.full((1, 3), -1)
    rel = relevant([[2]])
    values = metrics.accuracy_metrics(recs, rel, k=3)
    assert all(v[0] == 0.0 for v in values.values())


def test_accuracy_metrics_matches_single_functions() -> None:
    rng = np.random.default_rng(0)
    recs = np.array([rng.permutation(30)[:10] for _ in range(50)])
    rel = sp.random(50, 30, density=0.15, format="csr", random_state=1)
    together = metrics.accuracy_metrics(recs, rel, k=10)
    for name, function in metrics.ACCURACY_METRICS.items():
        np.testing.assert_allclose(together[f"{name}@10"], function(recs, rel, 10))


def test_k_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="k"):
        metrics.precision_at_k(RECS, REL, k=0)


def test_rows_must_match() -> None:
    with pytest.raises(ValidationError, match="relevant"):
        metrics.recall_at_k(RECS, relevant([[1]]), k=2)
