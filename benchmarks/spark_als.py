"""Spark MLlib ALS against implicit's ALS on Last.fm HetRec 2K, same split, same settings.

Protocol (the accuracy benchmark's, ``benchmarks/accuracy_lastfm.py``):

- input: the raw play counts of ``user_artists.dat`` (1,892 users x 17,632 artists);
- split: per-user random 80/10/10 holdout (``random_holdout``, seeds 0, 1, 2); each model
  is fitted on train + validation and scored once on test (no tuning: both get the
  same hyperparameters);
- both: cratedig's :class:`~cratedig.models.als.ALS` (``log1p`` re-weighting, confidence
  ``1 + alpha * w``), ``factors``, ``regularization``, ``alpha``, ``iterations`` as given;
  one fitted by ``implicit`` (1 thread), one by Spark MLlib
  (:class:`cratedig.spark.als.SparkALS`, ``implicitPrefs=True``) on ``--master``;
- ranking: the whole catalogue, each user's train + validation history masked.

The target: Spark's mean NDCG@10 within 5% of implicit's. Fit times are wall-clock
seconds on whatever machine runs it (MLlib's is the ``fit`` call alone; "Spark total"
adds moving the ratings into Spark and the factors back).

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/spark_als.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from cratedig.evaluation import evaluate_model
from cratedig.evaluation.datasets import load_hetrec_lastfm
from cratedig.matrix.split import random_holdout
from cratedig.models.als import ALS

K = 10
TARGET_RATIO = 0.95
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hetrec2011-lastfm-2k"


def run(
    X: Any, seed: int, params: dict[str, Any], master: str, partitions: int
) -> dict[str, dict[str, float]]:
    """Fit and score both fitters on one seeded split."""
    from cratedig.spark.als import SparkALS
    from cratedig.spark.session import make_session

    make_session(master, app_name="cratedig-bench", shuffle_partitions=partitions)
    train, validation, test = random_holdout(X, (0.8, 0.1, 0.1), seed=seed)
    fit_on = (train + validation).tocsr()
    out: dict[str, dict[str, float]] = {}
    for label, model in (("implicit ALS", ALS(**params)), ("Spark MLlib ALS", SparkALS(**params))):
        started = time.perf_counter()
        model.fit(fit_on)
        total = time.perf_counter() - started
        metrics = evaluate_model(model, fit_on, test, k=K, fit=False)
        out[label] = {
            "ndcg@10": float(metrics["ndcg@10"]),
            "precision@10": float(metrics["precision@10"]),
            "fit_s": float(getattr(model, "fit_seconds_", total)),
            "total_s": total,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--regularization", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    args = parser.parse_args(argv)
    console = Console(width=140)
    params = {
        "factors": args.factors,
        "regularization": args.regularization,
        "alpha": args.alpha,
        "iterations": args.iterations,
        "weighting": "log1p",
    }
    X = load_hetrec_lastfm(args.data, with_side=False).X
    seeds = [int(s) for s in args.seeds.split(",")]
    console.print(
        f"HetRec 2K: {X.shape[0]} users x {X.shape[1]} artists, {X.nnz} pairs; "
        f"ALS {params}; Spark master {args.master}"
    )
    results = {}
    for seed in seeds:
        results[seed] = run(X, seed, params, args.master, args.shuffle_partitions)
        for label, row in results[seed].items():
            console.print(
                f"seed {seed} {label}: NDCG@10 {row['ndcg@10']:.4f}, fit {row['fit_s']:.2f} s"
            )
    labels = list(results[seeds[0]])
    table = Table(title=f"ALS on HetRec 2K, test NDCG@{K} (seeds {args.seeds})")
    table.add_column("fitter")
    for seed in seeds:
        table.add_column(f"NDCG@10 s{seed}", justify="right")
    table.add_column("mean NDCG@10", justify="right")
    table.add_column("mean P@10", justify="right")
    table.add_column("mean fit s", justify="right")
    table.add_column("mean fit+transfer s", justify="right")
    means: dict[str, float] = {}
    for label in labels:
        rows = [results[s][label] for s in seeds]
        means[label] = float(np.mean([r["ndcg@10"] for r in rows]))
        table.add_row(
            label,
            *[f"{r['ndcg@10']:.4f}" for r in rows],
            f"{means[label]:.4f}",
            f"{np.mean([r['precision@10'] for r in rows]):.4f}",
            f"{np.mean([r['fit_s'] for r in rows]):.2f}",
            f"{np.mean([r['total_s'] for r in rows]):.2f}",
        )
    console.print(table)
    ratio = means["Spark MLlib ALS"] / means["implicit ALS"]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    console.print(
        f"Spark / implicit mean NDCG@10 = {ratio:.3f} (target >= {TARGET_RATIO}: {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
