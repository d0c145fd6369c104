"""Subcommands of the evaluation area: ``cratedig evaluate``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cratedig.commands.common import CliContext, pass_cli
from cratedig.config import Settings

DEFAULT_MODELS = "default,popularity,item_knn,als,ease,hidden_gems"


def _split_names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def run_evaluation(
    engine: Any,
    settings: Settings,
    models: list[str],
    k: int = 10,
    seed: int = 0,
    tune_models: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Build the matrix from the store as ``settings`` say, split it, fit and score each model.

    The matrix is built with :func:`cratedig.matrix.store_config` (the ``[weights]``
    and ``[engagement]`` tables, and the periods people excluded with ``cratedig
    quality decide --exclude``), like ``cratedig train``. The loop is
    :func:`cratedig.evaluation.holdout.score_models`: without tuning, each model is
    fitted with its defaults on train + validation and scored on test; with tuning, its
    small grid (:mod:`cratedig.evaluation.grids`) is searched on validation first.

    Returns
    -------
    (results, meta)
        ``{model: metrics}`` and a description of the run (with the engagement
        configuration used).
    """
    from cratedig.evaluation.grids import grid_for
    from cratedig.evaluation.holdout import Holdout, score_models
    from cratedig.exceptions import ValidationError
    from cratedig.matrix import build_engagement, store_config
    from cratedig.matrix.side import build_side_info

    console = console or Console(stderr=True)
    started = time.perf_counter()
    config = store_config(engine, settings)
    if config.excluded_periods:
        console.print(
            f"Leaving out {len(config.excluded_periods)} excluded period(s) "
            "(`cratedig quality findings`)."
        )
    engagement = build_engagement(engine, config)
    X = engagement.X
    if X.nnz == 0:
        raise ValidationError("store", "no engagement", "events in the store (import some first)")
    side = build_side_info(engine, engagement.users, engagement.artists)
    holdout = Holdout.split(X, seed=seed)
    console.print(
        f"Matrix: {X.shape[0]} users x {X.shape[1]} artists, {X.nnz} pairs; "
        f"split 80/10/10 (seed {seed}): "
        f"{holdout.train.nnz}/{holdout.validation.nnz}/{holdout.test.nnz}."
    )
    results = score_models(
        models,
        holdout,
        k,
        side=side,
        grids=grid_for if tune_models else None,
        progress=progress,
        on_model=lambda name: console.print(f"[bold]{name}[/bold]..."),
    )
    meta = {
        "users": X.shape[0],
        "artists": X.shape[1],
        "pairs": X.nnz,
        "split": holdout.describe(),
        "seed": seed,
        "k": k,
        "tuned": tune_models,
        "models": ", ".join(models),
        "engagement": engagement.config.as_record(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return results, meta


@click.command("evaluate")
@click.option(
    "--models",
    default=DEFAULT_MODELS,
    show_default=True,
    help="Comma-separated model names: default, popularity, popularity_country, "
    "association_rules, item_knn, als, ease, user_clusters, tag_content, hybrid, "
    "hidden_gems, popularity_penalised.",
)
@click.option(
    "--k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="List length."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--tune/--no-tune",
    default=False,
    show_default=True,
    help="Search each model's small grid on validation before the test.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("report/evaluation"),
    show_default=True,
    help="Folder for metrics.json and report.html.",
)
@pass_cli
def evaluate(ctx: CliContext, models: str, k: int, seed: int, tune: bool, out_dir: Path) -> None:
    """Offline evaluation of models on the store's data.

    Builds the engagement matrix as the settings say ([weights] and [engagement]
    tables of the config file), splits each user's artists 80/10/10 at random
    (seeded), fits every model on train + validation (or tunes it on validation first
    with --tune) and ranks the whole catalogue for each test user with their history
    masked. Prints a table and writes OUT/metrics.json and a self-contained
    OUT/report.html with plots.
    """
    from cratedig.evaluation.report import metrics_table, write_html, write_json
    from cratedig.models import list_models

    names = _split_names(models)
    if not names:
        raise click.BadParameter("give at least one model name", param_hint="--models")
    unknown = [name for name in names if name not in list_models()]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} unknown; expected names among {', '.join(list_models())}",
            param_hint="--models",
        )
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table to 80 columns
        console = Console(width=160)
    results, meta = run_evaluation(
        ctx.engine(), ctx.settings, names, k=k, seed=seed, tune_models=tune
    )
    console.print(metrics_table(results, k, title=f"Offline evaluation (k={k}, seed={seed})"))
    json_path = write_json(results, out_dir / "metrics.json", meta)
    html_path = write_html(results, out_dir / "report.html", k, meta)
    console.print(f"Wrote {json_path} and {html_path}.")


COMMANDS: list[click.Command] = [evaluate]
