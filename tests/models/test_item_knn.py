"""Item-kNN similarities checked by hand on three listeners."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cratedig.exceptions import ValidationError
from cratedig.models.item_knn import item_similarity, keep_top_per_row

# u0 {0, 1}, u1 {0, 1, 2}, u2 {1, 2}: artist 0 has 2 listeners, 1 has 3, 2 has 2.
LISTENS = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], np.float32))


def test_jaccard_and_asymmetric_cosine_by_hand() -> None:
    jaccard = item_similarity(LISTENS, "jaccard").toarray()
    assert jaccard[0, 1] == pytest.approx(2 / 3)  # {u0,u1} / {u0,u1,u2}
    assert jaccard[0, 2] == pytest.approx(1 / 3)  # {u1} / {u0,u1,u2}
    assert np.diag(jaccard).tolist() == [0, 0, 0]
    cosine = item_similarity(LISTENS, "cosine").toarray()
    assert cosine[0, 1] == pytest.approx(2 / np.sqrt(2 * 3))
    asym = item_similarity(LISTENS, "asymmetric_cosine", alpha=1.0).toarray()
    assert asym[0, 1] == pytest.approx(2 / 2)  # |A & B| / |A|
    assert asym[1, 0] == pytest.approx(2 / 3)
    with pytest.raises(ValidationError, match="similarity"):
        item_similarity(LISTENS, "pearson")


def test_keep_top_per_row() -> None:
    matrix = sp.csr_matrix(np.array([[0, 3, 1, 2], [5, 0, 0, 0]], np.float32))
    top = keep_top_per_row(matrix, 2).toarray()
    np.testing.assert_array_equal(top, [[0, 3, 0, 2], [5, 0, 0, 0]])
