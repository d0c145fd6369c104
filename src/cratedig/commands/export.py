"""``cratedig export events``: the stored events as day-partitioned Parquet."""

from __future__ import annotations

import click

from cratedig.commands.common import CliContext, pass_cli


@click.group("export")
def export_group() -> None:
    """Export store data to files."""


@export_group.command("events")
@click.option(
    "--format", "fmt", type=click.Choice(["parquet"]), default="parquet", show_default=True
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@pass_cli
def export_events_command(ctx: CliContext, fmt: str, out: str, overwrite: bool) -> None:
    """Write every stored event to OUT/day=YYYY-MM-DD/*.parquet (the UTC day)."""
    from cratedig.spark.export import export_events_parquet

    counts = export_events_parquet(ctx.engine(), out, overwrite=overwrite)
    click.echo(f"{counts['events']} events in {counts['days']} day partitions written to {out}")


COMMANDS: list[click.Command] = [export_group]
