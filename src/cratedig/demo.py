"""``python -m cratedig.demo --dir demo-data`` (``make demo``): cratedig end to end.

The demo runs as a list of steps, each a function of the shared :class:`DemoState`:

1. ``simulate``: a small seeded site (2,000 users, 3,000 artists, ~300,000 events)
   straight into a fresh SQLite store in ``--dir`` (ground truth next to it);
2. ``describe``: what the store holds (rows per table, event mix, date range, top
   artists);
3. ``train``: build the engagement matrix, fit the default model and Hidden Gems,
   evaluate on a holdout, register and promote the version, precompute the lists;
4. ``evaluate``: print the holdout metrics of the new version;
5. ``serve``: run the site with gunicorn at http://127.0.0.1:8000 (skipped with
   ``--no-serve``) in **demo mode** (``CRATEDIG_PAGES_DEMO_MODE=true``): any visitor
   may act as any simulated listener, so the page buttons work without a login.
   Never turn demo mode on for a real site (``docs/security.md``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine, schema
from cratedig.store.reads import table_counts
from cratedig.store.secrets import stored_secret

DB_NAME = "cratedig.sqlite"
TRUTH_NAME = "ground_truth.parquet"


@dataclass
class DemoState:
    """What the steps share: options, the console, the store and each step's results."""

    directory: Path
    config: SimulationConfig
    console: Console
    engine: Engine | None = None
    results: dict[str, Any] = field(default_factory=dict)
    serve: bool = False
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def db_path(self) -> Path:
        return self.directory / DB_NAME


