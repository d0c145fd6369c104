"""The API's core paths on PostgreSQL: lists, events (stubs, duplicates), feedback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cratedig.store.schema import feedback, impressions, user_events, users
from tests.serving.conftest import KEY, make_app

pytestmark = pytest.mark.postgres
H = {"X-API-Key": KEY}


def test_lists_events_and_feedback_on_postgres(pg_store: Engine, tmp_path: Path) -> None:
    app = make_app(pg_store, tmp_path)
    client = app.test_client()
    body = client.get("/api/v1/users/u01/recommendations?k=3").get_json()
    assert len(body["items"]) == 3 and body["cold_start"] is False
    cold = client.get("/api/v1/users/nobody/recommendations?k=3").get_json()
    assert cold["cold_start"] is True
    batch = [
        {
            "event_id": "pg-1",
            "user_id": "newcomer",
            "event_type": "follow_artist",
            "artist_id": body["items"][0]["artist_id"],
            "occurred_at": "2024-01-01T00:00:00Z",
            "source": body["list_id"],
        },
        {
            "event_id": "pg-1",
            "user_id": "newcomer",
            "event_type": "follow_artist",
            "artist_id": body["items"][0]["artist_id"],
            "occurred_at": "2024-01-01T00:00:00Z",
        },
        {
            "event_id": "pg-2",
            "user_id": "newcomer",
            "event_type": "nope",
            "occurred_at": "2024-01-01T00:00:00Z",
        },
    ]
    posted = client.post("/api/v1/events", json=batch, headers=H)
    result = posted.get_json()
    # pg-1 again with another source: a conflict (issue #10, defect 11), not a duplicate
    counts = (result["accepted"], result["duplicates"], result["conflicts"], result["rejected"])
    assert counts == (1, 0, 1, 1)
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("conflict", "event_id"),
        ("validation_error", "event_type"),
    ]
    again = client.post("/api/v1/events", json=batch[:1], headers=H).get_json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    fb = client.post(
        "/api/v1/feedback",
        headers=H,
        json={"user_id": "u01", "list_id": body["list_id"], "rating": 4},
    )
    assert fb.status_code == 201
    app.extensions["cratedig"].close()
    with pg_store.connect() as conn:
        stored = conn.execute(select(user_events).where(user_events.c.event_id == "pg-1")).one()
        assert stored.source == body["list_id"]
        assert conn.execute(select(users.c.is_stub).where(users.c.user_id == "newcomer")).scalar()
        assert conn.execute(select(func.count()).select_from(feedback)).scalar_one() == 1
        # u01's list is logged; "nobody" is not a known user, so its list is not
        assert conn.execute(select(func.count()).select_from(impressions)).scalar_one() == 1
