"""``cratedig quarantine ...`` (review bad rows) and ``cratedig quality ...`` (collection
gaps and the decisions people take about them)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cratedig.analytics.gaps import run_checks
from cratedig.clock import now_ms
from cratedig.commands.common import CliContext, pass_cli
from cratedig.events import EVENT_TYPES
from cratedig.exceptions import ValidationError
from cratedig.ingest.review import discard, export_rows, retry_file, who_decides
from cratedig.store.quality import (
    QuarantineFilter,
    findings,
    quarantine_groups,
    quarantine_rows,
    record_decision,
)

DAY_MS = 86_400_000
STATUSES = ("open", "retried", "discarded", "all")


def day_ms(text: str, field: str) -> int:
    """Midnight UTC of a ``YYYY-MM-DD`` date, in milliseconds."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, text, "a date as YYYY-MM-DD") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def period_ms(text: str) -> tuple[int, int]:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` (days inclusive) as ``[start, end)``."""
    first, _, last = text.partition("..")
    start = day_ms(first, "period")
    end = day_ms(last, "period") + DAY_MS if last else start + DAY_MS
    if end <= start:
        raise ValidationError("period", text, "a first day on or before the last day")
    return start, end


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _filters(f):
    f = click.option("--source", default=None, help="Rows whose source contains this text.")(f)
    f = click.option("--reason", default=None, help="Rows whose reason contains this text.")(f)
    f = click.option("--since", default=None, help="Rows quarantined on or after YYYY-MM-DD.")(f)
    return f


def _make_filter(
    source: str | None, reason: str | None, since: str | None, status: str
) -> QuarantineFilter:
    return QuarantineFilter(
        source=source,
        reason=reason,
        since_ms=day_ms(since, "since") if since else None,
        status=None if status == "all" else status,
    )


@click.group("quarantine")
def quarantine_group() -> None:
    """Review the rows that imports and the API quarantined: list, show, export, retry,
    discard."""


@quarantine_group.command("list")
@_filters
@click.option("--status", type=click.Choice(STATUSES), default="open", show_default=True)
@click.option(
    "--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Rows shown."
)
@pass_cli
def list_command(
    ctx: CliContext,
    source: str | None,
    reason: str | None,
    since: str | None,
    status: str,
    limit: int,
) -> None:
    """Counts by source and reason, then the rows themselves."""
    filt = _make_filter(source, reason, since, status)
    engine = ctx.engine()
    console = Console()
    groups = quarantine_groups(engine, filt)
    table = Table(title=f"Quarantined rows ({status}) by source and reason")
    for column in ("rows", "source", "reason"):
        table.add_column(column, overflow="fold")
    for g in groups:
        table.add_row(f"{g['rows']:,}", g["source"], g["reason"])
    console.print(table)
    rows = quarantine_rows(engine, filt, limit=limit)
    if rows:
        listing = Table(title=f"The first {len(rows)} rows")
        for column in ("id", "line", "status", "quarantined", "reason"):
            listing.add_column(column, overflow="fold")
        for r in rows:
            listing.add_row(
                str(r.quarantine_id), str(r.line), r.status, _iso(r.created_at_ms), r.reason
            )
        console.print(listing)
    total = sum(g["rows"] for g in groups)
    console.print(f"{total:,} rows in all. `cratedig quarantine show ID` shows one.")


@quarantine_group.command("show")
@click.argument("quarantine_id", type=int)
@pass_cli
def show_command(ctx: CliContext, quarantine_id: int) -> None:
    """One quarantined row: where it came from, why, its raw content and its state."""
    rows = quarantine_rows(ctx.engine(), QuarantineFilter(status=None, ids=(quarantine_id,)))
    if not rows:
        raise click.ClickException(f"quarantine id {quarantine_id} was not found.")
    r = rows[0]
    try:
        raw = json.dumps(json.loads(r.raw), indent=2, ensure_ascii=False)
    except (TypeError, json.JSONDecodeError):
        raw = str(r.raw)
    click.echo(f"id:          {r.quarantine_id}")
    click.echo(f"source:      {r.source}")
    click.echo(f"line:        {r.line}")
    click.echo(f"reason:      {r.reason}")
    click.echo(f"quarantined: {_iso(r.created_at_ms)} UTC")
    click.echo(
        f"status:      {r.status}"
        + (f" ({r.resolution}, {_iso(r.resolved_at_ms)})" if r.resolution else "")
    )
    click.echo("raw:")
    click.echo(raw)


@quarantine_group.command("export")
@_filters
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A .csv or .jsonl file.",
)
@pass_cli
def export_command(
    ctx: CliContext, source: str | None, reason: str | None, since: str | None, out: Path
) -> None:
    """Write open quarantined rows to a file to fix, each with its `_quarantine_id`."""
    n = export_rows(ctx.engine(), _make_filter(source, reason, since, "open"), out)
    click.echo(f"Wrote {n:,} rows to {out}. Fix them, then `cratedig quarantine retry {out}`.")


