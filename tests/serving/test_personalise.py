"""Recent activity re-ranks lists on the next request, with no retrain.

Expected orders are worked out by hand from the tiny model (cosine co-occurrence):
u01 plays r1..r4 and xss; its may_like candidates are r5, r6, j1..j6 (base rank
scores 1, .875, .75, .625, .5, .375, .25, .125). j1's 5 nearest artists are j2 and j6
(0.75), xss (0.577), j3 and j4 (0.5); r5's are r4 and r6 (0.75), xss, r1, r2.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cratedig.serving import personalise
from cratedig.serving.lists import ListAssembler
from tests.serving.conftest import KEY, post_follow

H = {"X-API-Key": KEY}


def _ids(client: FlaskClient, user: str = "u01") -> list[str]:
    body = client.get(f"/api/v1/users/{user}/recommendations").get_json()
    return [i["artist_id"] for i in body["items"]]


def _post(client: FlaskClient, event_type: str, artist: str, n: int = 0) -> None:
    r = client.post(
        "/api/v1/events",
        headers=H,
        json={
            "user_id": "u01",
            "event_type": event_type,
            "artist_id": artist,
            "occurred_at": f"2024-01-01T00:00:{n:02d}Z",
        },
    )
    assert r.status_code == 201


def test_follow_pushes_similar_artists_up(client: FlaskClient) -> None:
    before = _ids(client)  # also fills the cache
    assert before == ["r5", "r6", "j1", "j2", "j3", "j4", "j5", "j6"]
    _post(client, "follow_artist", "j1")
    body = client.get("/api/v1/users/u01/recommendations").get_json()
    # j2: .625 + 1 = 1.625; j3: .5 + .667; j6: .125 + 1; j4: .375 + .667; r5 1; r6 .875
    assert [i["artist_id"] for i in body["items"]] == ["j2", "j3", "j6", "j4", "r5", "r6", "j5"]
    assert body["personalised"] is True
    assert body["items"][0]["explanation"] == "Because you recently liked Artist J1"
    profile = client.get("/api/v1/users/u01/profile").get_json()
    assert profile["following"] == [{"artist_id": "j1", "name": "Artist J1"}]


def test_unfollow_removes_artist_and_damps_neighbours(client: FlaskClient) -> None:
    _post(client, "follow_artist", "r5", 1)
    _post(client, "unfollow_artist", "r5", 2)
    # r5 leaves; r6 (its nearest, weight 1) is damped by half: .875 * .5 = .4375
    assert _ids(client) == ["j1", "j2", "j3", "r6", "j4", "j5", "j6"]


def test_refollow_after_unfollow_counts_as_follow() -> None:
    events = [
        _Ev("r5", "unfollow_artist", -5.0, 1),
        _Ev("r5", "follow_artist", 5.0, 2),
        _Ev("j1", "play_track", 1.0, 3),
    ]
    signals = personalise.fold_signals(events)
    assert signals.following == {"r5"} and signals.unfollowed == set()
    assert signals.positive == {"r5": 5.0, "j1": 1.0}


def test_rerank_without_signals_keeps_order() -> None:
    cands = [{"artist_id": a, "score": 1.0} for a in "abc"]
    out = personalise.rerank(cands, personalise.Signals(), lambda a: [])
    assert [c["artist_id"] for c in out] == ["a", "b", "c"]


def test_cold_start_user_gets_neighbours_of_a_follow(client: FlaskClient) -> None:
    r = post_follow(client, "fresh", "j1")
    assert r.status_code == 201
    body = client.get("/api/v1/users/fresh/recommendations?k=3").get_json()
    assert body["cold_start"] is True
    # global list: xss (12 listeners), then j1..j6, r1..r6 (4 each): base 1 - rank/13.
    # j2: .846 + 1 = 1.846; xss: 1 + .577/.75 = 1.77; j6: .538 + 1 = 1.538; j1 is known
    assert [i["artist_id"] for i in body["items"]] == ["j2", "xss", "j6"]


def test_personalised_list_is_computed_once_per_activity(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = app.extensions["cratedig"]
    calls: list[str] = []
    real = ListAssembler._personalise

    def counted(self: ListAssembler, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])  # the user
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ListAssembler, "_personalise", counted)
    _post(client, "follow_artist", "j1")
    first = _ids(client)
    assert first[0] == "j2" and calls == ["u01"]
    # the per-user entry expires (or is dropped): the same activity is not scored again
    svc.user_cache.invalidate(["u01"])
    assert _ids(client) == first and calls == ["u01"]
    # a new event changes the activity, so the list is computed anew and changes
    _post(client, "follow_artist", "r5", 1)
    after = _ids(client)
    assert calls == ["u01", "u01"]
    assert after != first and "r5" not in after


class _Ev:
    def __init__(self, artist_id: str, event_type: str, weight: float, t: int) -> None:
        self.artist_id, self.event_type, self.weight, self.occurred_at_ms = (
            artist_id,
            event_type,
            weight,
            t,
        )
