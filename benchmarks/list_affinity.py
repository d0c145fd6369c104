"""How good are the lists each version serves, by the simulated listeners' true taste?

The probe behind the end-to-end experiment (``tests/experiments/test_end_to_end.py``):
simulates a site, trains the default model (as ``cratedig train --no-tune``) and
``popularity``, and prints for the traffic simulator's listeners the mean true
affinity of the top 10 and the expected clicks per list under the traffic
simulator's click model (cascade: click ``0.6 a²``, go on ``0.85`` after no click,
``0.5`` after a click), for:

* each version's precomputed May Like list (offline, what training wrote);
* the best 10 artists the listener does not know yet (ground truth), and the mean over
  all the artists they do not know (a random list);
* the lists actually served during a month of simulated traffic in process (an
  experiment popularity vs default, live rescoring on or off), by arm, with the
  experiment's CTR lift, p-value and SRM p-value.

    PYTHONPATH=src python benchmarks/list_affinity.py --rescoring on
    PYTHONPATH=src python benchmarks/list_affinity.py --rescoring off --site-artists 1000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

import cratedig.serving.impressions as impressions_module
from cratedig.config import Settings
from cratedig.experiments import manage
from cratedig.experiments.analysis import analyse
from cratedig.pipeline.train import train
from cratedig.serving import create_app
from cratedig.simulator.client import TestClientAdapter
from cratedig.simulator.listeners import Listener, build_listeners, choose_listeners, make_id
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.simulator.traffic import TrafficConfig, simulate_traffic
from cratedig.simulator.world import DAY_MS, build_world
from cratedig.store import init_db, lists, make_engine
from cratedig.store.reads import latest_event_ms

KEY = "list-affinity-key"
K = 10


def expected_clicks(aff: np.ndarray) -> float:
    """Expected clicks on a list under the traffic simulator's default cascade."""
    total, reach = 0.0, 1.0
    for a in aff:
        click = 0.6 * float(a) ** 2
        total += reach * click
        reach *= click * 0.5 + (1 - click) * 0.85
    return total


def row(name: str, values: list[tuple[float, float]]) -> None:
    arr = np.array(values)
    print(f"  {name:34s} {len(arr):5d} {arr[:, 0].mean():10.3f} {arr[:, 1].mean():12.3f}")


def offline(engine: Any, listeners: list[Listener], versions: dict[str, str], n: int) -> None:
    index = {make_id("a", a, n): a for a in range(n)}
    known: dict[str, set[int]] = defaultdict(set)
    with engine.connect() as conn:
        query = "select distinct user_id, artist_id from user_events where artist_id is not null"
        for user, artist in conn.execute(text(query)):
            known[user].add(index[artist])
        out: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for lis in listeners:
            unknown = np.array([a for a in range(n) if a not in known[lis.user_id]])
            best = unknown[np.argsort(-lis.affinity[unknown])[:K]]
            out["best 10 not known (ground truth)"].append(
                (float(lis.affinity[best].mean()), expected_clicks(lis.affinity[best]))
            )
            mean = float(lis.affinity[unknown].mean())
            out["random artists not known"].append((mean, expected_clicks(np.full(K, mean))))
            for name, vid in versions.items():
                raw = lists.read_user_list(conn, vid, "may_like", lis.user_id)
                if raw is not None:
                    ids = [index[i["artist_id"]] for i in json.loads(raw)[:K]]
                    aff = lis.affinity[ids]
                    out[f"{name} precomputed"].append((float(aff.mean()), expected_clicks(aff)))
    print("offline (listeners with a list)      users  affinity@10  clicks/list")
    for name, values in out.items():
        row(name, values)


