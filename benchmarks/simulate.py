"""Benchmark of the site simulator: events per second and peak memory.

Run ``python benchmarks/simulate.py`` (1,000,000 events written as CSV to a temporary
folder) or ``python benchmarks/simulate.py --events 10000000 --format parquet``.
``--store sqlite:///file.sqlite`` (or a ``postgresql://`` URL) writes into a store
instead. Peak memory is the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from cratedig.simulator.site import FORMATS, SimulationConfig, simulate_to_store, write_files
from cratedig.store import init_db, make_engine


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (ru_maxrss is KB on Linux)."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


def count_rows(path: Path, fmt: str) -> int:
    """Rows in a written events file."""
    if fmt == "csv":
        frame = pl.scan_csv(path)
    elif fmt == "parquet":
        frame = pl.scan_parquet(path)
    else:
        frame = pl.scan_ndjson(path)
    return int(frame.select(pl.len()).collect().item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=None, help="default: events / 100")
    parser.add_argument("--artists", type=int, default=None, help="default: events / 50")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--store", default=None, help="write into this store URL instead")
    args = parser.parse_args()
    config = SimulationConfig(
        n_users=args.users or max(10, args.events // 100),
        n_artists=args.artists or max(10, min(args.events // 50, 200_000)),
        n_events=args.events,
        days=args.days,
        seed=args.seed,
    )
    print(
        f"simulating {config.n_users:,} users, {config.n_artists:,} artists, "
        f"~{config.n_events:,} events, {config.days} days"
    )
    began = time.perf_counter()
    size_mb = None
    if args.store:
        engine = make_engine(args.store)
        init_db(engine)
        counts = simulate_to_store(engine, config, progress=True)
        seconds, peak = time.perf_counter() - began, peak_rss_mb()
        n_events = counts["user_events"]
        where = args.store
    else:
        tmp = tempfile.TemporaryDirectory(prefix="cratedig-sim-")
        paths = write_files(config, tmp.name, fmt=args.format, progress=True)
        # measured before counting the rows, which reads the file back
        seconds, peak = time.perf_counter() - began, peak_rss_mb()
        n_events = count_rows(paths["events"], args.format)
        size_mb = sum(Path(p).stat().st_size for p in paths.values()) / 1e6
        where = f"{args.format} files"
    print(f"events:      {n_events:,} into {where}")
    if size_mb is not None:
        print(f"files:       {size_mb:,.0f} MB")
    print(f"time:        {seconds:.1f} s")
    print(f"events/s:    {n_events / seconds:,.0f}")
    print(f"peak memory: {peak:,.0f} MB (max RSS while simulating)")


if __name__ == "__main__":
    main()
