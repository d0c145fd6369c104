"""``POST /api/v1/events`` in stream mode, against a real Redis: the same answers and
validation as the synchronous path, nothing stored until a consumer runs, the lag in
``/health`` and ``/admin``, and a 503 envelope when the stream is unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select

from cratedig.ingest.consumer import StreamConsumer
from cratedig.ingest.stream import open_stream
from cratedig.store.schema import user_events
from tests.serving.conftest import KEY, make_app

pytestmark = pytest.mark.redis
H = {"X-API-Key": KEY}
T = 1_700_000_000_000


@pytest.fixture
def stream_app(store: Engine, tmp_path: Path, stream_redis: tuple[str, str]) -> Iterator[Flask]:
    url, name = stream_redis
    app = make_app(store, tmp_path, ingest_mode="stream", stream_url=url, stream_name=name)
    yield app
    app.extensions["cratedig"].close()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(user_events)).scalar_one())


def _event(**kw: Any) -> dict[str, Any]:
    return {
        "user_id": "u01",
        "event_type": "play_track",
        "artist_id": "r1",
        "occurred_at": T,
        "duration_ms": 200000,
        **kw,
    }


BATCH = [
    _event(event_id="b1"),
    _event(event_id="b2", user_id=""),
    "junk",
    _event(event_id="b1"),
    _event(event_id="b1", duration_ms=5),
    _event(event_id="b3", user_id="brand-new"),
    # a track event without artist_id: the request resolves it from the store
    {"user_id": "u02", "event_type": "like_track", "track_id": "j3-t2", "occurred_at": T},
    {"user_id": "u02", "event_type": "like_track", "track_id": "nope", "occurred_at": T},
    _event(event_id="b9", occurred_at=4_000_000_000_000),
]


def test_same_answers_as_sync_mode(stream_app: Flask, app: Flask, store: Engine) -> None:
    before = _count(store)
    sync = app.test_client().post("/api/v1/events", json=BATCH, headers=H)
    queued = stream_app.test_client().post("/api/v1/events", json=BATCH, headers=H)
    assert sync.status_code == 201 and queued.status_code == 202
    assert queued.get_json() == sync.get_json()  # validation and counts alike
    assert queued.get_json()["accepted"] == 3
    assert _count(store) == before + 3  # by the synchronous app only


def test_events_wait_for_a_consumer(
    stream_app: Flask, store: Engine, stream_redis: tuple[str, str]
) -> None:
    url, name = stream_redis
    client = stream_app.test_client()
    before = _count(store)
    r = client.post("/api/v1/events", json={"events": BATCH}, headers=H)
    assert r.status_code == 202 and _count(store) == before
    health = client.get("/api/v1/health").get_json()
    assert health["ingest_mode"] == "stream" and health["status"] == "ok"
    lag = health["stream"]
    assert (lag["ok"], lag["name"], lag["length"], lag["undelivered"]) == (True, name, 1, 1)
    stream = open_stream(url, name, "cratedig-consumers")
    StreamConsumer(store, stream, "c1").step()
    assert _count(store) == before + 3
    lag = client.get("/api/v1/health").get_json()["stream"]
    assert (lag["undelivered"], lag["pending"]) == (0, 0)
    assert [c["name"] for c in lag["consumers"]] == ["c1"]
    page = client.get("/admin", headers=H).get_data(as_text=True)
    assert 'id="stream"' in page and name in page and '<th scope="row">c1</th>' in page


def test_single_bad_event_gets_the_same_envelope(stream_app: Flask, app: Flask) -> None:
    bad = _event(event_type="plya")
    a = app.test_client().post("/api/v1/events", json=bad, headers=H)
    b = stream_app.test_client().post("/api/v1/events", json=bad, headers=H)
    assert a.status_code == b.status_code == 400
    assert a.get_json() == b.get_json()
    assert b.get_json()["error"]["field"] == "event_type"
    r = stream_app.test_client().post("/api/v1/events", json=[{}] * 10_001, headers=H)
    assert r.status_code == 413


def test_unreachable_stream_is_a_503_envelope(store: Engine, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, ingest_mode="stream", stream_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    r = client.post("/api/v1/events", json=_event(), headers=H)
    assert r.status_code == 503
    error = r.get_json()["error"]
    assert error["code"] == "stream_unavailable" and "127.0.0.1:1" in error["message"]
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.get_json()["status"] == "degraded"
    assert health.get_json()["stream"]["ok"] is False
    assert "cannot be reached" in client.get("/admin", headers=H).get_data(as_text=True)