def _fresh_store(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    stored_secret(engine)  # as `cratedig init-db` does
    return engine


def step_simulate(state: DemoState) -> None:
    """Simulate the site into a fresh SQLite store; ground truth as Parquet beside it."""
    state.directory.mkdir(parents=True, exist_ok=True)
    state.engine = _fresh_store(state.db_path)
    cfg = state.config
    state.console.print(
        f"Simulating {cfg.n_users:,} users, {cfg.n_artists:,} artists, "
        f"~{cfg.n_events:,} events over {cfg.days} days (seed {cfg.seed}) into {state.db_path}"
    )
    counts = simulate_to_store(
        state.engine, cfg, progress=True, ground_truth_path=state.directory / TRUTH_NAME
    )
    state.results["simulate"] = counts


def _day(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_store(engine: Engine, top: int = 10) -> dict[str, Any]:
    """Rows per table, event mix, date range and most played artists of a store."""
    ev = schema.user_events
    tables = table_counts(
        engine, (schema.users, schema.artists, schema.artist_tags, schema.tracks, ev)
    )
    with engine.connect() as conn:
        mix = conn.execute(
            select(ev.c.event_type, func.count())
            .group_by(ev.c.event_type)
            .order_by(func.count().desc())
        ).all()
        first, last = conn.execute(
            select(func.min(ev.c.occurred_at_ms), func.max(ev.c.occurred_at_ms))
        ).one()
        plays = func.count().label("plays")
        top_rows = conn.execute(
            select(ev.c.artist_id, schema.artists.c.name, plays)
            .join(schema.artists, schema.artists.c.artist_id == ev.c.artist_id)
            .where(ev.c.event_type == "play_track")
            .group_by(ev.c.artist_id, schema.artists.c.name)
            .order_by(plays.desc(), ev.c.artist_id)
            .limit(top)
        ).all()
    return {
        "tables": tables,
        "event_mix": [(str(t), int(n)) for t, n in mix],
        "first_ms": first,
        "last_ms": last,
        "top_artists": [(str(a), str(n), int(p)) for a, n, p in top_rows],
    }


def step_describe(state: DemoState) -> None:
    """Print what the store holds."""
    assert state.engine is not None
    info = describe_store(state.engine)
    state.results["describe"] = info
    out = state.console
    tables = Table("table", "rows", title="Store contents")
    for name, count in info["tables"].items():
        tables.add_row(name, f"{count:,}")
    out.print(tables)
    total = max(1, info["tables"]["user_events"])
    mix = Table("event type", "events", "share", title="Event mix")
    for etype, count in info["event_mix"]:
        mix.add_row(etype, f"{count:,}", f"{count / total:.1%}")
    out.print(mix)
    out.print(f"Events from {_day(info['first_ms'])} to {_day(info['last_ms'])}")
    top = Table("#", "artist", "name", "plays", title="Most played artists")
    for rank, (artist_id, name, n) in enumerate(info["top_artists"], start=1):
        top.add_row(str(rank), artist_id, name, f"{n:,}")
    out.print(top)


def step_train(state: DemoState) -> None:
    """Train, evaluate on a holdout, register, promote and precompute the lists."""
    from cratedig.config import load_settings
    from cratedig.pipeline.train import train

    assert state.engine is not None
    settings = load_settings(
        database_url=f"sqlite:///{state.db_path}",
        artifacts_dir=str(state.directory / "artifacts"),
    )
    state.results["train"] = train(state.engine, settings, progress=True)


def step_evaluate(state: DemoState) -> None:
    """Print the holdout metrics of the version just trained."""
    version = state.results["train"]
    table = Table("metric", "value", title=f"Holdout metrics of {version.version_id}")
    for name, value in sorted(version.metrics.items()):
        table.add_row(name, f"{value:.4f}")
    state.console.print(table)
    verdict = "promoted, now serving" if version.active else f"not promoted: {version.note}"
    state.console.print(f"Model version {version.version_id}: {verdict}")


def serve_env(state: DemoState, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the demo serves with: its store, and the pages in demo mode."""
    import os

    env = dict(os.environ if base is None else base)
    env["CRATEDIG_DATABASE_URL"] = f"sqlite:///{state.db_path.resolve()}"
    env["CRATEDIG_PAGES_DEMO_MODE"] = "true"
    return env


def step_serve(state: DemoState) -> None:
    """Serve the site with gunicorn until interrupted (replaces this process)."""
    if not state.serve:
        state.console.print("Not serving (--no-serve).")
        return
    import os
    import sys

    if state.engine is not None:
        state.engine.dispose()
    url = f"http://{state.host}:{state.port}"
    state.console.print(f"[bold green]cratedig is serving at {url}[/]  (Ctrl-C to stop)")
    env = serve_env(state)
    state.console.print("Pages in demo mode: any visitor may act as any listener.")
    argv = [sys.executable, "-m", "cratedig.cli", "serve", "--host", state.host]
    argv += ["--port", str(state.port)]
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)


STEPS: list[tuple[str, Callable[[DemoState], None]]] = [
    ("simulate", step_simulate),
    ("describe", step_describe),
    ("train", step_train),
    ("evaluate", step_evaluate),
    ("serve", step_serve),
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cratedig.demo", description="Run cratedig end to end on a simulated site."
    )
    parser.add_argument("--dir", default="demo-data", help="Folder for the store and files.")
    parser.add_argument("--users", type=int, default=2_000, help="Simulated users.")
    parser.add_argument("--artists", type=int, default=3_000, help="Simulated artists.")
    parser.add_argument("--events", type=int, default=300_000, help="Target number of events.")
    parser.add_argument("--days", type=int, default=90, help="Days simulated.")
    parser.add_argument("--seed", type=int, default=42, help="Random seed.")
    parser.add_argument("--host", default="127.0.0.1", help="Address to serve on.")
    parser.add_argument("--port", type=int, default=8000, help="Port to serve on.")
    parser.add_argument(
        "--no-serve", dest="serve", action="store_false", help="Stop after evaluating."
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace, console: Console | None = None) -> DemoState:
    """Run every step of :data:`STEPS` in order; returns the final state."""
    config = SimulationConfig(
        n_users=args.users,
        n_artists=args.artists,
        n_events=args.events,
        days=args.days,
        seed=args.seed,
    )
    state = DemoState(Path(args.dir), config, console or Console())
    state.serve, state.host, state.port = args.serve, args.host, args.port
    for name, step in STEPS:
        began = time.perf_counter()
        state.console.rule(f"[bold]{name}")
        step(state)
        state.console.print(f"[dim]{name}: {time.perf_counter() - began:.1f} s")
    if state.engine is not None:
        state.engine.dispose()
    return state


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m cratedig.demo``."""
    run(parse_args(argv))


if __name__ == "__main__":
    main()
