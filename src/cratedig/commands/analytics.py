"""Subcommands of the analytics area: ``report`` and ``user-profile``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cratedig.commands.common import CliContext, pass_cli


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write report.html, summary.json and the PNG plots into (created).",
)
@click.option(
    "--gap-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Idle minutes that end a visit (default: the session_gap_minutes setting, 30).",
)
@click.option("--title", default="cratedig analytics report", show_default=True)
@click.option("--quiet", is_flag=True, help="Do not show progress.")
@pass_cli
def report_command(
    ctx: CliContext, out_dir: Path, gap_minutes: float | None, title: str, quiet: bool
) -> None:
    """Write the analytics report of the store into a folder.

    Writes PNG plots (active users, visits, segments, heat map, event mix, top
    artists, Lorenz curve, follow churn, retention), one self-contained report.html
    that embeds them (opens offline) and summary.json with the figures. Sections the
    data cannot support are left out, and the report says why.
    """
    from cratedig.analytics.report import build_report

    gap = gap_minutes if gap_minutes is not None else ctx.settings.session_gap_minutes
    console = Console(stderr=True)
    summary = build_report(
        ctx.engine(), out_dir, gap_minutes=gap, title=title, progress=not quiet, console=console
    )
    if not quiet:
        console.print(
            f"[green]Report written[/green] to {out_dir / 'report.html'} "
            f"({len(summary['plots'])} plots, {summary['seconds']:.1f} s)."
        )
        for note in summary.get("cannot_show", []):
            console.print(f"[yellow]note:[/yellow] {note}")
    click.echo(str(out_dir / "report.html"))


def _print_profile(profile: dict[str, Any]) -> None:
    console = Console()
    head = Table(title=f"User {profile['user_id']}", show_header=False, title_justify="left")
    head.add_column("field", style="bold")
    head.add_column("value")
    for key in ("country", "timezone", "signup_at", "first_activity", "last_activity"):
        head.add_row(key.replace("_", " "), str(profile.get(key) or "—"))
    head.add_row("event rows", f"{profile['event_rows']:,}")
    head.add_row(
        "events by type",
        ", ".join(f"{k}: {v:,}" for k, v in profile["events_by_type"].items()) or "—",
    )
    visits = profile.get("visits")
    if visits:
        head.add_row(
            "visits",
            f"{visits['visits']:,} on {visits['active_days']:,} days "
            f"({visits['visits_per_week']:.2f}/week; segment: {visits['segment']})",
        )
    elif profile.get("visits_note"):
        head.add_row("visits", profile["visits_note"])
    console.print(head)
    top = Table(title="Top artists by engagement", title_justify="left")
    for name in ("#", "artist", "artist_id", "engagement", "plays"):
        top.add_column(name, justify="right" if name in ("#", "engagement", "plays") else "left")
    for i, row in enumerate(profile["top_artists"], start=1):
        top.add_row(
            str(i),
            row["name"] or "—",
            row["artist_id"],
            f"{row['engagement']:.2f}",
            f"{row['plays']:,}",
        )
    console.print(top)


@click.command("user-profile")
@click.argument("user_id")
@click.option("--top", "top_n", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--gap-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Idle minutes that end a visit (default: the session_gap_minutes setting, 30).",
)
@pass_cli
def user_profile_command(
    ctx: CliContext, user_id: str, top_n: int, as_json: bool, gap_minutes: float | None
) -> None:
    """Show one user's summary: visit frequency, top artists, last activity.

    Top artists are ranked by engagement (event weights from the settings, plays
    counted by duration). An unknown USER_ID is an error (exit code 2).
    """
    from cratedig.analytics.profile import user_profile

    settings = ctx.settings
    profile = user_profile(
        ctx.engine(),
        user_id,
        gap_minutes=gap_minutes if gap_minutes is not None else settings.session_gap_minutes,
        weights=settings.weights,
        top_n=top_n,
    )
    if as_json:
        click.echo(json.dumps(profile, indent=2, default=str))
    else:
        _print_profile(profile)


COMMANDS: list[click.Command] = [report_command, user_profile_command]
