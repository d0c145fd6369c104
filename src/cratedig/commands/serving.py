"""Subcommands of the serving area: ``train``, ``serve``, ``versions``, ``promote``."""

from __future__ import annotations

import os
import shutil
import sys

import click

from cratedig.commands.common import CliContext, echo_trained, parse_params, pass_cli


@click.command("train")
@click.option(
    "--model",
    "model_name",
    default="default",
    show_default=True,
    help="Model to fit (a name from `cratedig models list`).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Model hyperparameter (JSON value), repeatable: --param factors=64.",
)
@click.option(
    "--k",
    "k_lists",
    default=None,
    type=click.IntRange(1, 500),
    help="Candidates precomputed per user and list (default: the max_k setting, 100).",
)
@click.option(
    "--k-similar",
    default=20,
    show_default=True,
    type=click.IntRange(1, 200),
    help="Similar artists precomputed per artist.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the holdout split.")
@click.option(
    "--tune/--no-tune",
    default=True,
    show_default=True,
    help="Choose the default model's hyperparameters on validation data first.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--require-reviewed",
    is_flag=True,
    help="Stop if a data-quality finding has no decision yet (default: only warn).",
)
@pass_cli
def train_command(
    ctx: CliContext,
    model_name: str,
    params: tuple[str, ...],
    k_lists: int | None,
    k_similar: int,
    seed: int,
    tune: bool,
    quiet: bool,
    require_reviewed: bool,
) -> None:
    """Retrain: build the matrix, fit and evaluate the model, store a new version.

    The default model's hyperparameters are first chosen on the holdout's validation
    part (unless --no-tune or --param is given). The new version is promoted (served)
    unless its NDCG@10 on the holdout's test part is worse than the served version's by
    more than `promotion_margin`. A failed or killed run changes nothing being served.
    """
    from cratedig.pipeline.train import train

    model_params = parse_params(params)
    version = train(
        ctx.engine(),
        ctx.settings,
        model_name=model_name,
        model_params=model_params,
        k_lists=k_lists,
        k_similar=k_similar,
        seed=seed,
        tune=tune,
        progress=not quiet,
        require_reviewed=require_reviewed,
    )
    echo_trained(version)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per worker.",
)
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn.")
@pass_cli
def serve_command(
    ctx: CliContext, host: str, port: int, workers: int, threads: int, dev: bool
) -> None:
    """Serve the JSON API and pages with gunicorn (http://127.0.0.1:8000 by default)."""
    ctx.engine()  # fail early on a bad store URL or an outdated schema; creates an empty one
    if dev:
        from cratedig.serving import create_app

        create_app({"SETTINGS": ctx.settings}).run(host=host, port=port)
        return
    env = dict(os.environ)
    env["CRATEDIG_DATABASE_URL"] = ctx.settings.database_url
    if ctx.config_file:
        env["CRATEDIG_CONFIG"] = ctx.config_file
    gunicorn = shutil.which("gunicorn") or ""
    argv = [sys.executable, "-m", "gunicorn"] if not gunicorn else [gunicorn]
    argv += [
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
        "cratedig.serving:create_app()",
    ]
    click.echo(f"Serving on http://{host}:{port} ({workers} workers)", err=True)
    os.execvpe(argv[0], argv, env)


@click.command("versions")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--cleanup",
    is_flag=True,
    help="First clean up after killed or failed training runs: mark dead 'training' runs "
    "failed, delete the lists and artifact folders of failed runs (never the served "
    "version's, a ready or rejected version's, or a run still going). `train` does this "
    "too before it starts.",
)
@pass_cli
def versions_command(ctx: CliContext, limit: int, cleanup: bool) -> None:
    """List model versions, newest first (the served one is marked with *)."""
    from cratedig.pipeline.cleanup import cleanup_abandoned
    from cratedig.pipeline.registry import list_versions

    if cleanup:
        done = cleanup_abandoned(ctx.engine(), ctx.settings.artifacts_dir)
        click.echo(
            f"cleaned up {len(done.cleaned)} failed run(s) ({len(done.abandoned)} abandoned "
            f"while training): {done.list_rows:,} list rows and {len(done.folders)} "
            "folder(s) deleted"
        )
    for v in list_versions(ctx.engine(), limit):
        ndcg = "   n/a" if v.ndcg_at_10 is None else f"{v.ndcg_at_10:.4f}"
        mark = "*" if v.active else " "
        click.echo(f"{mark} {v.version_id}  {v.status:<8}  {v.model_name:<14} ndcg@10={ndcg}")


@click.command("promote")
@click.argument("version_id")
@pass_cli
def promote_command(ctx: CliContext, version_id: str) -> None:
    """Serve a given ready or rejected version (manual override or rollback)."""
    from cratedig.pipeline.registry import promote

    version = promote(ctx.engine(), version_id)
    click.echo(f"{version.version_id} is now serving.")


COMMANDS: list[click.Command] = [train_command, serve_command, versions_command, promote_command]
