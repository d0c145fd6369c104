"""Collection-gap detection: days and hours whose event volume falls far below the
site's own recent history, vanished event types, jumps in the quarantined share, plays
longer than their track, and events for artists or tracks the catalogue never had.

The rule (also in ``docs/quality.md``)
--------------------------------------
For each day (UTC) and each series (all events, and each event type), the expected
range comes from the same weekday of the previous ``weeks`` weeks (day-of-week
seasonality: a Sunday is compared with Sundays). With ``m`` their median and ``MAD``
their median absolute deviation, the robust spread is ``s = max(1.4826 * MAD,
spread_floor * m, sqrt(m))`` (1.4826 makes the MAD estimate a normal standard deviation,
Hampel 1974; the floors stop a history that happened to be regular from flagging a
small dip: a count of mean ``m`` varies by at least ``sqrt(m)``, its Poisson standard
deviation, and four weeks' MAD often underestimates that). A day
is flagged when its count is below ``m - k * s`` **and** below ``max_ratio * m``: far
outside the usual spread and a large drop, both. An event type whose same weekdays had a
median of at least ``min_median_vanished`` events (a smaller bar) is ``vanished`` on a
day with no event of that type at all. Hours are checked the same way against
the same hour of the same weekday, for all events only, on days not already flagged
whole, with a stricter ratio, and reported only as runs of consecutive low hours.
Series too small to judge (median below ``min_median``) and days with fewer than
``min_weeks`` earlier weeks of history are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from cratedig import clock
from cratedig.analytics import _sql

DAY_MS = _sql.DAY_MS
HOUR_MS = _sql.HOUR_MS
ALL = ""  # the series of all event types


@dataclass(frozen=True)
class GapRules:
    """The thresholds of the checks (see the module docstring).

    Attributes
    ----------
    weeks
        Earlier weeks whose same weekday forms the expected range.
    min_weeks
        Fewer earlier weeks than this: the day is not judged.
    k
        How many robust spreads below the median a count must fall.
    max_ratio, max_ratio_hour
        ... and below this fraction of the median (of a day's; of an hour's, stricter:
        events come in sessions, so an hour's count varies far more than a day's).
    spread_floor
        The spread is at least this fraction of the median.
    min_median_day, min_median_hour
        Series whose median is smaller are not judged (too few events to tell).
    min_median_vanished
        An event type with no event at all on a day is ``vanished`` when the same
        weekday of the previous weeks had a median of at least this many (for a Poisson
        count of mean 10, no event at all has a probability of e^-10, about 1 in 22,000).
    min_run_hours
        Low hours are reported only in runs of at least this many consecutive hours
        (one quiet hour on a bursty site is noise; an outage lasts).
    quarantine_min_rows, quarantine_factor, quarantine_points
        A day's quarantined share is a jump when at least ``quarantine_min_rows`` rows
        were quarantined and the share exceeds both ``quarantine_factor`` times the
        median share of the previous 28 days and that median plus
        ``quarantine_points``.
    play_tolerance_ms
        A play is longer than its track when it exceeds the track by more than this
        (and by more than 5%).
    """

    weeks: int = 4
    min_weeks: int = 3
    k: float = 4.0
    max_ratio: float = 0.5
    spread_floor: float = 0.1
    min_median_day: float = 20.0
    min_median_hour: float = 50.0
    min_median_vanished: float = 10.0
    max_ratio_hour: float = 0.2
    min_run_hours: int = 2
    quarantine_min_rows: int = 20
    quarantine_factor: float = 3.0
    quarantine_points: float = 0.05
    play_tolerance_ms: int = 5_000


def expected_range(history: np.ndarray, rules: GapRules) -> tuple[float, float]:
    """``(median, lower bound)`` of a series' history (the robust rule above)."""
    median = float(np.median(history))
    mad = float(np.median(np.abs(history - median)))
    # Poisson floor: a count with mean m varies by sqrt(m) however alike the weeks were
    spread = max(1.4826 * mad, rules.spread_floor * median, np.sqrt(max(median, 0.0)))
    return median, median - rules.k * spread


