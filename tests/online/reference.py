"""An independent reference tally of the online metrics, from the traffic simulator's
log and the site simulator's own events (never from the store, never with
``cratedig.online`` code): plain Python loops over the rules of ``docs/online.md``.

:func:`tally` returns the rows that ``cratedig online refresh`` must write into
``online_user_daily``, ``online_daily``, ``online_position_daily`` and
``online_event_daily``; :func:`derive` the figures the API shows for a row of sums.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cratedig.simulator.traffic_log import NON_EVENT_ACTIONS

DAY = 86_400_000
RETURN_DAYS = 7
HEAD_SHARE = 0.2  # the 20/80 split of docs/online.md
ORGANIC = ("organic", "", None)
SHARE_TYPES = ("share_artist", "share_track")
OUTCOMES = ("events", "click_through", "view_through", "unknown_list", "unattributed")

Rows = dict[tuple[Any, ...], dict[str, int]]


@dataclass(frozen=True)
class Event:
    user: str
    etype: str
    t: int
    artist: str | None
    duration: int | None
    source: str | None


@dataclass
class ServedList:
    list_id: str
    user: str
    list_type: str
    model_version: str
    variant: str
    artists: list[str]
    shown: int
    order: int  # the order it was served (stored) in: breaks ties of ``shown``
    credited: list[tuple[Event, int | None, str]] = field(default_factory=list)

    @property
    def day(self) -> int:
        return self.shown // DAY

    def position(self, artist: str | None) -> int | None:
        return self.artists.index(artist) + 1 if artist in self.artists else None


def events_of(history: pl.DataFrame, log: pl.DataFrame) -> list[Event]:
    """Every event: the site's (columns of the site simulator's ``events_frame``) and
    those the traffic simulator logged sending."""
    out = [
        Event(r["user_id"], r["event_type"], r["occurred_at_ms"], r["artist_id"],
              r["duration_ms"], r["source"])
        for r in history.iter_rows(named=True)
    ]  # fmt: skip
    sent = log.filter(~pl.col("action").is_in(sorted(NON_EVENT_ACTIONS)))
    for r in sent.iter_rows(named=True):
        duration = None if r["action"] != "play_track" else int(r["value"])
        out.append(Event(r["user"], r["action"], r["t"], r["artist_id"], duration, r["source"]))
    return out


def lists_of(log: pl.DataFrame) -> list[ServedList]:
    """The lists served: the log's ``fetch_list`` records, in the order they were served."""
    fetched = log.filter(pl.col("action") == "fetch_list")
    return [
        ServedList(r["list_id"], r["user"], r["list_type"], r["model_version"] or "",
                   r["variant"] or "", list(r["artists"]), r["t"], n)
        for n, r in enumerate(fetched.iter_rows(named=True))
    ]  # fmt: skip


def attribute(
    event: Event, by_id: dict[str, ServedList], shown_to: Any, lists_of_user: Any, window: int
) -> tuple[str, ServedList | None, int | None]:
    """``(mode, list, position)`` of one event (rules 1-4 of docs/online.md)."""
    if event.source not in ORGANIC:
        served = by_id.get(event.source)  # type: ignore[arg-type]
        if served is None or served.user != event.user:
            return "unknown_list", None, None
        return "click", served, served.position(event.artist)
    if event.artist is not None:
        candidates = shown_to[(event.user, event.artist)]
    elif event.etype == "subscribe":
        candidates = lists_of_user[event.user]
    else:
        candidates = []
    touches = [s for s in candidates if s.shown <= event.t <= s.shown + window]
    if not touches:
        return "none", None, None
    last = max(touches, key=lambda s: (s.shown, s.order))
    return "view", last, last.position(event.artist)


def long_tail(events: Iterable[Event]) -> set[str]:
    """The short head: the most played 20% of the played artists (ties by id)."""
    plays: dict[str, int] = defaultdict(int)
    for e in events:
        if e.etype == "play_track" and e.artist is not None:
            plays[e.artist] += 1
    ranked = sorted(plays, key=lambda a: (-plays[a], a))
    return set(ranked[: math.ceil(HEAD_SHARE * len(ranked))])


