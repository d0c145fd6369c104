"""Subcommands of the online area: ``online refresh`` and ``online report``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cratedig.commands.common import CliContext, pass_cli


@click.group("online")
def online_group() -> None:
    """Online measurement: attribution of events to served lists, rollups, report."""


@online_group.command("refresh")
@click.option(
    "--days-back",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Recompute the rows that events of the last N days can change (late events); "
    "with the memory of the last refresh only the rows stored since it are read.",
)
@click.option("--full", is_flag=True, help="Recompute every day.")
@pass_cli
def refresh_command(ctx: CliContext, days_back: int, full: bool) -> None:
    """Update the online rollup tables from the stored events, impressions and feedback.

    Idempotent: rerunning gives the same rows. Prints what was done as JSON.
    """
    from cratedig.online.refresh import refresh

    result = refresh(
        ctx.engine(),
        days_back=days_back,
        full=full,
        window_days=ctx.settings.online_attribution_days,
    )
    click.echo(json.dumps(result.as_dict()))


@online_group.command("report")
@click.option("--since", default=None, help="First impression day, YYYY-MM-DD.")
@click.option("--until", default=None, help="Last impression day, YYYY-MM-DD.")
@click.option(
    "--group-by",
    default="list_type,model_version,variant",
    show_default=True,
    help="Comma-separated subset of day, list_type, model_version, variant.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for report.html, summary.json and the PNG plots (created).",
)
@pass_cli
def report_command(
    ctx: CliContext, since: str | None, until: str | None, group_by: str, out_dir: Path
) -> None:
    """Write the online report (from the rollups: run `online refresh` first)."""
    from cratedig.online.report import build_online_report
    from cratedig.online.summary import parse_day, parse_group_by

    build_online_report(
        ctx.engine(),
        out_dir,
        parse_day("since", since),
        parse_day("until", until),
        tuple(parse_group_by(group_by)),
    )
    click.echo(str(out_dir / "report.html"))


COMMANDS: list[click.Command] = [online_group]
