"""Fitting each distinct component once while several candidates are tried.

Tuning the default hybrid fits six candidates that differ only in EASE's ``l2`` and
``popularity_exponent``: the ALS component is the same fit six times, and EASE's item
weights ``B`` depend on ``l2`` but not on the exponent (which only rescales scores).
Inside :func:`shared_fits`, :meth:`cratedig.models.hybrid.Hybrid` asks
:func:`fit_component` for its components, which fits each distinct
``(name, params, training matrix, side information)`` once and hands the same fitted
model back afterwards; an EASE differing only in ``popularity_exponent`` is a shallow
copy of the fitted one with its score scale recomputed. Fits are deterministic (fixed
seeds), so results are identical to fitting every candidate from scratch.

Outside the context every call fits a new model, as before.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.matrix.side import SideInfo
from cratedig.models.base import Recommender
from cratedig.models.registry import make_model

#: Hyperparameters that change a fitted model's scores but not what it learns, by model.
_SCORE_ONLY: dict[str, tuple[str, ...]] = {"ease": ("popularity_exponent",)}

_CACHE: contextvars.ContextVar[dict[tuple[Any, ...], Recommender] | None] = contextvars.ContextVar(
    "cratedig_shared_fits", default=None
)


@contextmanager
def shared_fits() -> Iterator[dict[tuple[Any, ...], Recommender]]:
    """Reuse fitted components inside the block (nested blocks share the outer cache)."""
    outer = _CACHE.get()
    if outer is not None:
        yield outer
        return
    cache: dict[tuple[Any, ...], Recommender] = {}
    token = _CACHE.set(cache)
    try:
        yield cache
    finally:
        _CACHE.reset(token)
        cache.clear()


def matrix_fingerprint(X: sp.csr_matrix) -> str:
    """A digest of a CSR matrix's shape and contents (equal matrices, equal digests)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((X.shape, X.nnz, str(X.dtype))).encode())
    for array in (X.indptr, X.indices, X.data):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def fit_component(
    name: str, params: dict[str, Any], X: sp.csr_matrix, side: SideInfo | None
) -> Recommender:
    """``make_model(name, **params).fit(X, side)``, reusing an earlier equal fit when
    inside :func:`shared_fits`.

    The returned model may be shared with other callers inside the block: treat it as
    read-only.
    """
    cache = _CACHE.get()
    if cache is None:
        return make_model(name, **params).fit(X, side)
    score_only = {key: params[key] for key in _SCORE_ONLY.get(name, ()) if key in params}
    learned = {key: value for key, value in params.items() if key not in score_only}
    key = (
        name,
        json.dumps(learned, sort_keys=True, default=str),
        matrix_fingerprint(X),
        id(side),
    )
    fitted = cache.get(key)
    if fitted is None or fitted.side_ is not side:
        fitted = make_model(name, **learned).fit(X, side)
        cache[key] = fitted
    if not score_only:
        return fitted
    variant = copy.copy(fitted)
    variant.set_params(**score_only)
    variant._rescale()  # type: ignore[attr-defined]
    return variant
