"""``cratedig import events|users|artists|tracks FILE``: bulk import that loses nothing.

The ``import`` group also carries the dataset importers of
:data:`cratedig.commands.datasets.IMPORT_SUBCOMMANDS` (``lastfm-hetrec``...).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from cratedig.commands.common import CliContext, pass_cli
from cratedig.commands.datasets import IMPORT_SUBCOMMANDS
from cratedig.ingest.bulk import ImportReport, import_file
from cratedig.ingest.readers import FORMATS

#: How many quarantine reasons the summary shows.
SHOWN_REASONS = 5

_HELP = {
    "events": "user events (event_id, user_id, event_type, occurred_at, artist_id, track_id, "
    "duration_ms, count, tag, session_id, source)",
    "users": "users (user_id, country, region, city, timezone, signup_at, age, gender)",
    "artists": "artists (artist_id, name, tags as 'a|b|c', created_at)",
    "tracks": "tracks (track_id, artist_id, title, duration_ms)",
}


@click.group("import")
def import_group() -> None:
    """Import events, users, artists, tracks or a public dataset into the store.

    Bad rows never stop an import: they go to the quarantine table with their line and
    reason, and the good rows go in. Importing the same file again adds nothing.
    """


def print_summary(report: ImportReport, console: Console | None = None) -> None:
    """Print what an import did: counts, the first quarantine reasons, time and speed."""
    console = console or Console()
    console.print(f"[bold]Imported {report.kind}[/bold] from {report.source}")
    console.print(f"  accepted:      {report.accepted:,}")
    console.print(f"  duplicates:    {report.duplicates:,}")
    if report.conflicts:
        console.print(
            f"  conflicts:     {report.conflicts:,} (event_id stored with different content; "
            "quarantined)"
        )
    console.print(f"  quarantined:   {report.quarantined:,}")
    for reason in report.reasons[:SHOWN_REASONS]:
        console.print(f"    {reason}", markup=False, highlight=False)
    bad = report.quarantined + report.conflicts
    if bad > SHOWN_REASONS:
        console.print(f"    ... and {bad - SHOWN_REASONS:,} more (see the quarantine table)")
    console.print(f"  stubs created: {report.stubs_created:,}")
    console.print(f"  time:          {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)")


def _make_command(kind: str) -> click.Command:
    @click.command(kind, help=f"Import {_HELP[kind]} from FILE (CSV, JSON Lines or Parquet).")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="File format (default: from the extension: .csv, .jsonl/.ndjson, .parquet).",
    )
    @click.option(
        "--strict",
        is_flag=True,
        help="Quarantine rows that reference unknown users, artists or tracks instead of "
        "creating stub records for them, and exit with status 1 when any row was "
        "quarantined (the good rows are still imported).",
    )
    @click.option(
        "--chunk-rows",
        type=click.IntRange(min=1),
        default=None,
        help="Rows per transaction (default: the import_chunk_rows setting, 50,000).",
    )
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    @pass_cli
    def command(
        ctx: CliContext,
        file: Path,
        fmt: str | None,
        strict: bool,
        chunk_rows: int | None,
        quiet: bool,
    ) -> None:
        report = import_file(
            ctx.engine(),
            kind,
            file,
            fmt=fmt,
            strict=strict,
            chunk_rows=chunk_rows or ctx.settings.import_chunk_rows,
            progress=not quiet,
            future_tolerance_ms=round(ctx.settings.future_tolerance_seconds * 1000),
        )
        print_summary(report)
        if strict and (report.quarantined or report.conflicts):
            raise StrictImportFailed(
                f"{report.quarantined + report.conflicts:,} row(s) of {file} were "
                "quarantined under --strict "
                f"(the {report.accepted:,} good rows were imported); see the quarantine table."
            )

    return command


class StrictImportFailed(click.ClickException):
    """``import --strict`` quarantined rows: the command fails (exit status 1)."""

    exit_code = 1


for _kind in ("events", "users", "artists", "tracks"):
    import_group.add_command(_make_command(_kind))
for _command in IMPORT_SUBCOMMANDS:
    import_group.add_command(_command)

COMMANDS: list[click.Command] = [import_group]