def _judge(
    counts: dict[int, float],
    periods: range,
    start: int,
    lag: int,
    rules: GapRules,
    min_median: float,
    max_ratio: float,
    vanish_median: float | None = None,
) -> list[tuple[int, float, float, float]]:
    """``(period, observed, median, lower)`` for each flagged period of one series.

    ``counts`` maps a period number to its count (missing = 0); history before period
    ``start`` is unknown; ``lag`` is how many periods make a week (7 days, 168 hours).
    With ``vanish_median``, a period without any event is also flagged when the median
    is at least that (a smaller bar than ``min_median``: nothing at all is rarer than
    a low count).
    """
    out = []
    for p in periods:
        history = [counts.get(p - lag * w, 0.0) for w in range(1, rules.weeks + 1)]
        known = [h for w, h in enumerate(history, start=1) if (p - lag * w) >= start]
        if len(known) < rules.min_weeks:
            continue
        median, lower = expected_range(np.asarray(known, dtype=float), rules)
        observed = counts.get(p, 0.0)
        if vanish_median is not None and observed == 0 and median >= vanish_median:
            out.append((p, observed, median, lower))
            continue
        if median < min_median:
            continue
        if observed < lower and observed < max_ratio * median:
            out.append((p, observed, median, lower))
    return out


def volume_findings(
    daily: pl.DataFrame,
    hourly: pl.DataFrame,
    first_day: int,
    last_day: int,
    rules: GapRules,
    history_start_day: int,
) -> list[dict[str, Any]]:
    """Low-volume days (per series), vanished types and low-volume hours.

    ``daily`` has ``day, event_type, n``; ``hourly`` has ``hour, n`` (all events).
    Days ``first_day .. last_day`` (inclusive) are judged; history before
    ``history_start_day`` is not known (the store starts there).
    """
    found: list[dict[str, Any]] = []
    days = range(first_day, last_day + 1)
    series: dict[str, dict[int, float]] = {ALL: {}}
    for day, etype, n in daily.select("day", "event_type", "n").iter_rows():
        series.setdefault(etype, {})[int(day)] = float(n)
        series[ALL][int(day)] = series[ALL].get(int(day), 0.0) + float(n)
    flagged_days: set[int] = set()
    for etype, counts in sorted(series.items()):
        for day, observed, median, lower in _judge(
            counts,
            days,
            history_start_day,
            7,
            rules,
            rules.min_median_day,
            rules.max_ratio,
            None if etype == ALL else rules.min_median_vanished,
        ):
            vanished = observed == 0 and etype != ALL
            check = "vanished_type" if vanished else "low_volume_day"
            what = f"{etype} events" if etype else "events"
            found.append(
                _finding(
                    check,
                    day * DAY_MS,
                    (day + 1) * DAY_MS,
                    etype,
                    observed,
                    median,
                    lower,
                    f"{observed:,.0f} {what} on this day; the same weekday of the previous "
                    f"weeks had a median of {median:,.0f} (flagged below {max(lower, 0):,.0f})"
                    + ("; the type vanished" if vanished else ""),
                )
            )
            if etype == ALL:
                flagged_days.add(day)
    hours: dict[int, float] = {int(h): float(n) for h, n in hourly.select("hour", "n").iter_rows()}
    hour_range = range(first_day * 24, (last_day + 1) * 24)
    low = [
        flagged
        for flagged in _judge(
            hours,
            hour_range,
            history_start_day * 24,
            168,
            rules,
            rules.min_median_hour,
            rules.max_ratio_hour,
        )
        if flagged[0] // 24 not in flagged_days
    ]
    for run in _runs(low, rules.min_run_hours):
        observed = sum(r[1] for r in run)
        median = sum(r[2] for r in run)
        found.append(
            _finding(
                "low_volume_hour",
                run[0][0] * HOUR_MS,
                (run[-1][0] + 1) * HOUR_MS,
                ALL,
                observed,
                median,
                sum(max(r[3], 0.0) for r in run),
                f"{observed:,.0f} events in {len(run)} consecutive hours; the same hours of "
                f"the same weekday had medians adding up to {median:,.0f}",
            )
        )
    return found


def _runs(
    flagged: list[tuple[int, float, float, float]], min_run: int
) -> list[list[tuple[int, float, float, float]]]:
    """Runs of consecutive flagged hours at least ``min_run`` long."""
    runs: list[list[tuple[int, float, float, float]]] = []
    for item in flagged:
        if runs and item[0] == runs[-1][-1][0] + 1:
            runs[-1].append(item)
        else:
            runs.append([item])
    return [r for r in runs if len(r) >= min_run]


