"""Sensitivity of the online metrics: a simulated month, `popularity` served for the
first two weeks, then the default model promoted. Do the rollups, the report and the
Online admin view show the step in CTR, follow-through and discovery time?

Simulates a site into a fresh store, trains the default model and `popularity`,
serves `popularity` (promoted), and drives the service in process with the traffic
simulator (its clock follows the simulated days); at the start of day
``--promote-day`` the default version is promoted. Then ``online refresh --full``,
and prints per model version (before = popularity, after = default) the item and
list CTR, follow-through, discovery time and new artists per exposed user-day; the
same for the week before and the week after the promotion (the fairer comparison:
lists of the run's last days have less than the 7-day attribution window, and the
return window, left to collect plays and visits); and the daily series. Writes into
``--out``: the online report (``report/``: report.html, summary.json, plots), the
admin page (``admin_online.html``), the traffic log and ``sensitivity.json``.
Asserts nothing (``tests/online/test_sensitivity.py`` checks the direction).

    PYTHONPATH=src python benchmarks/online_sensitivity.py --out /tmp/sensitivity
    PYTHONPATH=src python benchmarks/online_sensitivity.py --out /tmp/s --listeners 100 \\
        --site-users 300 --site-artists 400 --site-events 20000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from cratedig.config import Settings
from cratedig.online.refresh import refresh
from cratedig.online.report import build_online_report
from cratedig.online.summary import iso_day, online_summary
from cratedig.pipeline import registry
from cratedig.pipeline.train import train
from cratedig.serving import create_app
from cratedig.simulator.client import TestClientAdapter
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.simulator.traffic import TrafficConfig, next_midnight_ms, simulate_traffic
from cratedig.store import init_db, make_engine
from cratedig.store.reads import latest_event_ms

KEY = "sensitivity-key"
DAY = 86_400_000
FIGURES = (
    "item_ctr",
    "list_ctr",
    "follow_through",
    "discovery_ms_per_user_day",
    "new_artists_per_user_day",
    "rating_mean",
    "thumbs_up_share",
    "retention_7d",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole experiment; returns the figures (also written to sensitivity.json)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began, cpu0 = time.perf_counter(), _cpu()
    workdir = Path(tempfile.mkdtemp(prefix="sensitivity-"))
    url = args.db_url or f"sqlite:///{workdir / 'store.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    site = SimulationConfig(
        n_users=args.site_users, n_artists=args.site_artists, n_events=args.site_events,
        days=args.site_days, seed=args.seed,
    )  # fmt: skip
    simulate_to_store(engine, site)
    settings = Settings(database_url=url, api_keys=(KEY,), artifacts_dir=str(workdir / "art"))
    default = train(engine, settings, tune=args.tune, seed=args.seed)
    popular = train(engine, settings, model_name="popularity", tune=False, seed=args.seed)
    registry.promote(engine, popular.version_id)
    trained_s = time.perf_counter() - began

    with engine.connect() as conn:
        last = latest_event_ms(conn)
    assert last is not None
    start = next_midnight_ms(last)
    switch_ms = start + args.promote_day * DAY
    app = create_app({"ENGINE": engine, "SETTINGS": settings})
    service = app.extensions["cratedig"]

    def on_day(day: int, _day_start_ms: int) -> None:
        if day == args.promote_day:  # the clock is at the day's midnight
            registry.promote(engine, default.version_id)
            service.active_version(fresh=True)

    config = TrafficConfig(
        days=args.days, users=args.listeners, seed=args.seed, start_ms=start,
        visit_scale=args.visit_scale,
    )  # fmt: skip
    try:
        traffic = simulate_traffic(
            TestClientAdapter(app.test_client(), KEY), site, config, out / "traffic_log.jsonl",
            on_day=on_day,
        )  # fmt: skip
    finally:
        service.close()
    simulated_s = time.perf_counter() - began - trained_s
    refreshed = refresh(engine, full=True)

    summary = online_summary(engine, group_by=("model_version",))
    names = {popular.version_id: "popularity", default.version_id: "default"}
    by_version = {
        names.get(g["model_version"], g["model_version"]): {
            "model_version": g["model_version"],
            "lists": g["lists"],
            "items": g["items"],
            "user_days": g["user_days"],
            **{f: g[f] for f in FIGURES},
        }
        for g in summary["groups"]
    }
    by_list_type = {
        f"{names.get(g['model_version'], g['model_version'])}/{g['list_type']}": {
            f: g[f] for f in ("lists", "item_ctr", "follow_through", "discovery_ms_per_user_day")
        }
        for g in online_summary(engine, group_by=("list_type", "model_version"))["groups"]
    }
    # the week before and the week after the promotion: both lie inside the run with
    # their whole attribution window after them (the run's last days do not)
    first = start // DAY + max(0, args.promote_day - 7)
    switch_day = switch_ms // DAY
    weeks = {}
    for label, since, until in (
        ("week_before", first, switch_day - 1),
        ("week_after", switch_day, switch_day + min(6, args.days - args.promote_day - 1)),
    ):
        t = online_summary(engine, since, until, group_by=())["totals"]
        weeks[label] = {
            "days": f"{iso_day(since)}..{iso_day(until)}",
            "lists": t["lists"],
            **{f: t[f] for f in FIGURES},
        }
    daily = [
        {**row, "model_version": names.get(row["model_version"], row["model_version"])}
        for row in online_summary(engine, group_by=("day",))["by_day"]
    ]
    report_dir = out / "report"
    build_online_report(engine, report_dir, group_by=("list_type", "model_version", "variant"))
    page = app.test_client().get("/admin/online", headers={"X-API-Key": KEY})
    (out / "admin_online.html").write_bytes(page.get_data())
    result = {
        "site": {"users": site.n_users, "artists": site.n_artists, "events": site.n_events},
        "traffic": {
            "listeners": traffic.listeners,
            "visits": traffic.visits,
            "days": args.days,
            "lists": traffic.counts.get("lists fetched", 0),
            "events": traffic.counts.get("events sent", 0),
        },
        "promotion": {"day": args.promote_day, "at": iso_day(switch_ms // DAY)},
        "versions": {"popularity": popular.version_id, "default": default.version_id},
        "by_version": by_version,
        "adjacent_weeks": weeks,
        "by_list_type": by_list_type,
        "daily": daily,
        "admin_page_status": page.status_code,
        "seconds": {
            "train": round(trained_s, 1),
            "simulate": round(simulated_s, 1),
            "refresh": refreshed.seconds,
            "total": round(time.perf_counter() - began, 1),
            "cpu": round(_cpu() - cpu0, 1),
        },
        "load_average": os.getloadavg(),
    }
    (out / "sensitivity.json").write_text(json.dumps(result, indent=2))
    engine.dispose()
    return result


def _print(result: dict[str, Any]) -> None:
    print(
        f"site {result['site']}; traffic {result['traffic']}; "
        f"default promoted on {result['promotion']['at']} (day {result['promotion']['day']})"
    )
    header = f"{'version':<12}" + "".join(f"{f:>27}" for f in ("lists", *FIGURES))
    print(header)
    for name in ("popularity", "default"):
        row = result["by_version"].get(name)
        if row:
            print(f"{name:<12}" + "".join(f"{row[f]!s:>27}" for f in ("lists", *FIGURES)))
    for name, row in result["adjacent_weeks"].items():
        print(f"{name:<12}" + "".join(f"{row[f]!s:>27}" for f in ("lists", *FIGURES)), row["days"])
    for key, row in sorted(result["by_list_type"].items()):
        print(f"  {key:<28} {row}")
    print("daily: day, version, items, item CTR, follow-through, discovery ms per user-day")
    for row in result["daily"]:
        print(
            f"  {row['day']} {row['model_version']:<11} {row['list_type']:<12} "
            f"{row['items']:>6} {row['item_ctr']!s:>9} {row['follow_through']!s:>9} "
            f"{row['discovery_ms_per_user_day']!s:>10}"
        )
    print(f"admin page: {result['admin_page_status']}; seconds: {result['seconds']}; "
          f"load average {result['load_average']}")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (defaults: the default site, 300 listeners, 28 days)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="Folder for the report and figures.")
    parser.add_argument("--db-url", default=None, help="Store (default: a fresh SQLite file).")
    parser.add_argument("--site-users", type=int, default=1_000)
    parser.add_argument("--site-artists", type=int, default=2_000)
    parser.add_argument("--site-events", type=int, default=100_000)
    parser.add_argument("--site-days", type=int, default=90)
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--promote-day", type=int, default=14)
    parser.add_argument("--visit-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", action="store_true", help="Tune the default model.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    _print(run(parse_args(argv)))


if __name__ == "__main__":
    main()