@quarantine_group.command("retry")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["events", "users", "artists", "tracks"]),
    default="events",
    show_default=True,
    help="What the rows are.",
)
@pass_cli
def retry_command(ctx: CliContext, file: Path, kind: str) -> None:
    """Re-import fixed rows: those that now pass leave the quarantine."""
    report = retry_file(ctx.engine(), file, kind)
    click.echo(f"stored (left the quarantine): {report.stored:,}")
    click.echo(f"still failing (kept open):    {report.still_failing:,}")
    for reason in report.reasons or []:
        click.echo(f"  {reason}")
    if report.unknown_ids:
        click.echo(f"not open in the quarantine (skipped): {report.unknown_ids:,}")


@quarantine_group.command("discard")
@_filters
@click.option("--why", "why", required=True, help="Why the rows are dropped (recorded).")
@click.option("--by", "who", default=None, help="Who decides (default: the login name).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def discard_command(
    ctx: CliContext,
    source: str | None,
    reason: str | None,
    since: str | None,
    why: str,
    who: str | None,
    yes: bool,
) -> None:
    """Close open quarantined rows without importing them, as a recorded decision."""
    filt = _make_filter(source, reason, since, "open")
    n = len(quarantine_rows(ctx.engine(), filt))
    if not yes and not click.confirm(f"Discard {n:,} open quarantined rows?", default=False):
        raise click.Abort()
    decision, closed = discard(ctx.engine(), filt, why, who)
    if not decision:
        click.echo("No open quarantined row matched: nothing discarded, nothing recorded.")
        return
    click.echo(f"Discarded {closed:,} rows (decision {decision}: {why}).")


@click.group("quality")
def quality_group() -> None:
    """Collection-gap checks and the decisions that reach training."""


@quality_group.command("check")
@click.option(
    "--since", default=None, help="First day to judge, YYYY-MM-DD (default: 7 days back)."
)
@click.option(
    "--until", default=None, help="Day after the last to judge (default: the latest event's day)."
)
@pass_cli
def check_command(ctx: CliContext, since: str | None, until: str | None) -> None:
    """Check the event stream against its own history; store and print the findings."""
    lo, hi, found = run_checks(
        ctx.engine(),
        day_ms(since, "since") if since else None,
        day_ms(until, "until") if until else None,
    )
    console = Console()
    if hi <= lo:
        console.print("No whole days of events to check.")
        return
    console.print(f"Checked {_iso(lo)[:10]} .. {_iso(hi - 1)[:10]} (UTC): {len(found)} finding(s).")
    _print_findings(console, found)


@quality_group.command("findings")
@click.option("--since", default=None, help="Findings from YYYY-MM-DD on.")
@pass_cli
def findings_command(ctx: CliContext, since: str | None) -> None:
    """The stored findings and whether a decision covers each."""
    rows = findings(ctx.engine(), day_ms(since, "since") if since else None)
    _print_findings(Console(), rows)


def _print_findings(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table()
    for column in ("period (UTC)", "check", "type", "detail", "reviewed"):
        table.add_column(column, overflow="fold")
    for f in rows:
        table.add_row(
            f"{_iso(f['start_ms'])} .. {_iso(f['end_ms'])[11:]}",
            f["check_name"],
            f["event_type"] or "all",
            f["detail"],
            "" if "reviewed" not in f else ("yes" if f["reviewed"] else "no"),
        )
    console.print(table)


@quality_group.command("decide")
@click.argument("period")
@click.option("--exclude", "action", flag_value="exclude", help="Leave the period out of training.")
@click.option("--keep", "action", flag_value="keep", help="Keep the period (reviewed, fine).")
@click.option("--type", "event_type", default=None, help="Only this event type (default: all).")
@click.option("--note", required=True, help="Why (recorded with the decision).")
@click.option("--by", "who", default=None, help="Who decides (default: the login name).")
@pass_cli
def decide_command(
    ctx: CliContext,
    period: str,
    action: str | None,
    event_type: str | None,
    note: str,
    who: str | None,
) -> None:
    """Decide about PERIOD (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, UTC days inclusive)."""
    if action is None:
        raise click.UsageError("say --exclude or --keep.")
    if event_type is not None and event_type not in EVENT_TYPES:
        raise ValidationError("type", event_type, "an event type: " + ", ".join(EVENT_TYPES))
    start, end = period_ms(period)
    with ctx.engine().begin() as conn:
        decision = record_decision(
            conn,
            action=action,
            start_ms=start,
            end_ms=end,
            event_type=event_type,
            rows_affected=0,
            decided_by=who or who_decides(),
            decided_at_ms=now_ms(),
            note=note,
        )
    what = f"{event_type} events" if event_type else "all events"
    click.echo(f"Decision {decision}: {action} {what} of {period} ({note}).")


COMMANDS: list[click.Command] = [quarantine_group, quality_group]
