"""``cratedig import lastfm-hetrec`` and ``cratedig import lastfm-1k`` (import group)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from cratedig.commands.common import CliContext, pass_cli
from cratedig.store import schema
from cratedig.store.reads import table_counts

_TABLES = (
    schema.users,
    schema.artists,
    schema.artist_tags,
    schema.tracks,
    schema.user_events,
    schema.user_friends,
    schema.quarantine,
)


def _print_summary(title: str, counts: dict[str, int | float], engine: Engine) -> None:
    console = Console()
    console.print(title)
    added = Table(title="rows added by this run")
    added.add_column("what")
    added.add_column("added", justify="right")
    for key, value in counts.items():
        if key != "seconds":
            added.add_row(key, f"{int(value):,}")
    console.print(added)
    totals = Table(title="rows now in the store")
    totals.add_column("table")
    totals.add_column("rows", justify="right")
    for name, value in table_counts(engine, _TABLES).items():
        totals.add_row(name, f"{value:,}")
    console.print(totals)
    console.print(f"Done in {counts['seconds']:.1f} s.")


@click.command("lastfm-hetrec")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per transaction (default: the import_chunk_rows setting).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress bars."
)
@pass_cli
def lastfm_hetrec_command(
    ctx: CliContext, data_dir: Path, chunk_rows: int | None, progress: bool
) -> None:
    """Import the HetRec 2011 Last.fm 2K folder DATA_DIR (hetrec2011-lastfm-2k).

    Users, artists (ids "hetrec-u<N>", "hetrec-a<N>"), tags ranked by how many
    users applied them, plays as aggregated play_track events dated 2011-05-01 UTC,
    dated tag_artist events, friends; artists named only in the tag file become
    stub artists. Safe to run twice: a second run adds nothing. See docs/datasets.md.
    """
    from cratedig.datasets.lastfm_hetrec import import_hetrec

    engine = ctx.engine()
    counts = import_hetrec(
        engine,
        data_dir,
        progress=progress,
        chunk_rows=chunk_rows or ctx.settings.import_chunk_rows,
    )
    _print_summary(f"HetRec Last.fm 2K from {data_dir}", counts, engine)


@click.command("lastfm-1k")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Read at most this many log lines."
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Log lines per transaction (default: the import_chunk_rows setting).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress bars."
)
@pass_cli
def lastfm_1k_command(
    ctx: CliContext,
    paths: tuple[Path, ...],
    limit: int | None,
    chunk_rows: int | None,
    progress: bool,
) -> None:
    """Import Last.fm 1K profiles and/or listening log from PATHS.

    PATHS is the lastfm-1K folder (userid-profile.tsv and a
    userid-timestamp-artid-artname-traid-traname*.tsv log, plain or .gz) or the
    files themselves. Plays become play_track events; artists and tracks get their
    MusicBrainz ids, or ids derived from their names. Bad lines are quarantined.
    Safe to run twice. See docs/datasets.md.
    """
    from cratedig.datasets.lastfm_1k import import_lastfm_1k

    engine = ctx.engine()
    counts = import_lastfm_1k(
        engine,
        list(paths),
        chunk_rows=chunk_rows or ctx.settings.import_chunk_rows,
        limit=limit,
        progress=progress,
    )
    _print_summary("Last.fm 1K from " + ", ".join(str(p) for p in paths), counts, engine)


#: Subcommands that the ``import`` group (commands/ingest.py) attaches.
IMPORT_SUBCOMMANDS: list[click.Command] = [lastfm_hetrec_command, lastfm_1k_command]
COMMANDS: list[click.Command] = []
