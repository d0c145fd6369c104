"""Re-weighting of engagement matrices that several models share."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight, tfidf_weight

from cratedig.models.base import invalid

WEIGHTINGS = ("none", "log1p", "root4", "binary", "bm25", "tfidf")


def apply_weighting(
    X: sp.csr_matrix, scheme: str | None, bm25_k1: float = 100.0, bm25_b: float = 0.8
) -> sp.csr_matrix:
    """Re-weight a users x artists matrix (a new CSR float32 matrix).

    Parameters
    ----------
    X
        Users x artists weights (negative weights are clipped to 0 first).
    scheme
        ``"none"`` (as is), ``"log1p"`` (log(1 + w), tames play counts), ``"root4"``
        (the fourth root ``w ** 0.25``, tames them a little less), ``"binary"`` (1 where
        engaged), ``"bm25"`` or ``"tfidf"`` (implicit's item weighting of each
        user's artists).
    """
    scheme = scheme or "none"
    if scheme not in WEIGHTINGS:
        raise invalid("weighting", scheme, f"one of: {', '.join(WEIGHTINGS)}")
    out = sp.csr_matrix(X, dtype=np.float32, copy=True)
    np.maximum(out.data, 0.0, out=out.data)
    if scheme == "log1p":
        out.data = np.log1p(out.data)
    elif scheme == "root4":
        out.data = np.sqrt(np.sqrt(out.data))
    elif scheme == "binary":
        out.data = (out.data > 0).astype(np.float32)
    elif scheme == "bm25":
        out = sp.csr_matrix(bm25_weight(out, K1=bm25_k1, B=bm25_b), dtype=np.float32)
    elif scheme == "tfidf":
        out = sp.csr_matrix(tfidf_weight(out), dtype=np.float32)
    out.eliminate_zeros()
    return out
