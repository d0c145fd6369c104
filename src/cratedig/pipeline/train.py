"""Retrain end to end: matrix -> model -> holdout evaluation -> registry -> lists.

:func:`train` is what ``cratedig train`` and the demo run. Every row it writes is
keyed by a new version id; the served version changes only in the final
transaction of :func:`cratedig.pipeline.registry.finish_version`, so a run that fails
or is killed changes nothing being served.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from sqlalchemy import Engine
from threadpoolctl import threadpool_limits

from cratedig.config import Settings
from cratedig.pipeline import cleanup, precompute, registry
from cratedig.pipeline.stages import Stages, stage_progress
from cratedig.store import ensure_schema

ModelFactory = Callable[[], Any]
GemsFactory = Callable[[Any, Any, Any], Any]
#: ``checkpoint(stage, version_id)``: called as each stage starts; raises to stop the run.
Checkpoint = Callable[[str, str], None]


_P = ParamSpec("_P")
_R = TypeVar("_R")

#: BLAS and OpenMP threads while training (EASE's inversion, scoring products,
#: scikit-learn's K-means). One: on a 2-core machine shared with the service, the second
#: thread mostly spins (measured on HetRec: an EASE inversion took 0.5 s of CPU with one
#: OpenBLAS thread and 2.3 s with two on a loaded machine), and training beside gunicorn
#: should leave it a core.
BLAS_THREADS = 1


def _blas_limited(func: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with threadpool_limits(limits=BLAS_THREADS):
            return func(*args, **kwargs)

    return wrapper


def _default_factory(model_name: str, params: dict[str, Any]) -> ModelFactory:
    from cratedig.models import make_model

    return lambda: make_model(model_name, **params)


def _default_gems_factory(model_name: str, params: dict[str, Any]) -> GemsFactory:
    """The Hidden Gems re-ranker over the model just fitted (not a second fit of it)."""

    def make(base: Any, X: Any, side: Any) -> Any:
        from cratedig.models.hidden_gems import HiddenGems

        gems = HiddenGems(base=model_name, base_params=params or None)
        return gems.fit(X, side, base_model=base)

    return make


def _build_engagement(engine: Engine, settings: Settings) -> Any:
    """The matrix as the settings say (``[weights]``, ``[engagement]``), like every command,
    without the periods people excluded (``cratedig quality decide --exclude``)."""
    from cratedig.matrix import build_engagement, store_config

    return build_engagement(engine, store_config(engine, settings))


def _check_findings(engine: Engine, require_reviewed: bool) -> None:
    """List the data-quality findings no decision covers yet; stop if they must be.

    Raises
    ------
    ValidationError
        With ``require_reviewed`` and at least one unreviewed finding.
    """
    from cratedig.exceptions import ValidationError
    from cratedig.store.quality import findings

    open_ = [f for f in findings(engine) if not f["reviewed"]]
    if not open_:
        return
    console = Console(stderr=True)
    console.print(
        f"[yellow]warning:[/yellow] {len(open_)} data-quality finding(s) not reviewed "
        "(decide with `cratedig quality decide PERIOD --exclude|--keep`):"
    )
    for f in open_[:20]:
        day = time.strftime("%Y-%m-%d", time.gmtime(f["start_ms"] / 1000))
        console.print(f"  {day} {f['check_name']} {f['event_type'] or 'all'}: {f['detail']}")
    if len(open_) > 20:
        console.print(f"  ... and {len(open_) - 20} more (`cratedig quality findings`)")
    if require_reviewed:
        raise ValidationError(
            "findings",
            f"{len(open_)} unreviewed",
            "every data-quality finding reviewed before training (--require-reviewed)",
        )


def _engagement_record(eng: Any) -> dict[str, Any]:
    """``{"engagement": configuration}`` for the version's params (nothing if unknown).

    ``now_ms`` is the matrix's "as of" time, so the record rebuilds the same matrix.
    """
    from dataclasses import replace

    from cratedig.matrix.weights import RECORD_KEY, EngagementConfig

    config = getattr(eng, "config", None)
    if not isinstance(config, EngagementConfig):
        return {}
    return {RECORD_KEY: replace(config, now_ms=int(eng.built_at_ms)).as_record()}


def _build_side(engine: Engine, engagement: Any) -> Any:
    from cratedig.matrix.side import build_side_info

    return build_side_info(engine, engagement.users, engagement.artists)


def _taste_clusters(X: Any, side: Any, seed: int) -> Any:
    """Each user's K-means taste cluster (``-1``: no history), for cold-start lists."""
    from cratedig.models.clusters import UserClusters

    if X.shape[0] < 2 or X.shape[1] < 2 or X.nnz == 0:
        return None
    clusters = UserClusters(method="kmeans", n_clusters=8, random_state=seed)
    clusters.fit(X, side)
    return clusters.labels_


