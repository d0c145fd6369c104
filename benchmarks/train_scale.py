"""Benchmark: ``cratedig train`` (with tuning) end to end, its stage times and peak RSS.

Runs ``python -m cratedig.cli train --quiet`` as a child process on a SQLite store and
measures its wall time, CPU time and peak resident memory (``os.wait4``'s rusage of
that child alone), then prints the stage times the run recorded in its version's
metrics (wall ``seconds_<stage>`` and CPU ``cpu_seconds_<stage>``). On a shared machine
the CPU seconds are the fairer figure: wall time grows with the load average.

Stores:

* ``--hetrec DIR``: Last.fm HetRec 2K imported into a fresh store first
  (``cratedig import lastfm-hetrec DIR``; not timed). Target: under 30 s on a quiet
  2-core machine.
* ``--events N``: the simulated site of ``benchmarks/matrix.py`` (its cached store under
  ``--data-dir``, generated first if missing; versions and lists are written into it).
  Target at ``--events 10000000``: under 10 minutes and 8 GB peak RSS.

Usage::

    python benchmarks/train_scale.py --hetrec /work/shared/data/hetrec2011-lastfm-2k
    python benchmarks/train_scale.py --events 1000000           # a quick run
    python benchmarks/train_scale.py --events 10000000          # the target size

Load matters on a shared machine: ``uptime`` is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _env(db_url: str, artifacts: Path) -> dict[str, str]:
    env = dict(os.environ, CRATEDIG_DATABASE_URL=db_url, CRATEDIG_ARTIFACTS_DIR=str(artifacts))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    return env


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_measured(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a child to completion; its wall seconds, CPU seconds and peak RSS (MB)."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {child.returncode}")
    return {
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
    }


def stage_times(db_url: str) -> tuple[str, dict[str, tuple[float, float]], int, int]:
    """The newest version's id, ``{stage: (wall, CPU seconds)}``, users and artists."""
    from cratedig.pipeline.registry import list_versions
    from cratedig.store import make_engine

    engine = make_engine(db_url)
    try:
        version = list_versions(engine, limit=1)[0]
    finally:
        engine.dispose()
    metrics = version.metrics
    seconds = {
        k.removeprefix("seconds_"): (float(v), float(metrics.get(f"cpu_{k}", float("nan"))))
        for k, v in metrics.items()
        if k.startswith("seconds_")  # the rest: the holdout's
    }
    if "train_seconds" in metrics:
        seconds["train (in process)"] = (
            float(metrics["train_seconds"]),
            float(metrics.get("train_cpu_seconds", float("nan"))),
        )
    return version.version_id, seconds, int(version.n_users or 0), int(version.n_artists or 0)


def hetrec_store(data_dir: Path, folder: Path) -> str:
    db_url = f"sqlite:///{folder / 'hetrec.sqlite'}"
    print(f"importing {data_dir} into {db_url} (not timed)", flush=True)
    cli = [sys.executable, "-m", "cratedig.cli"]
    env = _env(db_url, folder / "artifacts")
    subprocess.run([*cli, "init-db"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "import", "lastfm-hetrec", str(data_dir)], env=env, check=True)
    return db_url


def simulated_store(n_events: int, data_dir: Path, seed: int) -> str:
    sys.path.insert(0, str(HERE))
    import matrix  # benchmarks/matrix.py

    data_dir.mkdir(parents=True, exist_ok=True)
    path = matrix._db_path(data_dir, "simulator", n_events, seed)
    if not path.exists():
        print(f"simulating {n_events:,} events into {path} (not timed)", flush=True)
        matrix.generate_simulator(path, n_events, seed)
    return f"sqlite:///{path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--hetrec", type=Path, help="HetRec Last.fm 2K folder")
    source.add_argument("--events", type=int, help="simulated events (benchmarks/matrix.py)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cratedig-bench"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tune", action="store_true", help="train without tuning")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="train-scale-") as tmp:
        folder = Path(tmp)
        if args.hetrec is not None:
            db_url, label = hetrec_store(args.hetrec, folder), "HetRec Last.fm 2K"
            target_s, target_mb = 30.0, None
        else:
            db_url = simulated_store(args.events, args.data_dir, args.seed)
            label, target_s, target_mb = f"simulated site, {args.events:,} events", 600.0, 8192.0
        print(f"load before: {_uptime()}", flush=True)
        argv_train = [sys.executable, "-m", "cratedig.cli", "train", "--quiet"]
        argv_train += ["--no-tune"] if args.no_tune else []
        measured = run_measured(argv_train, _env(db_url, folder / "artifacts"))
        print(f"load after:  {_uptime()}")
        sys.path.insert(0, str(SRC))
        version, seconds, users, artists = stage_times(db_url)
    print(f"\ncratedig train{' --no-tune' if args.no_tune else ''} on {label}")
    print(f"  version {version}: {users:,} users x {artists:,} artists")
    print(f"  {'stage':<40} {'wall s':>9} {'CPU s':>9}")
    for name, (wall, cpu) in sorted(seconds.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:<40} {wall:9.1f} {cpu:9.1f}")
    print(f"  {'whole process (imports included)':<40} ", end="")
    print(f"{measured['wall_seconds']:9.1f} {measured['cpu_seconds']:9.1f}")
    print(f"  {'peak RSS':<40} {measured['peak_rss_mb']:9.1f} MB")
    ok = measured["wall_seconds"] < target_s and (
        target_mb is None or measured["peak_rss_mb"] < target_mb
    )
    limits = f"< {target_s:.0f} s" + ("" if target_mb is None else f", < {target_mb:.0f} MB")
    if args.events is not None and args.events < 10_000_000:
        print(f"(targets {limits} apply at --events 10000000; this run: {ok=})")
    else:
        print(f"targets ({limits}, on a quiet machine):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