def tally(
    events: list[Event],
    lists: list[ServedList],
    feedback: list[dict[str, Any]],
    window_days: int = 7,
) -> tuple[Rows, Rows, Rows, Rows]:
    """``(user_daily, daily, position_daily, event_daily)`` rows keyed as the tables."""
    window = window_days * DAY
    by_id = {s.list_id: s for s in lists}
    shown_to: dict[tuple[str, str], list[ServedList]] = defaultdict(list)
    lists_of_user: dict[str, list[ServedList]] = defaultdict(list)
    for s in lists:
        lists_of_user[s.user].append(s)
        for artist in set(s.artists):
            shown_to[(s.user, artist)].append(s)
    first_event: dict[tuple[str, str], int] = {}
    follows_at: dict[tuple[str, str], list[int]] = defaultdict(list)
    visit_days: dict[str, set[int]] = defaultdict(set)
    per_event_day: Rows = {}
    for e in events:
        if e.artist is not None:
            pair = (e.user, e.artist)
            first_event[pair] = min(first_event.get(pair, e.t), e.t)
            if e.etype == "follow_artist":
                follows_at[pair].append(e.t)
        if e.etype == "visit":
            visit_days[e.user].add(e.t // DAY)
        mode, served, position = attribute(e, by_id, shown_to, lists_of_user, window)
        row = per_event_day.setdefault((e.t // DAY,), dict.fromkeys(OUTCOMES, 0))
        row["events"] += 1
        row[{"click": "click_through", "view": "view_through", "unknown_list": "unknown_list",
             "none": "unattributed"}[mode]] += 1  # fmt: skip
        if served is not None:
            served.credited.append((e, position, mode))
    head = long_tail(events)

    def is_new(e: Event, s: ServedList) -> bool:  # no event for the artist before the list
        return first_event[(e.user, e.artist)] >= s.shown  # type: ignore[index]

    def first_follow(e: Event) -> bool:  # never followed before
        return all(t >= e.t for t in follows_at[(e.user, e.artist)])  # type: ignore[index]

    users: Rows = {}
    sets: dict[tuple[Any, ...], dict[str, set[str]]] = {}
    positions: Rows = {}
    thumbs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fb in feedback:
        thumbs[fb["list_id"]].append(fb)
    for s in lists:
        key = (s.day, s.user, s.list_type, s.model_version, s.variant)
        row = users.setdefault(key, defaultdict(int))  # type: ignore[arg-type]
        new = sets.setdefault(key, {"new_artists": set(), "new_followers": set(), "tail": set()})
        row["lists"] += 1
        row["items"] += len(s.artists)
        row["longtail_items"] += sum(a not in head for a in s.artists)
        clicked: set[int] = set()
        followed: set[int] = set()
        shared: set[int] = set()
        plays_at: dict[int, int] = defaultdict(int)
        any_click = False
        for e, position, mode in s.credited:
            is_click = e.etype == "recommendation_click" or mode == "click"
            row["clicks"] += is_click
            any_click |= is_click
            row["subscriptions"] += e.etype == "subscribe"
            if position is None:
                continue
            if is_click:
                clicked.add(position)
            if e.etype == "follow_artist":
                followed.add(position)
                if first_follow(e):
                    new["new_followers"].add(e.artist)  # type: ignore[arg-type]
            if e.etype in SHARE_TYPES:
                shared.add(position)
            if e.etype == "play_track":
                plays_at[position] += 1
                row["plays"] += 1
                row["play_ms"] += e.duration or 0
                if is_new(e, s):
                    row["new_play_ms"] += e.duration or 0
                    new["new_artists"].add(e.artist)  # type: ignore[arg-type]
                    if e.artist not in head:
                        new["tail"].add(e.artist)  # type: ignore[arg-type]
        row["clicked_items"] += len(clicked)
        row["clicked_lists"] += any_click
        row["follows"] += len(followed)
        row["shares"] += len(shared)
        thumbs_at: dict[int, list[int]] = defaultdict(list)
        for fb in thumbs[s.list_id]:
            if fb["kind"] == "thumb":
                row["thumbs_up" if fb["value"] > 0 else "thumbs_down"] += 1
                if s.position(fb["artist_id"]) is not None:
                    thumbs_at[s.position(fb["artist_id"])].append(fb["value"])  # type: ignore[index]
            else:
                row["ratings"] += 1
                row["rating_sum"] += fb["value"]
                row[f"rating_{fb['value']}"] += 1
        for position in range(1, len(s.artists) + 1):
            pkey = (s.day, s.list_type, s.model_version, s.variant, position)
            prow = positions.setdefault(pkey, defaultdict(int))  # type: ignore[arg-type]
            prow["items"] += 1
            prow["clicked_items"] += position in clicked
            prow["follows"] += position in followed
            prow["shares"] += position in shared
            prow["plays"] += plays_at[position]
            prow["thumbs_up"] += sum(v > 0 for v in thumbs_at[position])
            prow["thumbs_down"] += sum(v < 0 for v in thumbs_at[position])
    for key, new in sets.items():
        users[key]["new_artists"] = len(new["new_artists"])
        users[key]["new_followers"] = len(new["new_followers"])
        users[key]["new_longtail_listeners"] = len(new["tail"])
        day, user = key[0], key[1]
        users[key]["returned"] = int(any(day < v <= day + RETURN_DAYS for v in visit_days[user]))
    daily: Rows = {}
    for (day, _user, lt, mv, var), row in users.items():
        agg = daily.setdefault((day, lt, mv, var), defaultdict(int))  # type: ignore[arg-type]
        agg["users"] += 1
        agg["returned_users"] += row["returned"]
        for name, value in row.items():
            if name != "returned":
                agg[name] += value
    return _plain(users), _plain(daily), _plain(positions), per_event_day


def _plain(rows: Rows) -> Rows:
    return {k: dict(v) for k, v in rows.items()}


def _ratio(num: float, den: float) -> float | None:
    return None if not den else round(num / den, 6)


def derive(r: dict[str, int]) -> dict[str, Any]:
    """The API's figures for one row of summed counts (docs/online.md's definitions)."""
    thumbs = r["thumbs_up"] + r["thumbs_down"]
    return {
        "lists": r["lists"],
        "items": r["items"],
        "user_days": r["users"],
        "clicks": r["clicks"],
        "item_ctr": _ratio(r["clicked_items"], r["items"]),
        "list_ctr": _ratio(r["clicked_lists"], r["lists"]),
        "follow_through": _ratio(r["follows"], r["items"]),
        "share_through": _ratio(r["shares"], r["items"]),
        "plays": r["plays"],
        "play_ms": r["play_ms"],
        "discovery_ms_per_user_day": _ratio(r["new_play_ms"], r["users"]),
        "new_artists_per_user_day": _ratio(r["new_artists"], r["users"]),
        "thumbs_up": r["thumbs_up"],
        "thumbs_down": r["thumbs_down"],
        "thumbs_up_share": _ratio(r["thumbs_up"], thumbs),
        "thumbs_per_1000_items": _ratio(1000 * thumbs, r["items"]),
        "ratings": r["ratings"],
        "rating_mean": _ratio(r["rating_sum"], r["ratings"]),
        "rating_distribution": {str(k): r[f"rating_{k}"] for k in range(1, 6)},
        "subscriptions": r["subscriptions"],
        "new_followers": r["new_followers"],
        "new_longtail_listeners": r["new_longtail_listeners"],
        "longtail_share": _ratio(r["longtail_items"], r["items"]),
        "retention_7d": _ratio(r["returned_users"], r["users"]),
        "funnel": {
            "items_shown": r["items"],
            "clicked_items": r["clicked_items"],
            "plays": r["plays"],
            "follows": r["follows"],
        },
    }
