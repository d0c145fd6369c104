"""Subcommands of the scheduler area: ``scheduler run``, ``history`` and ``lease``."""

from __future__ import annotations

import json
import logging
import signal
import threading
from datetime import UTC, datetime
from typing import Any

import click

from cratedig.commands.common import CliContext, pass_cli


def _params(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--param")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.group("scheduler")
def scheduler_group() -> None:
    """Retrain periodically (a long-running process beside the web service)."""


@scheduler_group.command("run")
@click.option("--cron", default=None, help='Retrain on this crontab expression (UTC): "0 3 * * *".')
@click.option(
    "--min-new-events",
    type=click.IntRange(min=1),
    default=None,
    help="Retrain when at least this many events occurred after the last trained snapshot.",
)
@click.option(
    "--check-every",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between checks of the new events.",
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(min=0.5),
    default=60.0,
    show_default=True,
    help="Seconds the lease lasts without renewal (a killed scheduler's lease expires).",
)
@click.option(
    "--backoff",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds to wait after a failed run; doubled per further failure.",
)
@click.option(
    "--backoff-max",
    type=click.FloatRange(min=0.1),
    default=3600.0,
    show_default=True,
    help="Longest wait after failures.",
)
@click.option("--run-now", is_flag=True, help="Also retrain once as soon as the lease is held.")
@click.option(
    "--once",
    is_flag=True,
    help="One pass and exit (for a crontab line): retrain now, or only when "
    "--min-new-events is met; nothing when another scheduler holds the lease.",
)
@click.option("--model", "model_name", default="default", show_default=True)
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE")
@click.option(
    "--k",
    "k_lists",
    type=click.IntRange(1, 500),
    default=None,
    help="Candidates precomputed per user and list (default: the max_k setting).",
)
@click.option("--k-similar", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--tune/--no-tune", default=True, show_default=True)
@pass_cli
def run_command(
    ctx: CliContext,
    cron: str | None,
    min_new_events: int | None,
    check_every: float,
    lease_ttl: float,
    backoff: float,
    backoff_max: float,
    run_now: bool,
    once: bool,
    model_name: str,
    params: tuple[str, ...],
    k_lists: int | None,
    k_similar: int,
    seed: int,
    tune: bool,
) -> None:
    """Retrain on --cron and/or --min-new-events until stopped (SIGTERM or Ctrl-C).

    Only one scheduler acts on a store at a time (a lease row renewed by a heartbeat);
    others wait as standbys and take over when its lease expires. Each run is recorded
    (`cratedig scheduler history`); after failures the scheduler backs off.
    """
    from cratedig.pipeline.scheduler import RetrainScheduler, SchedulerConfig, make_train_fn

    if cron is None and min_new_events is None and not run_now and not once:
        raise click.UsageError("give --cron, --min-new-events, --run-now or --once")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    config = SchedulerConfig(
        cron=cron,
        min_new_events=min_new_events,
        check_every_seconds=check_every,
        lease_ttl_seconds=lease_ttl,
        backoff_seconds=backoff,
        backoff_max_seconds=max(backoff, backoff_max),
        run_now=run_now,
    )
    engine = ctx.engine()
    train_fn = make_train_fn(
        engine,
        ctx.settings,
        model_name=model_name,
        model_params=_params(params),
        k_lists=k_lists,
        k_similar=k_similar,
        seed=seed,
        tune=tune,
    )
    scheduler = RetrainScheduler(engine, config, train_fn)
    if once:
        run = scheduler.run_once()
        click.echo("nothing run" if run is None else f"run {run.run_id}: {run.outcome}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"scheduler {scheduler.holder} started", err=True)
    scheduler.run_forever(stop)
    click.echo("scheduler stopped", err=True)


@scheduler_group.command("history")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@pass_cli
def history_command(ctx: CliContext, limit: int, as_json: bool) -> None:
    """The scheduler's runs, newest first: trigger, start, end, outcome, version, error."""
    from cratedig.store.scheduler import list_runs

    runs = list_runs(ctx.engine(), limit)
    if as_json:
        for run in runs:
            click.echo(json.dumps(run.as_dict()))
        return
    if not runs:
        click.echo("no scheduler runs yet")
        return
    for r in runs:
        line = (
            f"{r.run_id:>5}  {r.trigger:<10} {_when(r.started_at_ms)}  {_when(r.finished_at_ms)}"
            f"  {r.outcome:<11} {r.version_id or '-'}"
        )
        click.echo(line + (f"  {r.error}" if r.error else ""))


@scheduler_group.command("lease")
@pass_cli
def lease_command(ctx: CliContext) -> None:
    """Who holds the scheduler's lease, and until when."""
    from cratedig.clock import now_ms
    from cratedig.pipeline.scheduler import LEASE_NAME
    from cratedig.store.scheduler import read_lease

    lease = read_lease(ctx.engine(), LEASE_NAME)
    if lease is None or not lease.holder:
        click.echo("no scheduler has held the lease")
        return
    state = "held" if lease.expires_at_ms >= now_ms() else "expired"
    click.echo(f"{state}: {lease.holder} until {_when(lease.expires_at_ms)} UTC")


COMMANDS: list[click.Command] = [scheduler_group]
