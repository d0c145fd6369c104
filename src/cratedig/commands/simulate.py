"""``cratedig simulate``: a seeded, realistic music site, as files or straight into the store.

``cratedig simulate-traffic``: simulated listeners of that site using a running service
(over HTTP, or in process with ``--in-process``).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from cratedig.commands.common import CliContext, pass_cli
from cratedig.exceptions import ValidationError
from cratedig.simulator.site import FORMATS, SimulationConfig, simulate_to_store, write_files

F = TypeVar("F", bound=Callable[..., Any])


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


def _site_option(name: str, default: int, what: str) -> Callable[[F], F]:
    return click.option(
        f"--site-{name}",
        f"site_{name}",
        type=int,
        default=default,
        show_default=True,
        help=f"{what} of the site simulation that filled the store (as `cratedig simulate`).",
    )


@click.command("simulate-traffic")
@click.option("--days", type=int, default=7, show_default=True, help="Simulated days.")
@click.option("--users", type=int, default=100, show_default=True, help="Listeners.")
@click.option("--seed", type=int, default=0, show_default=True, help="Traffic seed.")
@click.option(
    "--base-url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The running service (ignored with --in-process).",
)
@click.option(
    "--in-process",
    is_flag=True,
    help="Serve in this process (Flask's test client on the --db store) instead of HTTP.",
)
@click.option(
    "--api-key",
    default=None,
    help="X-API-Key for writes (default: CRATEDIG_TRAFFIC_API_KEY, else the first configured key).",
)
@click.option("--k", type=int, default=10, show_default=True, help="Items per list.")
@click.option(
    "--start",
    default=None,
    help="First simulated day, YYYY-MM-DD (default: the day after the store's last event "
    "when the store is known (--in-process, --db), else the end of the site's period).",
)
@click.option(
    "--visit-scale", type=float, default=1.0, show_default=True, help="Multiplies visit rates."
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("traffic_log.jsonl"),
    show_default=True,
    help="JSON Lines log of every action.",
)
@_site_option("users", 1_000, "Users")
@_site_option("artists", 2_000, "Artists")
@_site_option("events", 100_000, "Events")
@_site_option("days", 90, "Days")
@_site_option("seed", 0, "Seed")
@click.option("--site-start", default=None, help="First day of the site simulation, YYYY-MM-DD.")
@pass_cli
def simulate_traffic_command(
    cli: CliContext,
    days: int,
    users: int,
    seed: int,
    base_url: str,
    in_process: bool,
    api_key: str | None,
    k: int,
    start: str | None,
    visit_scale: float,
    log_path: Path,
    site_users: int,
    site_artists: int,
    site_events: int,
    site_days: int,
    site_seed: int,
    site_start: str | None,
) -> None:
    """Simulated listeners of the simulated site using a running service.

    Each listener (a user of `cratedig simulate` with the same --site-* options, so
    with the same true taste) visits on their own rhythm, fetches their May Like and
    Hidden Gems lists, examines them top-down with a position bias, clicks, plays
    (longer when they like the artist), follows, shares, skips, gives thumbs and rates
    lists; they keep listening organically and may subscribe. Events carry simulated
    times and `source` = the list id. With --in-process the service's clock follows the
    simulated time, so the lists served (impressions) and feedback are stored at
    simulated times too (over HTTP the service keeps its own clock). Every action goes
    to --log (JSON Lines).

    Examples: cratedig simulate-traffic --days 14 --users 200 --base-url
    http://127.0.0.1:8000 --api-key KEY; cratedig --db sqlite:///site.sqlite
    simulate-traffic --in-process.
    """
    from cratedig.simulator.client import HttpClient, TestClientAdapter, TrafficClient
    from cratedig.simulator.traffic import TrafficConfig, next_midnight_ms, simulate_traffic
    from cratedig.store.reads import latest_event_ms

    site = SimulationConfig(
        n_users=site_users, n_artists=site_artists, n_events=site_events, days=site_days,
        seed=site_seed,
    )  # fmt: skip
    site_first = _parse_start(site_start)
    if site_first is not None:
        site = replace(site, start=site_first)
    first_day = _parse_start(start)
    start_ms: int = site.end_ms
    if first_day is not None:
        start_ms = replace(site, start=first_day).start_ms
    elif in_process or cli.database_url is not None or os.environ.get("CRATEDIG_DATABASE_URL"):
        with cli.engine().connect() as conn:
            last = latest_event_ms(conn)
        if last is not None:
            start_ms = next_midnight_ms(last)
    config = TrafficConfig(
        days=days, users=users, seed=seed, start_ms=start_ms, k=k, visit_scale=visit_scale
    )
    key = api_key or os.environ.get("CRATEDIG_TRAFFIC_API_KEY")
    app = None
    client: TrafficClient
    if in_process:
        from cratedig.serving import create_app

        settings = cli.settings
        if key is None:
            key = settings.api_keys[0] if settings.api_keys else "traffic-" + secrets.token_hex(8)
        if key not in settings.api_keys:
            settings = replace(settings, api_keys=(*settings.api_keys, key))
        app = create_app({"ENGINE": cli.engine(), "SETTINGS": settings})
        client = TestClientAdapter(app.test_client(), key)
    else:
        if key is None and cli.settings.api_keys:
            key = cli.settings.api_keys[0]
        client = HttpClient(base_url, key)
    try:
        summary = simulate_traffic(client, site, config, log_path=log_path, progress=True)
    finally:
        if app is not None:
            app.extensions["cratedig"].close()  # writes the buffered impressions
        if isinstance(client, HttpClient):
            client.close()
    table = Table("what", "count", title="Simulated traffic")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    console = Console()
    console.print(table)
    begin = datetime.fromtimestamp(summary.start_ms / 1000, UTC).strftime("%Y-%m-%d")
    console.print(
        f"{summary.listeners} listeners, {summary.visits} visits over {days} simulated days "
        f"from {begin}; log: {summary.log_path}; done in {summary.seconds:.1f} s"
    )


COMMANDS: list[click.Command] = [simulate, simulate_traffic_command]
