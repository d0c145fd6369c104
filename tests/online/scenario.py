"""A hand-made store: impressions, events and feedback whose online tallies are worked
out by hand in ``EXPECTED_*`` below (each number's reason is in a comment)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert

from cratedig.store.schema import feedback, impressions, user_events
from cratedig.store.schema.rollups import OUTCOME_COLUMNS

DAY = 86_400_000
HOUR = 3_600_000
MIN = 60_000
D = 20_000  # the first impression day
T0 = D * DAY + 10 * HOUR
NOW = T0 + 10 * DAY  # refreshes run "now"


def _imp(
    list_id: str, user: str, lt: str, mv: str | None, var: str | None, ids: list[str], at: int
) -> dict[str, Any]:
    import json

    return {
        "list_id": list_id,
        "user_id": user,
        "list_type": lt,
        "model_version": mv,
        "variant": var,
        "artist_ids": json.dumps(ids),
        "n_items": len(ids),
        "shown_at_ms": at,
    }


IMPRESSIONS = [
    _imp("L1", "u1", "may_like", "v1", "A", ["a1", "a2", "a3"], T0),
    _imp("L2", "u2", "may_like", "v1", "A", ["a1", "a4"], T0 + HOUR),
    _imp("L3", "u1", "hidden_gems", "v1", None, ["g1", "g2"], T0 + 2 * HOUR),
    _imp("L4", "u3", "may_like", "v2", "B", ["a1", "a2"], T0 + DAY),
]


def _ev(
    eid: str,
    user: str,
    etype: str,
    at: int,
    artist: str | None = None,
    dur: int | None = None,
    source: str = "organic",
) -> dict[str, Any]:
    return {
        "event_id": eid,
        "user_id": user,
        "event_type": etype,
        "occurred_at_ms": at,
        "artist_id": artist,
        "duration_ms": dur,
        "count": 1,
        "source": source,
    }


EVENTS = [
    # history: u1 knew a2 long before (outside an incremental refresh's loaded range)
    _ev("e0", "u1", "play_track", T0 - 20 * DAY, "a2", 1000),
    # u9 (never exposed) makes a1 the most played artist
    *[_ev(f"h{i}", "u9", "play_track", T0 - 3 * DAY + i, "a1", 10) for i in range(5)],
    _ev("e1", "u1", "recommendation_click", T0 + MIN, "a1", source="L1"),
    _ev("e2", "u1", "play_track", T0 + 2 * MIN, "a1", 60_000, source="L1"),
    _ev("e3", "u1", "follow_artist", T0 + 3 * MIN, "a1"),  # view-through L1 pos 1
    _ev("e4", "u1", "play_track", T0 + DAY, "a2", 30_000),  # view-through L1 pos 2
    _ev("e5", "u1", "share_track", T0 + 2 * DAY, "a3"),  # view-through L1 pos 3
    _ev("e6", "u1", "play_track", T0 + 3 * HOUR, "g1", 100_000),  # view-through L3 pos 1
    _ev("e7", "u1", "play_track", T0 + 8 * DAY, "g2", 7_000),  # past the 7-day window
    _ev("e8", "u2", "recommendation_click", T0 + HOUR + MIN, "a4", source="L-unknown"),
    _ev("e9", "u2", "visit", T0 + HOUR + 5 * MIN, source="L2"),  # list-level click
    _ev("e10", "u3", "play_track", T0 + DAY + HOUR, "a1", 5_000, source="L1"),  # not u3's
    _ev("e11", "u3", "subscribe", T0 + DAY + 2 * HOUR),  # last touch L4
    _ev("e12", "u1", "visit", T0 + 2 * DAY),  # u1 returns on day D+2
    _ev("e13", "u2", "visit", T0 + 9 * DAY),  # day D+9: too late to count as a return
    _ev("e14", "u3", "visit", T0 + DAY + 3 * HOUR),  # same day as L4: not a return
]

FEEDBACK = [
    {"user_id": "u1", "list_id": "L1", "artist_id": "a1", "kind": "thumb", "value": 1},
    {"user_id": "u1", "list_id": "L1", "artist_id": "a3", "kind": "thumb", "value": -1},
    {"user_id": "u2", "list_id": "L2", "artist_id": None, "kind": "rating", "value": 4},
    {"user_id": "u1", "list_id": "L3", "artist_id": None, "kind": "rating", "value": 5},
    {"user_id": "u3", "list_id": "L4", "artist_id": None, "kind": "rating", "value": 2},
    {"user_id": "u3", "list_id": "Lx", "artist_id": None, "kind": "rating", "value": 1},
]


def fill(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(impressions), IMPRESSIONS)
        conn.execute(insert(user_events), EVENTS)
        conn.execute(insert(feedback), [{**f, "created_at_ms": T0 + 4 * HOUR} for f in FEEDBACK])


ZERO = dict.fromkeys([*OUTCOME_COLUMNS, "returned"], 0)

# Long tail: plays a1 7 (u9 x5, e2, e10), a2 2 (e0, e4), g1 1, g2 1: four played
# artists, head = ceil(0.2 * 4) = 1 artist (a1); a2, a3, a4, g1, g2 are long tail.
EXPECTED_USERS: dict[tuple[int, str, str, str, str], dict[str, int]] = {
    (D, "u1", "may_like", "v1", "A"): {
        **ZERO,
        "lists": 1,
        "items": 3,
        "clicks": 2,  # e1 (recommendation_click) and e2 (source L1)
        "clicked_items": 1,
        "clicked_lists": 1,  # position 1 only
        "follows": 1,  # e3, position 1
        "shares": 1,  # e5, position 3
        "plays": 2,
        "play_ms": 90_000,  # e2 + e4
        "new_play_ms": 60_000,
        "new_artists": 1,  # a1 new; a2 known from e0
        "thumbs_up": 1,
        "thumbs_down": 1,
        "new_followers": 1,  # a1 followed for the first time
        "longtail_items": 2,  # a2, a3
        "returned": 1,  # e12 on day D+2
    },
    (D, "u1", "hidden_gems", "v1", ""): {
        **ZERO,
        "lists": 1,
        "items": 2,
        "plays": 1,
        "play_ms": 100_000,
        "new_play_ms": 100_000,
        "new_artists": 1,  # e6
        "ratings": 1,
        "rating_sum": 5,
        "rating_5": 1,
        "new_longtail_listeners": 1,  # g1
        "longtail_items": 2,
        "returned": 1,
    },
    (D, "u2", "may_like", "v1", "A"): {
        **ZERO,
        "lists": 1,
        "items": 2,
        "clicks": 1,
        "clicked_lists": 1,  # e9: a visit from L2, no artist
        "ratings": 1,
        "rating_sum": 4,
        "rating_4": 1,
        "longtail_items": 1,  # a4
    },
    (D + 1, "u3", "may_like", "v2", "B"): {
        **ZERO,
        "lists": 1,
        "items": 2,
        "subscriptions": 1,  # e11, last touch L4
        "ratings": 1,
        "rating_sum": 2,
        "rating_2": 1,
        "longtail_items": 1,  # a2
    },
}

EXPECTED_POSITIONS: dict[tuple[int, str, str, str, int], dict[str, int]] = {
    (D, "may_like", "v1", "A", 1): {
        "items": 2,
        "clicked_items": 1,
        "follows": 1,
        "shares": 0,
        "plays": 1,
        "thumbs_up": 1,
        "thumbs_down": 0,
    },
    (D, "may_like", "v1", "A", 2): {
        "items": 2,
        "clicked_items": 0,
        "follows": 0,
        "shares": 0,
        "plays": 1,
        "thumbs_up": 0,
        "thumbs_down": 0,
    },
    (D, "may_like", "v1", "A", 3): {
        "items": 1,
        "clicked_items": 0,
        "follows": 0,
        "shares": 1,
        "plays": 0,
        "thumbs_up": 0,
        "thumbs_down": 1,
    },
    (D, "hidden_gems", "v1", "", 1): {
        "items": 1,
        "clicked_items": 0,
        "follows": 0,
        "shares": 0,
        "plays": 1,
        "thumbs_up": 0,
        "thumbs_down": 0,
    },
    (D, "hidden_gems", "v1", "", 2): {
        "items": 1,
        "clicked_items": 0,
        "follows": 0,
        "shares": 0,
        "plays": 0,
        "thumbs_up": 0,
        "thumbs_down": 0,
    },
    (D + 1, "may_like", "v2", "B", 1): {
        "items": 1,
        "clicked_items": 0,
        "follows": 0,
        "shares": 0,
        "plays": 0,
        "thumbs_up": 0,
        "thumbs_down": 0,
    },
    (D + 1, "may_like", "v2", "B", 2): {
        "items": 1,
        "clicked_items": 0,
        "follows": 0,
        "shares": 0,
        "plays": 0,
        "thumbs_up": 0,
        "thumbs_down": 0,
    },
}

# per event day: events, click_through, view_through, unknown_list, unattributed
EXPECTED_EVENT_DAYS = {
    D - 20: (1, 0, 0, 0, 1),  # e0
    D - 3: (5, 0, 0, 0, 5),  # u9's plays
    D: (6, 3, 2, 1, 0),  # e1 e2 e9 click; e3 e6 view; e8 unknown list
    D + 1: (4, 0, 2, 1, 1),  # e4 e11 view; e10 another user's list; e14 a plain visit
    D + 2: (2, 0, 1, 0, 1),  # e5 view; e12 visit
    D + 8: (1, 0, 0, 0, 1),  # e7 outside the window
    D + 9: (1, 0, 0, 0, 1),  # e13
}
