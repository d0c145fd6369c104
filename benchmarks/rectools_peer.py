"""Fit one RecTools model and write every user's top-k list (a peer of the accuracy benchmark).

Runs in a separate virtualenv, because RecTools pins numpy < 2 and pandas < 3 on
Python < 3.13 (and replaces ``implicit`` with its fork ``pm-implicit``), which would
downgrade cratedig's own environment. ``accuracy_lastfm.py`` calls it as::

    VENV/bin/python benchmarks/rectools_peer.py IN.npz OUT.npz

IN.npz holds the training matrix (``indptr``, ``indices``, ``data``, ``shape``), the
model (``model``: ``"ease"`` or ``"pure_svd"``), its parameters as JSON (``params``),
``k`` and ``max_items`` (0: no cap; else only the most-listened ``max_items`` items are
modelled). OUT.npz gets ``recs`` (users x k item indices, -1 padding, training
items filtered) and ``fit_seconds``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rectools import Columns
from rectools.dataset import Dataset
from rectools.models import EASEModel, PureSVDModel


def main(in_path: str, out_path: str) -> None:
    payload = np.load(in_path, allow_pickle=False)
    shape = tuple(int(v) for v in payload["shape"])
    X = sp.csr_matrix((payload["data"], payload["indices"], payload["indptr"]), shape=shape)
    name = str(payload["model"])
    params = json.loads(str(payload["params"]))
    k = int(payload["k"])
    max_items = int(payload["max_items"])

    coo = X.tocoo()
    users, items, weights = coo.row, coo.col, coo.data
    if max_items and max_items < shape[1]:
        listeners = np.bincount(items, minlength=shape[1])
        keep_items = np.argsort(-listeners, kind="stable")[:max_items]
        keep = np.isin(items, keep_items)
        users, items, weights = users[keep], items[keep], weights[keep]
    interactions = pd.DataFrame(
        {
            Columns.User: users,
            Columns.Item: items,
            Columns.Weight: weights.astype(np.float64),
            Columns.Datetime: pd.Timestamp("2011-01-01"),
        }
    )
    dataset = Dataset.construct(interactions)
    if name == "ease":
        model = EASEModel(regularization=float(params["regularization"]))
    elif name == "pure_svd":
        # no random_state: RecTools passes a RandomState that scipy 1.17's svds rejects
        model = PureSVDModel(factors=int(params["factors"]))
    else:
        raise SystemExit(f"model: {name!r} is not known; expected 'ease' or 'pure_svd'")
    start = time.perf_counter()
    model.fit(dataset)
    fit_seconds = time.perf_counter() - start

    known_users = np.unique(users)
    recs = np.full((shape[0], k), -1, dtype=np.int64)
    if known_users.size:
        # filter_viewed masks the items each user has in (the modelled part of) train
        table = model.recommend(known_users, dataset, k=k, filter_viewed=True)
        # users with all their history outside the cap are unknown to the model
        rows = table[Columns.User].to_numpy(dtype=np.int64)
        ranks = table[Columns.Rank].to_numpy(dtype=np.int64) - 1
        recs[rows, ranks] = table[Columns.Item].to_numpy(dtype=np.int64)
    np.savez(out_path, recs=recs, fit_seconds=np.float64(fit_seconds))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
