"""The online numbers, read from the rollups: what the report, the API and the admin
page show (one function, so the three agree).

Rates are ratios of sums (``clicked_items / items``), never means of daily rates.
``user_days`` counts exposed users per day (a user shown lists on three days counts
three times), so "per user" figures are per exposed user-day; distinct users over a
range are in ``online_user_daily`` for analyses that need them.

Summaries are cached per process and per store, keyed by the range, the grouping and
the ``last_refresh`` record (which every refresh rewrites, with a fresh
``refresh_id``): a page view after the first costs one primary-key read until the
next refresh.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.exceptions import ValidationError
from cratedig.online import _sql
from cratedig.store.schema.rollups import (
    OUTCOME_COLUMNS,
    online_daily,
    online_event_daily,
    online_position_daily,
)

GROUPS = ("day", "list_type", "model_version", "variant")
DAILY_COUNTS = ("users", *OUTCOME_COLUMNS, "returned_users")
POSITION_COUNTS = (
    "items",
    "clicked_items",
    "follows",
    "shares",
    "plays",
    "thumbs_up",
    "thumbs_down",
)
EVENT_COUNTS = ("events", "click_through", "view_through", "unknown_list", "unattributed")


def parse_day(name: str, value: str | None) -> int | None:
    """An ISO date (``YYYY-MM-DD``) as a UTC day number; ``None`` stays ``None``.

    Raises
    ------
    ValidationError
        Naming the parameter, when the value is not a date.
    """
    if value is None or value == "":
        return None
    try:
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(name, value[:40], "a date as YYYY-MM-DD") from None
    return (date - dt.date(1970, 1, 1)).days


def parse_group_by(value: str | None) -> list[str]:
    """A comma-separated subset of :data:`GROUPS` (default ``list_type,model_version``)."""
    if value is None:
        return ["list_type", "model_version"]
    names = [v.strip() for v in value.split(",") if v.strip()]
    for name in names:
        if name not in GROUPS:
            raise ValidationError(
                "group_by", value[:60], "a comma-separated subset of: " + ", ".join(GROUPS)
            )
    return list(dict.fromkeys(names))


def iso_day(day: int) -> str:
    """The ISO date of a UTC day number."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()


def _ratio(num: float, den: float) -> float | None:
    return None if not den else round(num / den, 6)


def derive(row: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics of ``docs/online.md`` from one row of summed counts."""
    items, lists, days = row["items"], row["lists"], row["users"]
    thumbs = row["thumbs_up"] + row["thumbs_down"]
    return {
        "lists": lists,
        "items": items,
        "user_days": days,
        "clicks": row["clicks"],
        "item_ctr": _ratio(row["clicked_items"], items),
        "list_ctr": _ratio(row["clicked_lists"], lists),
        "follow_through": _ratio(row["follows"], items),
        "share_through": _ratio(row["shares"], items),
        "plays": row["plays"],
        "play_ms": row["play_ms"],
        "discovery_ms_per_user_day": _ratio(row["new_play_ms"], days),
        "new_artists_per_user_day": _ratio(row["new_artists"], days),
        "thumbs_up": row["thumbs_up"],
        "thumbs_down": row["thumbs_down"],
        "thumbs_up_share": _ratio(row["thumbs_up"], thumbs),
        "thumbs_per_1000_items": _ratio(1000 * thumbs, items),
        "ratings": row["ratings"],
        "rating_mean": _ratio(row["rating_sum"], row["ratings"]),
        "rating_distribution": {str(k): row[f"rating_{k}"] for k in range(1, 6)},
        "subscriptions": row["subscriptions"],
        "new_followers": row["new_followers"],
        "new_longtail_listeners": row["new_longtail_listeners"],
        "longtail_share": _ratio(row["longtail_items"], items),
        "retention_7d": _ratio(row["returned_users"], days),
        "funnel": {
            "items_shown": items,
            "clicked_items": row["clicked_items"],
            "plays": row["plays"],
            "follows": row["follows"],
        },
    }


def _groups(frame: pl.DataFrame, group_by: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for row in frame.iter_rows(named=True):
        keys = {g: (iso_day(row[g]) if g == "day" else row[g]) for g in group_by}
        out.append({**keys, **derive(row)})
    return out


#: summaries kept per process (most recently used last)
CACHE_SIZE = 64
_cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def online_summary(
    engine: Engine,
    since_day: int | None = None,
    until_day: int | None = None,
    group_by: Sequence[str] = ("list_type", "model_version"),
) -> dict[str, Any]:
    """Every online number over a range of impression days, from the rollups
    (cached until the next refresh; see the module docstring).

    Returns
    -------
    dict
        ``totals``, ``groups`` (by ``group_by``), ``by_day`` (per day, list type and
        model version: the CTR-over-time series), ``positions`` (the position
        curve), ``attribution`` (events by how they were attributed) and
        ``last_refresh``.
    """
    last = _sql.read_state(engine, "last_refresh")
    key = (
        engine.url.render_as_string(hide_password=False),
        since_day,
        until_day,
        tuple(group_by),
        last,
    )
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return copy.deepcopy(hit)
    summary = _summary(engine, since_day, until_day, group_by, last)
    with _cache_lock:
        _cache[key] = copy.deepcopy(summary)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return summary


def _summary(
    engine: Engine,
    since_day: int | None,
    until_day: int | None,
    group_by: Sequence[str],
    last: str | None,
) -> dict[str, Any]:
    total = _sql.rollup_sums(engine, online_daily, since_day, until_day, [], DAILY_COUNTS)
    empty = dict.fromkeys(DAILY_COUNTS, 0)
    totals = derive(total.row(0, named=True) if total.height else empty)
    groups = _sql.rollup_sums(engine, online_daily, since_day, until_day, group_by, DAILY_COUNTS)
    series_keys = ["day", "list_type", "model_version"]
    series = _sql.rollup_sums(engine, online_daily, since_day, until_day, series_keys, DAILY_COUNTS)
    positions = _sql.rollup_sums(
        engine, online_position_daily, since_day, until_day, ["position"], POSITION_COUNTS
    )
    events = _sql.rollup_sums(engine, online_event_daily, since_day, until_day, [], EVENT_COUNTS)
    return {
        "since": None if since_day is None else iso_day(since_day),
        "until": None if until_day is None else iso_day(until_day),
        "group_by": list(group_by),
        "totals": totals,
        "groups": _groups(groups, group_by),
        "by_day": [
            {
                "day": iso_day(r["day"]),
                "list_type": r["list_type"],
                "model_version": r["model_version"],
                "items": r["items"],
                "item_ctr": _ratio(r["clicked_items"], r["items"]),
                "follow_through": _ratio(r["follows"], r["items"]),
                "discovery_ms_per_user_day": _ratio(r["new_play_ms"], r["users"]),
            }
            for r in series.iter_rows(named=True)
        ],
        "positions": [
            {
                **r,
                "item_ctr": _ratio(r["clicked_items"], r["items"]),
                "follow_through": _ratio(r["follows"], r["items"]),
            }
            for r in positions.iter_rows(named=True)
        ],
        "attribution": (
            events.row(0, named=True) if events.height else dict.fromkeys(EVENT_COUNTS, 0)
        ),
        "last_refresh": json.loads(last) if last else None,
    }
