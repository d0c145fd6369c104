"""``cratedig simulate``: a seeded, realistic music site, as files or straight into the store."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cratedig.commands.common import CliContext, pass_cli
from cratedig.exceptions import ValidationError
from cratedig.simulator.site import FORMATS, SimulationConfig, simulate_to_store, write_files


def _parse_start(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError("start", value, "a date as YYYY-MM-DD") from None


@click.command("simulate")
@click.option("--users", "n_users", type=int, default=1_000, show_default=True, help="Users.")
@click.option("--artists", "n_artists", type=int, default=2_000, show_default=True, help="Artists.")
@click.option(
    "--events",
    "n_events",
    type=int,
    default=100_000,
    show_default=True,
    help="Target number of events (the result lands within a few percent).",
)
@click.option("--days", type=int, default=90, show_default=True, help="Days simulated.")
@click.option("--start", default=None, help="First day, YYYY-MM-DD (default 2025-01-06).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write users, artists, tracks, events and ground_truth files into this folder.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="File format with --out.",
)
@click.option(
    "--to-store",
    is_flag=True,
    help="Write straight into the store given by --db (ground truth goes to --out if given).",
)
@pass_cli
def simulate(
    cli: CliContext,
    n_users: int,
    n_artists: int,
    n_events: int,
    days: int,
    start: str | None,
    seed: int,
    out_dir: Path | None,
    fmt: str,
    to_store: bool,
) -> None:
    """Simulate a music site: artists, tracks, users, their events and the ground truth.

    The same options (seed included) always give the same data. Users have countries,
    time zones, a taste mixing a few genres and a visit rhythm; artists have genres,
    tags, a home country and long-tailed popularity. The ground truth file holds every
    user's true affinity (0..1) to each artist they could meet, to score
    recommendations against.

    Examples: cratedig simulate --events 1000000 --out sim/ --format parquet;
    cratedig --db sqlite:///site.sqlite simulate --to-store.
    """
    if not to_store and out_dir is None:
        raise click.UsageError("give --out DIR (files) or --to-store (the --db store).")
    config = SimulationConfig(
        n_users=n_users, n_artists=n_artists, n_events=n_events, days=days, seed=seed
    )
    first_day = _parse_start(start)
    if first_day is not None:
        config = replace(config, start=first_day)
    console = Console()
    began = time.perf_counter()
    table = Table("table", "rows inserted / file", title="Simulated site")
    if to_store:
        truth = None if out_dir is None else out_dir / f"ground_truth.{fmt}"
        counts = simulate_to_store(cli.engine(), config, progress=True, ground_truth_path=truth)
        for name, count in counts.items():
            table.add_row(name, f"{count:,}")
        if truth is not None:
            table.add_row("ground truth", str(truth))
    else:
        assert out_dir is not None
        paths = write_files(config, out_dir, fmt=fmt, progress=True)
        for name, path in paths.items():
            table.add_row(name, str(path))
    console.print(table)
    console.print(f"done in {time.perf_counter() - began:.1f} s")


COMMANDS: list[click.Command] = [simulate]
