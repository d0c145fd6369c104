"""Beyond-accuracy metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.evaluation import beyond


def test_coverage_counts_distinct_valid_items() -> None:
    recs = np.array([[0, 1, -1], [1, 2, -1]])
    assert beyond.catalogue_coverage(recs, n_items=6) == pytest.approx(3 / 6)


def test_item_popularity_is_share_of_users() -> None:
    train = sp.csr_matrix(np.array([[1, 0, 2], [3, 0, 0], [0, 0, 5], [1, 0, 0]]))
    assert beyond.item_popularity(train).tolist() == [0.75, 0.0, 0.5]


def test_novelty_is_mean_self_information() -> None:
    popularity = np.array([0.5, 0.25, 0.0])
    recs = np.array([[0, 1], [1, -1]])
    assert beyond.novelty(recs, popularity) == pytest.approx((1 + 2 + 2) / 3)
    # an item nobody played counts as played by one of n_users
    assert beyond.novelty(np.array([[2]]), popularity, n_users=8) == pytest.approx(3.0)
    assert math.isnan(beyond.novelty(np.array([[-1]]), popularity))


def test_intra_list_diversity_by_hand() -> None:
    tags = sp.csr_matrix(
        np.array(
            [
                [1.0, 0.0],  # item 0: tag a
                [1.0, 0.0],  # item 1: tag a (identical to 0)
                [0.0, 3.0],  # item 2: tag b (orthogonal)
                [1.0, 1.0],  # item 3: both, cos 1/sqrt(2) with 0 and 2
                [0.0, 0.0],  # item 4: untagged, left out
            ]
        )
    )
    recs = np.array([[0, 1, -1], [0, 2, 4], [0, 2, 3], [4, 0, -1]])
    ild = beyond.intra_list_diversity(recs, tags)
    assert ild[0] == pytest.approx(0.0)
    assert ild[1] == pytest.approx(1.0)
    c = 1 / math.sqrt(2)
    assert ild[2] == pytest.approx(1 - (0 + c + c) / 3)
    assert math.isnan(ild[3])


def test_popular_head_and_long_tail_share() -> None:
    # item listeners: 0 -> 6, 1 -> 2, 2 -> 1, 3 -> 1 (10 interactions)
    rows = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    cols = [0, 0, 0, 0, 0, 0, 1, 1, 2, 3]
    train = sp.csr_matrix((np.ones(10), (rows, cols)), shape=(6, 4))
    head = beyond.popular_head_mask(train, head_fraction=0.25)
    assert head.tolist() == [True, False, False, False]
    head = beyond.popular_head_mask(train, head_fraction=0.3)  # ceil(1.2) = 2 items
    assert head.tolist() == [True, True, False, False]
    # ties (items 2 and 3, one user each) go to the lower index
    assert beyond.popular_head_mask(train, head_fraction=0.6).tolist() == [True, True, True, False]
    recs = np.array([[0, 2], [3, -1]])
    assert beyond.long_tail_share(recs, head) == pytest.approx(2 / 3)


def test_restrict_to_items_drops_columns() -> None:
    rel = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]]))
    kept = beyond.restrict_to_items(rel, np.array([True, False, True]))
    assert kept.toarray().tolist() == [[1, 0, 0], [0, 0, 1]]
