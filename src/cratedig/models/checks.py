"""Validation helpers of the models: errors that name the field, the value and what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from cratedig.exceptions import ValidationError


def invalid(field: str, value: Any, expected: str, message: str | None = None) -> ValidationError:
    """A :class:`ValidationError`, optionally with a custom one-line message.

    Parameters
    ----------
    field, value, expected
        As for :class:`ValidationError`.
    message
        Replaces the default message, e.g. ``"k == 0, must be >= 1."``.
    """
    error = ValidationError(field, value, expected)
    if message is not None:
        error.args = (message,)
    return error


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1, or a ValidationError like ``"k == 0, must be >= 1."``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise invalid(name, value, "an integer >= 1", f"{name} == {value!r}, must be an integer.")
    if value < 1:
        raise invalid(name, value, "an integer >= 1", f"{name} == {value}, must be >= 1.")
    return int(value)


def check_matrix(X: Any, name: str = "X") -> sp.csr_matrix:
    """Validate an engagement matrix and return it as CSR float32 (a copy when converted)."""
    if not sp.issparse(X):
        raise invalid(name, type(X).__name__, "a scipy.sparse users x artists matrix")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise invalid(name, X.shape, "a non-empty 2-D users x artists matrix")
    X = sp.csr_matrix(X, dtype=np.float32)
    X.sum_duplicates()
    X.sort_indices()
    if not np.all(np.isfinite(X.data)):
        raise invalid(name, "non-finite weights", "finite weights (no NaN or inf)")
    return X