def _evaluate(factory: ModelFactory, X: Any, side: Any, seed: int) -> dict[str, float]:
    """Fit on the train + validation parts of a random 80/10/10 holdout, score the test part.

    The same loop as ``cratedig evaluate`` (:func:`cratedig.evaluation.holdout.score_model`).
    """
    from cratedig.evaluation.holdout import Holdout, score_model

    metrics = score_model(factory, Holdout.split(X, seed=seed), k=10, side=side)
    return {str(k): float(v) for k, v in metrics.items()}


#: Validation users the tuning candidates are compared on: all of them up to this many,
#: else a seeded random sample of this many (HetRec has 1,892; a 10M-event site ~89,000,
#: where scoring every user once per candidate would dominate training).
TUNING_USERS = 10_000


def _tune_default(
    X: Any, side: Any, seed: int, progress: bool
) -> tuple[dict[str, Any], dict[str, float]]:
    """Choose the default's hyperparameters on validation, then score them on test.

    The same 80/10/10 holdout as :func:`_evaluate`: each candidate of
    :func:`cratedig.models.default.default_candidates` is fitted on train and scored on
    validation; the best is refitted on train + validation and scored on test.

    Returns
    -------
    (dict, dict)
        The chosen hyperparameters and the test metrics, with ``validation_ndcg@10``
        and ``tuning_candidates`` added.
    """
    from cratedig.evaluation.tuning import model_factory, tune_and_test
    from cratedig.matrix.split import random_holdout
    from cratedig.models.default import default_candidates

    candidates = default_candidates()
    grid = [{name: [value] for name, value in params.items()} for params in candidates]
    train_x, val_x, test_x = random_holdout(X, seed=seed)
    users = np.flatnonzero(np.diff(sp.csr_matrix(val_x).indptr) > 0)
    if len(users) > TUNING_USERS:  # a seeded sample; the test part keeps every user
        users = np.sort(np.random.default_rng(seed).choice(users, TUNING_USERS, replace=False))
    result, test_metrics = tune_and_test(
        model_factory("default"),
        grid,
        train_x,
        val_x,
        test_x,
        side=side,
        seed=seed,
        progress=progress,
        label="tuning the default on validation",
        users=users,
    )
    metrics = {str(k): float(v) for k, v in test_metrics.items()}
    metrics["validation_ndcg@10"] = float(result.best_score)
    metrics["tuning_candidates"] = float(len(candidates))
    return result.best_params, metrics


def _say(enabled: bool, message: str) -> None:
    if enabled:
        Console(stderr=True).log(message)


#: Fault injection for tests: with ``CRATEDIG_TEST_TRAIN_PAUSE=<path>``, a run creates
#: ``<path>`` once its ``may_like`` lists are written and then waits, so that a test can
#: SIGKILL it at a known point (tests/pipeline/test_train_kill.py). Unset: no effect.
TEST_PAUSE_ENV = "CRATEDIG_TEST_TRAIN_PAUSE"