def quarantine_findings(
    daily_events: pl.DataFrame, daily_quarantined: pl.DataFrame, days: range, rules: GapRules
) -> list[dict[str, Any]]:
    """Days whose quarantined share jumped (``daily_*``: ``day, n``; by day of arrival)."""
    events = {int(d): float(n) for d, n in daily_events.select("day", "n").iter_rows()}
    bad = {int(d): float(n) for d, n in daily_quarantined.select("day", "n").iter_rows()}

    def share(day: int) -> float:
        total = events.get(day, 0.0) + bad.get(day, 0.0)
        return bad.get(day, 0.0) / total if total else 0.0

    found = []
    for day in days:
        if bad.get(day, 0.0) < rules.quarantine_min_rows:
            continue
        history = [share(day - i) for i in range(1, 29)]
        median = float(np.median(history))
        limit = max(rules.quarantine_factor * median, median + rules.quarantine_points)
        if share(day) > limit:
            found.append(
                _finding(
                    "quarantine_jump",
                    day * DAY_MS,
                    (day + 1) * DAY_MS,
                    ALL,
                    share(day),
                    median,
                    None,
                    f"{bad[day]:,.0f} rows quarantined ({share(day):.1%} of the rows that "
                    f"arrived); the previous 28 days' median share was {median:.1%}",
                )
            )
    return found


def count_findings(frame: pl.DataFrame, check: str, what: str) -> list[dict[str, Any]]:
    """One finding per day with a non-zero count (``frame``: ``day, n``)."""
    return [
        _finding(
            check,
            int(day) * DAY_MS,
            (int(day) + 1) * DAY_MS,
            ALL,
            float(n),
            0.0,
            None,
            f"{int(n):,} {what}",
        )
        for day, n in frame.select("day", "n").iter_rows()
        if n
    ]


def _finding(
    check: str,
    start_ms: int,
    end_ms: int,
    event_type: str,
    observed: float,
    expected: float | None,
    lower: float | None,
    detail: str,
) -> dict[str, Any]:
    return {
        "check_name": check,
        "start_ms": int(start_ms),
        "end_ms": int(end_ms),
        "event_type": event_type,
        "observed": float(observed),
        "expected": expected,
        "lower_bound": lower,
        "detail": detail,
    }


def detect(
    engine: Engine,
    since_ms: int | None = None,
    until_ms: int | None = None,
    rules: GapRules | None = None,
) -> tuple[int, int, list[dict[str, Any]]]:
    """Run every check over the whole UTC days in ``[since_ms, until_ms)``.

    Defaults: until the start of the day of the latest event (so a day still being
    collected is not judged), since 7 days before that.

    Returns
    -------
    (since_ms, until_ms, findings)
        The range judged (whole days) and the findings, without ``found_at_ms``.
    """
    from cratedig.analytics import _quality_sql as q

    rules = rules or GapRules()
    with engine.connect() as conn:
        bounds = q.event_bounds(conn)
        if bounds is None:
            return 0, 0, []
        first_event_day, last_event_day = bounds
        last_day = (until_ms // DAY_MS - 1) if until_ms is not None else last_event_day - 1
        first_day = since_ms // DAY_MS if since_ms is not None else last_day - 6
        first_day = max(first_day, first_event_day)
        if last_day < first_day:
            return first_day * DAY_MS, first_day * DAY_MS, []
        lo_ms = max(first_event_day, first_day - 7 * rules.weeks) * DAY_MS
        hi_ms = (last_day + 1) * DAY_MS
        daily = q.daily_counts(conn, lo_ms, hi_ms)
        hourly = q.hourly_counts(conn, lo_ms, hi_ms)
        arrived = q.daily_totals(conn, max(lo_ms, (first_day - 28) * DAY_MS), hi_ms)
        quarantined = q.daily_quarantined(conn, (first_day - 28) * DAY_MS, hi_ms)
        long_plays = q.plays_longer_than_track(conn, first_day * DAY_MS, hi_ms, rules)
        unknown = q.events_for_stub_catalogue(conn, first_day * DAY_MS, hi_ms)
    days = range(first_day, last_day + 1)
    found = volume_findings(daily, hourly, first_day, last_day, rules, first_event_day)
    found += quarantine_findings(arrived, quarantined, days, rules)
    found += count_findings(long_plays, "play_too_long", "plays lasted longer than their track")
    found += count_findings(
        unknown, "unknown_catalogue", "events named artists or tracks the catalogue never had"
    )
    return first_day * DAY_MS, hi_ms, found


def run_checks(
    engine: Engine,
    since_ms: int | None = None,
    until_ms: int | None = None,
    rules: GapRules | None = None,
    found_at_ms: int | None = None,
) -> tuple[int, int, list[dict[str, Any]]]:
    """:func:`detect`, then store the findings (replacing an earlier run's for the same
    days, so checking twice stores them once)."""
    from cratedig.store.quality import replace_findings

    lo, hi, found = detect(engine, since_ms, until_ms, rules)
    stamp = found_at_ms if found_at_ms is not None else clock.now_ms()
    rows = [{**f, "found_at_ms": stamp} for f in found]
    if hi > lo:
        with engine.begin() as conn:
            replace_findings(conn, lo, hi, rows)
    return lo, hi, rows
