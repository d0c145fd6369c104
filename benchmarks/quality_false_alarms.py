"""False alarms and detection of the collection-gap checks on the site simulator.

For each seed: simulate a clean 90-day site, run every check over every day
(``cratedig quality check --since <first day>``) and count the findings (all of them
are false alarms: the simulator has no outage). Then inject two outages into the same
store (a day keeping 5% of its events; a day without ``follow_artist`` events) and
report what the checks flag.

Run::

    PYTHONPATH=src python benchmarks/quality_false_alarms.py --seeds 1,2,3,4,5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, select

from cratedig.analytics.gaps import DAY_MS, detect
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine, schema

OUTAGE_DAY = 55  # days after the first simulated day: 5% of the traffic is kept
VANISHED_DAY = 70  # ... and follow_artist events vanish


def simulate(path: Path, seed: int, n_users: int = 1_500, n_events: int = 150_000) -> Engine:
    """A clean simulated 90-day site in a SQLite file."""
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    config = SimulationConfig(n_users=n_users, n_events=n_events, days=90, seed=seed)
    simulate_to_store(engine, config)
    return engine


def first_day(engine: Engine) -> int:
    """The UTC day number of the first stored event."""
    with engine.connect() as conn:
        first = conn.scalar(select(schema.user_events.c.occurred_at_ms).order_by("occurred_at_ms"))
    return int(first) // DAY_MS


def inject_outage(
    engine: Engine, outage_day: int, vanished_day: int, keep: float = 0.05, seed: int = 0
) -> None:
    """Keep ``keep`` of ``outage_day``'s events; delete ``vanished_day``'s follows."""
    ev = schema.user_events.c
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        ids = list(
            conn.scalars(
                select(ev.event_id).where(
                    ev.occurred_at_ms >= outage_day * DAY_MS,
                    ev.occurred_at_ms < (outage_day + 1) * DAY_MS,
                )
            )
        )
        drop = rng.choice(len(ids), size=round(len(ids) * (1 - keep)), replace=False)
        doomed = [ids[i] for i in drop]
        for i in range(0, len(doomed), 5_000):
            conn.execute(delete(schema.user_events).where(ev.event_id.in_(doomed[i : i + 5_000])))
        conn.execute(
            delete(schema.user_events).where(
                ev.event_type == "follow_artist",
                ev.occurred_at_ms >= vanished_day * DAY_MS,
                ev.occurred_at_ms < (vanished_day + 1) * DAY_MS,
            )
        )


def summarise(found: Sequence[dict[str, Any]], day0: int) -> list[str]:
    """``"day N check type"`` per finding (day counted from the first simulated day)."""
    return [
        f"day {f['start_ms'] // DAY_MS - day0} {f['check_name']} {f['event_type'] or 'all'}"
        for f in found
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--users", type=int, default=1_500)
    parser.add_argument("--events", type=int, default=150_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            started = time.perf_counter()
            engine = simulate(Path(tmp) / f"s{seed}.sqlite", seed, args.users, args.events)
            day0 = first_day(engine)
            since = day0 * DAY_MS
            _, _, clean = detect(engine, since_ms=since, until_ms=(day0 + 90) * DAY_MS)
            inject_outage(engine, day0 + OUTAGE_DAY, day0 + VANISHED_DAY, seed=seed)
            _, _, found = detect(engine, since_ms=since, until_ms=(day0 + 90) * DAY_MS)
            days = {f["start_ms"] // DAY_MS - day0 for f in found}
            hit = {OUTAGE_DAY, VANISHED_DAY} <= days
            vanished = any(
                f["check_name"] == "vanished_type"
                and f["event_type"] == "follow_artist"
                and f["start_ms"] // DAY_MS - day0 == VANISHED_DAY
                for f in found
            )
            other = sorted(days - {OUTAGE_DAY, VANISHED_DAY})
            rows.append((seed, len(clean), summarise(clean, day0), hit, vanished, other))
            print(
                f"seed {seed}: clean findings {len(clean)} {summarise(clean, day0)}; "
                f"outage found {hit}, follow_artist vanished found {vanished}, "
                f"other days flagged {other}; findings after injection "
                f"{summarise(found, day0)} ({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            engine.dispose()
    print()
    print(
        "| seed | clean-site findings (false alarms) | outage day | vanished follows | other days |"
    )
    print("|---|---|---|---|---|")
    for seed, n, _, hit, vanished, other in rows:
        print(
            f"| {seed} | {n} | {'flagged' if hit else 'MISSED'} | "
            f"{'flagged' if vanished else 'MISSED'} | {other or 'none'} |"
        )
    judged = len(rows) * (90 - 21)
    print(f"\n{sum(r[1] for r in rows)} false alarms over {judged} judged clean days.")


if __name__ == "__main__":
    main()