def _test_pause(next_list: str) -> None:
    path = os.environ.get(TEST_PAUSE_ENV)
    if path and next_list == "hidden_gems":
        Path(path).write_text(str(os.getpid()), "utf-8")
        time.sleep(120)


@_blas_limited
def train(
    engine: Engine,
    settings: Settings,
    *,
    model_name: str = "default",
    model_params: dict[str, Any] | None = None,
    model_factory: ModelFactory | None = None,
    gems_factory: GemsFactory | None = None,
    engagement: Any | None = None,
    side: Any | None = None,
    evaluate: Callable[[ModelFactory, Any, Any, int], dict[str, float]] | None = None,
    k_lists: int | None = None,
    k_similar: int = 20,
    k_fallback: int | None = None,
    seed: int = 0,
    tune: bool = True,
    progress: bool = False,
    require_reviewed: bool = False,
    checkpoint: Checkpoint | None = None,
    guard: registry.PromotionGuard | None = None,
) -> registry.ModelVersion:
    """Train, evaluate, register and precompute a new model version.

    Parameters
    ----------
    engine, settings
        The store and settings (``artifacts_dir``, ``promotion_margin``, ``weights``).
    model_name, model_params
        The model to fit (``make_model(model_name, **model_params)``).
    model_factory, gems_factory
        Override how the model is made, and how the fitted Hidden Gems re-ranker is
        made from ``(fitted_base_model, X, side)``.
    engagement, side
        A prebuilt engagement matrix (``.X``, ``.users``, ``.artists``, ``.blocked``,
        ``.built_at_ms``) and side information; built from the store when ``None``.
    evaluate
        ``evaluate(factory, X, side, seed) -> metrics``; by default a random 80/10/10
        holdout (seeded by ``seed``): fitted on train + validation and scored on test
        with ``cratedig.evaluation.evaluate_model`` at k=10.
    tune
        For the default model (``model_name="default"`` with no ``model_params``,
        ``model_factory`` or ``evaluate``): choose its hyperparameters among
        :func:`cratedig.models.default.default_candidates` on the holdout's validation
        part first (the best values depend on the site's data), and record the choice
        in the version's parameters.
    k_lists, k_similar, k_fallback
        Lengths of the precomputed user lists, similar-artist lists and cold-start lists.
    require_reviewed
        Stop (before anything is written) when a data-quality finding has no decision
        yet; without it such findings are only listed as a warning.
        ``k_lists`` defaults to ``settings.max_k`` (the largest ``k`` the API serves),
        ``k_fallback`` to ``k_lists`` or 50, whichever is larger.
    checkpoint, guard
        For the scheduler: ``checkpoint(stage, version_id)`` is called as each stage
        starts and may raise to stop the run (the version is then marked ``failed``);
        ``guard`` runs inside the promotion's transaction
        (:func:`cratedig.pipeline.registry.finish_version`).

    Returns
    -------
    ModelVersion
        The new version: ``ready`` (promoted and served) or ``rejected``.

    Raises
    ------
    Exception
        Whatever made the run fail; the version is then marked ``failed`` and the
        served version is unchanged.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    ensure_schema(engine)
    _check_findings(engine, require_reviewed)
    cleaned = cleanup.cleanup_abandoned(engine, settings.artifacts_dir)
    if cleaned.cleaned:
        _say(progress, f"cleaned up after {len(cleaned.cleaned)} failed or killed run(s)")
    k_lists = settings.max_k if k_lists is None else k_lists
    k_fallback = max(k_lists, 50) if k_fallback is None else k_fallback
    params = dict(model_params or {})
    factory = model_factory or _default_factory(model_name, params)
    make_gems = gems_factory or _default_gems_factory(model_name, params)
    stages = Stages()
    _say(progress, "building the engagement matrix")
    with stages.stage("engagement"):
        eng = engagement if engagement is not None else _build_engagement(engine, settings)
    # The snapshot is the matrix's "as of" time, never later than the wall clock: a
    # snapshot in the future would make every later event "before the snapshot".
    wall_ms = registry.now_ms()
    snapshot_ms = min(int(getattr(eng, "built_at_ms", 0) or wall_ms), wall_ms)
    version_id = registry.new_version_id()
    artifact_dir = Path(settings.artifacts_dir) / version_id
    run_params = {
        **params,
        "k_lists": k_lists,
        "k_similar": k_similar,
        "k_fallback": k_fallback,
        "seed": seed,
        **_engagement_record(eng),
    }
    registry.start_version(
        engine, version_id, model_name, run_params, snapshot_ms, str(artifact_dir)
    )

    if checkpoint is not None:
        stages.on_start = lambda name: checkpoint(name, version_id)

    try:
        with stages.stage("side information"):
            side_info = side if side is not None else _build_side(engine, eng)
        tunable = model_name == "default" and not params and model_factory is None
        if tune and tunable and evaluate is None:
            _say(progress, f"{version_id}: tuning {model_name} on a holdout's validation part")
            with stages.stage("tuning"):
                params, metrics = _tune_default(eng.X, side_info, seed, progress)
            factory = _default_factory(model_name, params)
            make_gems = gems_factory or _default_gems_factory(model_name, params)
            registry.record_params(engine, version_id, {**params, **run_params})
        else:
            _say(progress, f"{version_id}: evaluating {model_name} on a holdout")
            with stages.stage("evaluation"):
                metrics = (evaluate or _evaluate)(factory, eng.X, side_info, seed)
        registry.record_metrics(engine, version_id, metrics, len(eng.users), len(eng.artists))
        blocked = getattr(eng, "blocked", None)
        with stage_progress(progress) as bar:
            stages.bar = bar
            with stages.stage("fitting"):  # the model and Hidden Gems
                model = factory().fit(eng.X, side_info)
                gems = make_gems(model, eng.X, side_info)
            with stages.stage("saving the model"):
                artifact_dir.mkdir(parents=True, exist_ok=True)
                model.save(artifact_dir / "model")
                eng.users.save(artifact_dir / "users.txt")
                eng.artists.save(artifact_dir / "artists.txt")
                (artifact_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), "utf-8")
            for list_type, list_model in (("may_like", model), ("hidden_gems", gems)):
                with stages.stage(f"{list_type} lists", len(eng.users)) as advance:
                    _test_pause(list_type)
                    precompute.precompute_user_lists(
                        engine,
                        version_id,
                        list_type,
                        list_model,
                        eng.users,
                        eng.artists,
                        k_lists,
                        blocked=blocked,
                        progress=advance,
                    )
            with stages.stage("similar artists", len(eng.artists)) as advance:
                precompute.precompute_similar_artists(
                    engine, version_id, model, eng.artists, k_similar, progress=advance
                )
            with stages.stage("cold-start lists"):
                country = getattr(side_info, "user_country", None)
                precompute.precompute_fallbacks(
                    engine,
                    version_id,
                    eng.X,
                    eng.artists,
                    k_fallback,
                    user_country=None if country is None else np.asarray(country),
                    country_names=getattr(side_info, "country_names", ()) or (),
                    user_cluster=_taste_clusters(eng.X, side_info, seed),
                )
        if stages.on_start is not None:
            stages.on_start("promotion")
        metrics = {
            **metrics,
            **stages.metrics(),
            "train_seconds": round(time.perf_counter() - started, 3),
            "train_cpu_seconds": round(time.process_time() - cpu_started, 3),
        }
        registry.record_metrics(engine, version_id, metrics, len(eng.users), len(eng.artists))
        return registry.finish_version(engine, version_id, settings.promotion_margin, guard)
    except BaseException as exc:
        try:
            registry.mark_failed(engine, version_id, f"{type(exc).__name__}: {exc}")
        finally:
            raise
