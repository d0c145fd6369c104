"""``cratedig spark train``: the engagement matrix and ALS on Apache Spark (``cratedig[spark]``)."""

from __future__ import annotations

import click

from cratedig.commands.common import CliContext, echo_trained, parse_params, pass_cli


@click.group("spark")
def spark_group() -> None:
    """Train on Apache Spark (needs `pip install cratedig[spark]` and Java 17)."""


@spark_group.command("train")
@click.option(
    "--events",
    required=True,
    metavar="parquet:DIR|jdbc:URL",
    help="Events from `cratedig export events` Parquet, or PostgreSQL over JDBC "
    "(jdbc:postgresql://host:5432/db?user=...).",
)
@click.option(
    "--master", default="local[2]", show_default=True, help="local[N] or spark://host:7077."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="ALS hyperparameter (JSON value), repeatable: --param factors=64.",
)
@click.option("--shuffle-partitions", default=8, show_default=True, type=click.IntRange(1))
@click.option("--k", "k_lists", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--k-similar", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option("--seed", default=0, show_default=True, help="Seed of the holdout split.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@pass_cli
def spark_train_command(
    ctx: CliContext,
    events: str,
    master: str,
    params: tuple[str, ...],
    shuffle_partitions: int,
    k_lists: int,
    k_similar: int,
    seed: int,
    quiet: bool,
) -> None:
    """Build the matrix and fit ALS (implicitPrefs) on Spark; store a new version.

    The version goes through the same holdout evaluation, precomputation and promotion
    rule as `cratedig train`, into the store of --db.
    """
    if not events.startswith(("parquet:", "jdbc:")):
        raise click.BadParameter(
            f"{events!r}: expected parquet:DIR or jdbc:postgresql://...", param_hint="--events"
        )
    model_params = parse_params(params)
    try:
        from cratedig.spark.train import spark_train
    except ImportError as exc:
        raise click.ClickException(
            f"Spark training needs pyspark ({exc}); install it with `pip install cratedig[spark]`"
        ) from None
    version = spark_train(
        ctx.engine(),
        ctx.settings,
        events,
        master=master,
        params=model_params,
        shuffle_partitions=shuffle_partitions,
        k_lists=k_lists,
        k_similar=k_similar,
        seed=seed,
        progress=not quiet,
    )
    echo_trained(version)


COMMANDS: list[click.Command] = [spark_group]
