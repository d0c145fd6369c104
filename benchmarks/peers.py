"""Peer libraries' recommenders behind the ``fit`` / ``recommend`` contract of the protocol.

Each peer gets the very same users x artists matrix as cratedig's models and may
re-weight it itself (``transform``: ``none``, ``log1p``, ``bm25``, ``binary``), tuned like
any other hyperparameter. Lists are padded with ``-1``; training items are filtered
by the library itself (``filter_already_liked_items`` / ``filter_viewed``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from cratedig.matrix.transforms import reweight

HERE = Path(__file__).resolve().parent
#: The virtualenv with RecTools (it needs numpy < 2 and pandas < 3 on Python 3.11).
RECTOOLS_PYTHON = os.environ.get(
    "CRATEDIG_RECTOOLS_PYTHON", str(Path(__file__).resolve().parents[1] / ".venv-bench/bin/python")
)


def _padded(ids: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    out = np.full((ids.shape[0], k), -1, dtype=np.int64)
    width = min(k, ids.shape[1])
    valid = np.isfinite(scores[:, :width]) & (ids[:, :width] >= 0)
    out[:, :width] = np.where(valid, ids[:, :width], -1)
    return out


class ImplicitPeer:
    """implicit's ALS, BPR or cosine item-kNN.

    Parameters
    ----------
    kind
        ``"als"``, ``"bpr"`` or ``"cosine"`` (``implicit.nearest_neighbours.CosineRecommender``).
    transform
        Re-weighting of the input matrix (:func:`cratedig.matrix.transforms.reweight`).
    **params
        Passed to the implicit model's constructor.
    """

    def __init__(self, kind: str, transform: str = "log1p", **params: Any) -> None:
        self.kind = kind
        self.transform = transform
        self.params = params

    def fit(self, X: sp.csr_matrix, side: Any = None) -> ImplicitPeer:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import CosineRecommender

        self.user_items_ = reweight(sp.csr_matrix(X), self.transform)
        if self.kind == "als":
            model: Any = AlternatingLeastSquares(random_state=0, num_threads=1, **self.params)
        elif self.kind == "bpr":
            model = BayesianPersonalizedRanking(random_state=0, num_threads=1, **self.params)
        elif self.kind == "cosine":
            model = CosineRecommender(num_threads=1, **self.params)
        else:
            raise ValueError(f"kind: {self.kind!r} is not known; expected als, bpr or cosine")
        start = time.perf_counter()
        # implicit asks for a single-threaded BLAS around its own threads (its warning)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ParameterWarning)
            model.fit(self.user_items_, show_progress=False)
        self.fit_seconds_ = time.perf_counter() - start
        self.model_ = model
        return self

    def recommend(
        self, user_idx: Any, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        users = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ParameterWarning)
            ids, scores = self.model_.recommend(
                users, self.user_items_[users], N=k, filter_already_liked_items=exclude_seen
            )
        padded = _padded(ids, scores, k)
        return padded, np.where(padded >= 0, 0.0, -np.inf).astype(np.float32)


class RecToolsPeer:
    """A RecTools model, fitted in RecTools' own virtualenv (see ``rectools_peer.py``).

    ``fit`` runs the subprocess, which fits the model and ranks every user's top
    ``k_max``; ``recommend`` slices those lists. ``fit_seconds_`` is RecTools' own fit
    time, measured inside the subprocess (start-up and ranking excluded).
    """

    def __init__(
        self,
        kind: str,
        transform: str = "log1p",
        k_max: int = 10,
        max_items: int = 0,
        **params: Any,
    ) -> None:
        self.kind = kind
        self.transform = transform
        self.k_max = k_max
        self.max_items = max_items
        self.params = params

    def fit(self, X: sp.csr_matrix, side: Any = None) -> RecToolsPeer:
        weighted = reweight(sp.csr_matrix(X), self.transform)
        with tempfile.TemporaryDirectory(prefix="cratedig-rectools-") as tmp:
            in_path, out_path = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(
                in_path,
                indptr=weighted.indptr,
                indices=weighted.indices,
                data=weighted.data,
                shape=np.asarray(weighted.shape),
                model=np.asarray(self.kind),
                params=np.asarray(json.dumps(self.params)),
                k=np.asarray(self.k_max),
                max_items=np.asarray(self.max_items),
            )
            subprocess.run(
                [RECTOOLS_PYTHON, str(HERE / "rectools_peer.py"), str(in_path), str(out_path)],
                check=True,
            )
            result = np.load(out_path)
            self.recs_ = result["recs"]
            self.fit_seconds_ = float(result["fit_seconds"])
        return self

    def recommend(
        self, user_idx: Any, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        if k > self.k_max:
            raise ValueError(f"k == {k}, must be <= k_max ({self.k_max}) for a RecTools peer.")
        users = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        recs = self.recs_[users, :k]
        return recs, np.where(recs >= 0, 0.0, -np.inf).astype(np.float32)


def rectools_available() -> bool:
    """Whether the RecTools virtualenv answers."""
    try:
        subprocess.run(
            [RECTOOLS_PYTHON, "-c", "import rectools"], check=True, capture_output=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True
