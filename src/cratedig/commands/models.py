"""Subcommands of the models area: ``clusters``."""

from __future__ import annotations

import json
import math

import click
from rich.console import Console
from rich.table import Table

from cratedig.commands.common import CliContext, pass_cli


def _numbers(text: str, kind: type, name: str) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of numbers", param_hint=name
        ) from None
    if not values or any(v <= 0 for v in values):
        raise click.BadParameter(f"{text!r}: every value must be > 0", param_hint=name)
    return values


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


@click.command("clusters")
@click.option(
    "--method",
    type=click.Choice(["kmeans", "dbscan"]),
    default="kmeans",
    show_default=True,
    help="K-means (vary k) or DBSCAN (vary eps).",
)
@click.option(
    "--k", "ks", default="4,8,16", show_default=True, help="K-means k values, comma-separated."
)
@click.option(
    "--eps",
    "eps_values",
    default="0.3,0.5,0.7",
    show_default=True,
    help="DBSCAN eps values, comma-separated.",
)
@click.option(
    "--min-samples",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="DBSCAN core size.",
)
@click.option(
    "--components",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Taste embedding dimensions (TruncatedSVD).",
)
@click.option(
    "--country-weight",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Weight of the one-hot country block joined to the taste embedding (0: taste only).",
)
@click.option(
    "--top",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Top artists and countries shown per cluster.",
)
@click.option("--seed", default=0, show_default=True, help="Random seed of the SVD and K-means.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
@pass_cli
def clusters_command(
    ctx: CliContext,
    method: str,
    ks: str,
    eps_values: str,
    min_samples: int,
    components: int,
    country_weight: float,
    top: int,
    seed: int,
    as_json: bool,
) -> None:
    """Cluster the store's listeners by taste (and optionally country) and report.

    The engagement matrix is built as the settings say ([weights] and [engagement]
    tables of the config file). For each k (K-means) or eps (DBSCAN): cluster sizes,
    each cluster's most engaged artists and commonest countries, and the silhouette
    (higher is better), Davies-Bouldin (lower is better) and Calinski-Harabasz (higher
    is better) scores.
    """
    from cratedig.matrix import build_engagement, store_config
    from cratedig.matrix.side import build_side_info
    from cratedig.models.clusters import cluster_report

    console = Console(stderr=True)
    engine = ctx.engine()
    with console.status("Building the engagement matrix..."):
        engagement = build_engagement(engine, store_config(engine, ctx.settings))
        side = build_side_info(engine, engagement.users, engagement.artists)
    if engagement.X.shape[0] < 3 or engagement.X.nnz == 0:
        raise click.ClickException(
            "the store holds too little engagement to cluster (need >= 3 users)"
        )
    with console.status(f"Clustering {engagement.X.shape[0]} users ({method})..."):
        runs = cluster_report(
            engagement.X,
            side,
            method=method,
            ks=_numbers(ks, int, "--k"),
            eps_values=_numbers(eps_values, float, "--eps"),
            min_samples=min_samples,
            n_components=components,
            country_weight=country_weight,
            top=top,
            random_state=seed,
        )
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(run) for run in runs], indent=2, default=str))
        return
    out = Console()
    summary = Table(title=f"User clusters ({method})")
    for column in (
        "k" if method == "kmeans" else "eps",
        "clusters",
        "noise",
        "silhouette",
        "Davies-Bouldin",
        "Calinski-Harabasz",
    ):
        summary.add_column(column, justify="right")
    for run in runs:
        parameter = str(int(run.parameter)) if method == "kmeans" else f"{run.parameter:g}"
        summary.add_row(
            parameter,
            str(run.n_clusters),
            str(run.n_noise),
            _fmt(run.silhouette),
            _fmt(run.davies_bouldin),
            _fmt(run.calinski_harabasz),
        )
    out.print(summary)
    for run in runs:
        label = f"k={int(run.parameter)}" if method == "kmeans" else f"eps={run.parameter:g}"
        table = Table(title=f"Clusters for {label}")
        table.add_column("cluster", justify="right")
        table.add_column("users", justify="right")
        table.add_column("top artists")
        table.add_column("top countries")
        for cluster in run.clusters:
            table.add_row(
                str(cluster.label),
                str(cluster.size),
                ", ".join(cluster.top_artists),
                ", ".join(cluster.top_countries),
            )
        out.print(table)


COMMANDS: list[click.Command] = [clusters_command]