def online(
    engine: Any, site: SimulationConfig, artifacts: Path, versions: dict[str, str], args: Any
) -> Path:
    with engine.connect() as conn:
        start = (int(latest_event_ms(conn) or 0) // DAY_MS + 1) * DAY_MS
    variants = [f"control={versions['popularity']}", f"treatment={versions['default']}"]
    manage.create(engine, "probe", variants, salt="probe")
    manage.start(engine, "probe", at_ms=start)
    clock = {"day": start}
    tick = itertools.count()
    impressions_module.now_ms = lambda: clock["day"] + next(tick)  # type: ignore[assignment]
    settings = Settings(
        database_url=str(engine.url),
        api_keys=(KEY,),
        artifacts_dir=str(artifacts),
        live_rescoring=args.rescoring == "on",
    )
    app = create_app({"ENGINE": engine, "SETTINGS": settings, "TESTING": True})
    log = artifacts.parent / "traffic.jsonl"
    config = TrafficConfig(start_ms=start, days=args.days, users=args.listeners, seed=11)

    def on_day(_day: int, day_ms: int) -> None:
        clock["day"] = day_ms

    try:
        simulate_traffic(
            TestClientAdapter(app.test_client(), KEY), site, config, log, on_day=on_day
        )
    finally:
        app.extensions["cratedig"].close()
    manage.stop(engine, "probe", at_ms=start + args.days * DAY_MS)
    report = analyse(engine, manage.load(engine, "probe"))
    ctr = next(m for m in report["metrics"] if m["metric"] == "ctr")["fixed"]
    print(
        f"experiment (live rescoring {args.rescoring}): users {report['users']}, "
        f"SRM p {report['srm']['p_value']:.3f}; CTR control {ctr['control']:.4f} "
        f"treatment {ctr['treatment']:.4f}, lift {ctr['lift']:+.1%} "
        f"(95% CI {ctr['lift_ci'][0]:+.1%} .. {ctr['lift_ci'][1]:+.1%}), p {ctr['p_value']:.2g}"
    )
    return log


def served(log: Path, listeners: list[Listener], n: int) -> None:
    index = {make_id("a", a, n): a for a in range(n)}
    by_user = {lis.user_id: lis for lis in listeners}
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with log.open() as lines:
        for line in lines:
            r = json.loads(line)
            if r["action"] == "fetch_list" and r.get("list_type") == "may_like":
                aff = by_user[r["user"]].affinity[[index[a] for a in r["artists"][:K]]]
                out[f"{r['variant']} served"].append((float(aff.mean()), expected_clicks(aff)))
    print("served May Like lists                lists  affinity@10  clicks/list")
    for name, values in sorted(out.items()):
        row(name, values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rescoring", choices=("on", "off"), default="on")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--site-users", type=int, default=300)
    parser.add_argument("--site-artists", type=int, default=200)
    parser.add_argument("--site-events", type=int, default=24_000)
    parser.add_argument("--offline-only", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    site = SimulationConfig(
        n_users=args.site_users, n_artists=args.site_artists, n_events=args.site_events,
        days=30, seed=5,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = make_engine(f"sqlite:///{folder / 'store.sqlite'}")
        init_db(engine)
        simulate_to_store(engine, site)
        settings = Settings(artifacts_dir=str(folder / "artifacts"))
        default = train(engine, settings, tune=False)
        popularity = train(engine, settings, model_name="popularity", tune=False)
        versions = {"default": default.version_id, "popularity": popularity.version_id}
        print(f"default offline ndcg@10 {default.metrics.get('ndcg@10', 0):.3f}, "
              f"popularity {popularity.metrics.get('ndcg@10', 0):.3f}")  # fmt: skip
        world = build_world(site)
        listeners = build_listeners(world, choose_listeners(world, args.listeners, 11))
        offline(engine, listeners, versions, args.site_artists)
        if not args.offline_only:
            log = online(engine, site, folder / "artifacts", versions, args)
            served(log, listeners, args.site_artists)
        engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall {time.perf_counter() - began:.0f} s, CPU {usage.ru_utime + usage.ru_stime:.0f} s, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
