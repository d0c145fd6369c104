"""The JSON API: every endpoint's success and error paths, the envelope and API keys."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from cratedig.ingest.write_path import MAX_BATCH
from cratedig.store import init_db, make_engine
from cratedig.store.schema import feedback, user_events, users
from tests.serving.conftest import KEY, make_app, post_follow, train_tiny
from tests.serving.helpers import JAZZ, T0, XSS, fill_store

H = {"X-API-Key": KEY}


def _envelope(resp, status: int, code: str, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field
    return body["error"]


def test_health(client: FlaskClient) -> None:
    body = client.get("/api/v1/health").get_json()
    assert body["status"] == "ok" and body["cache"] == "memory"
    assert body["model_version"].startswith("v")


def test_recommendations(client: FlaskClient) -> None:
    body = client.get("/api/v1/users/u01/recommendations").get_json()
    assert body["list"] == "may_like" and body["cold_start"] is False
    assert body["list_id"].startswith("L") and body["model_version"].startswith("v")
    ids = [i["artist_id"] for i in body["items"]]
    # u01 plays r1..r4: r5 and r6 are the only unplayed rock artists, then jazz
    assert set(ids[:2]) == {"r5", "r6"} and set(ids[2:]) <= set(JAZZ)
    assert len(ids) == 8 and [i["position"] for i in body["items"]] == list(range(1, 9))
    assert body["items"][0]["name"] in {"Artist R5", "Artist R6"}
    assert all(i["explanation"] for i in body["items"])
    short = client.get("/api/v1/users/u01/recommendations?k=3&list=hidden_gems").get_json()
    assert short["list"] == "hidden_gems" and len(short["items"]) == 3
    again = client.get("/api/v1/users/u01/recommendations").get_json()
    assert again["list_id"] != body["list_id"]  # one id per list served


def test_recommendations_bad_input(client: FlaskClient) -> None:
    _envelope(
        client.get("/api/v1/users/u01/recommendations?list=top"), 400, "validation_error", "list"
    )
    _envelope(client.get("/api/v1/users/u01/recommendations?k=0"), 400, "validation_error", "k")
    _envelope(client.get("/api/v1/users/u01/recommendations?k=x"), 400, "validation_error", "k")
    _envelope(client.get("/api/v1/users/u01/recommendations?k=101"), 400, "validation_error", "k")


def test_cold_start(client: FlaskClient, store: Engine) -> None:
    body = client.get("/api/v1/users/nobody/recommendations").get_json()
    assert body["cold_start"] is True and body["fallback"] == "global"
    # global popularity: xss has 12 listeners, every other artist 4
    assert body["items"][0]["artist_id"] == "xss" and body["items"][0]["name"] == XSS
    with store.begin() as conn:
        conn.execute(users.insert().values(user_id="newgb", country="FR", is_stub=False))
    fr = client.get("/api/v1/users/newgb/recommendations?k=5").get_json()
    assert fr["cold_start"] is True and fr["fallback"] == "country"
    assert [i["artist_id"] for i in fr["items"]][1:] == JAZZ[:4]  # FR listeners: jazz
    assert fr["items"][1]["explanation"] == "Popular in FR: 4 listeners"
    known = client.get("/api/v1/users/u01/recommendations").get_json()
    assert known["cold_start"] is False and known["fallback"] is None


def test_cold_start_in_a_small_country_gets_its_taste_cluster(
    sqlite_url: str, tmp_path: Path
) -> None:
    # u12, a jazz fan, is the only listener in BE: too few for a list of BE's own, so a
    # new BE user gets the list of the taste cluster BE's listeners belong to (jazz)
    engine = make_engine(sqlite_url)
    init_db(engine)
    fill_store(engine)
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.user_id == "u12").values(country="BE"))
    train_tiny(engine, tmp_path / "artifacts")
    with engine.begin() as conn:
        conn.execute(users.insert().values(user_id="newbe", country="BE", is_stub=False))
    client = make_app(engine, tmp_path).test_client()
    body = client.get("/api/v1/users/newbe/recommendations?k=5").get_json()
    assert body["cold_start"] is True and body["fallback"] == "cluster"
    picks = [i["artist_id"] for i in body["items"]]
    assert len(picks) >= 3 and set(picks) - {"xss"} <= set(JAZZ)
    assert "a taste common in BE" in body["items"][0]["explanation"]
    engine.dispose()


def test_similar_and_artist(client: FlaskClient) -> None:
    body = client.get("/api/v1/artists/r5/similar?k=2").get_json()
    # r5 co-occurs 3 times with r4 and r6 (cosine 0.75), the highest
    assert {i["artist_id"] for i in body["items"]} == {"r4", "r6"}
    assert body["list_id"] and body["name"] == "Artist R5"
    _envelope(client.get("/api/v1/artists/nope/similar"), 404, "not_found")
    _envelope(client.get("/api/v1/artists/r5/similar?k=-1"), 400, "validation_error", "k")
    artist = client.get("/api/v1/artists/xss").get_json()
    assert artist["name"] == XSS and len(artist["tracks"]) == 2 and artist["listeners"] == 12
    _envelope(client.get("/api/v1/artists/nope"), 404, "not_found")


def test_profile(client: FlaskClient) -> None:
    body = client.get("/api/v1/users/u01/profile").get_json()
    assert body["country"] == "GB"
    assert body["event_counts"] == {"play_track": 13}
    top = {"artist_id": "r1", "name": "Artist R1", "engagement": 3.0, "plays": 3}
    assert body["top_artists"][0] == top
    assert body["following"] == []
    _envelope(client.get("/api/v1/users/nobody/profile"), 404, "not_found")


def test_profile_ranks_by_weighted_engagement_like_the_cli(client: FlaskClient, store) -> None:
    """One follow (weight 5) outranks three full plays (3): the API's top artists are the
    ``user-profile`` command's, not a count of rows."""
    from cratedig.analytics.profile import user_profile

    follow = {**_event(event_type="follow_artist", artist_id="r4"), "event_id": "f-r4"}
    posted = client.post("/api/v1/events", json=follow, headers={"X-API-Key": KEY})
    assert posted.status_code == 201, posted.get_json()
    body = client.get("/api/v1/users/u01/profile").get_json()
    assert body["top_artists"][0]["artist_id"] == "r4"
    assert body["top_artists"][0]["engagement"] == 8.0  # 3 plays + a follow
    assert body["top_artists"] == user_profile(store, "u01")["top_artists"]
    assert body["following"] == [{"artist_id": "r4", "name": "Artist R4"}]


def _event(**kw) -> dict:
    return {
        "user_id": "u01",
        "event_type": "play_track",
        "artist_id": "r1",
        "occurred_at": "2024-01-01T00:00:00Z",
        "duration_ms": 200000,
        **kw,
    }


def test_events_need_a_key(client: FlaskClient) -> None:
    _envelope(client.post("/api/v1/events", json=_event()), 401, "unauthorized", "X-API-Key")
    _envelope(
        client.post("/api/v1/events", json=_event(), headers={"X-API-Key": "wrong"}),
        401,
        "unauthorized",
    )


def test_events_single_idempotent_and_invalid(client: FlaskClient, store: Engine) -> None:
    r = client.post("/api/v1/events", json=_event(event_id="api-1"), headers=H)
    assert r.status_code == 201 and r.get_json() == {
        "accepted": 1,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
        "errors": [],
    }
    r = client.post("/api/v1/events", json=_event(event_id="api-1"), headers=H)
    assert r.status_code == 200 and r.get_json()["duplicates"] == 1
    _envelope(
        client.post("/api/v1/events", json=_event(event_type="plya"), headers=H),
        400,
        "validation_error",
        "event_type",
    )
    # a track event without artist_id gets it from its track
    r = client.post(
        "/api/v1/events",
        json={
            "user_id": "u02",
            "event_type": "like_track",
            "track_id": "j3-t2",
            "occurred_at": T0 + 10**9,
            "event_id": "api-2",
        },
        headers=H,
    )
    assert r.status_code == 201
    with store.connect() as conn:
        row = conn.execute(select(user_events).where(user_events.c.event_id == "api-2")).one()
    assert row.artist_id == "j3" and row.occurred_at_ms == T0 + 10**9


def test_events_batch_per_item_errors(client: FlaskClient, store: Engine) -> None:
    batch = [
        _event(event_id="b1"),
        _event(event_id="b2", user_id=""),
        "junk",
        _event(event_id="b1"),
        _event(event_id="b3", user_id="brand-new"),
    ]
    r = client.post("/api/v1/events", json={"events": batch}, headers=H)
    body = r.get_json()
    assert r.status_code == 201
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "user_id"), (2, "event")]
    with store.connect() as conn:
        stub = conn.execute(select(users.c.is_stub).where(users.c.user_id == "brand-new"))
        assert stub.scalar_one() is True
    # a bare array works too
    r = client.post("/api/v1/events", json=[_event(event_id="b4")], headers=H)
    assert r.get_json()["accepted"] == 1


def test_events_body_errors(client: FlaskClient) -> None:
    _envelope(client.post("/api/v1/events", data="x", headers=H), 415, "unsupported_media_type")
    _envelope(
        client.post("/api/v1/events", data="{x", headers={**H, "Content-Type": "application/json"}),
        400,
        "bad_request",
        "body",
    )
    _envelope(
        client.post("/api/v1/events", json={"events": 3}, headers=H),
        400,
        "validation_error",
        "events",
    )
    _envelope(
        client.post("/api/v1/events", json=[{}] * (MAX_BATCH + 1), headers=H),
        413,
        "payload_too_large",
        "events",
    )


def test_feedback(client: FlaskClient, store: Engine) -> None:
    lst = client.get("/api/v1/users/u01/recommendations").get_json()
    r = client.post(
        "/api/v1/feedback",
        headers=H,
        json={"user_id": "u01", "list_id": lst["list_id"], "artist_id": "r5", "thumb": "up"},
    )
    assert r.status_code == 201 and r.get_json()["value"] == 1
    r = client.post(
        "/api/v1/feedback",
        headers=H,
        json={"user_id": "u01", "list_id": lst["list_id"], "rating": 4},
    )
    assert r.status_code == 201
    _envelope(
        client.post(
            "/api/v1/feedback", headers=H, json={"user_id": "u01", "list_id": "L1", "rating": 7}
        ),
        400,
        "validation_error",
        "rating",
    )
    _envelope(
        client.post("/api/v1/feedback", headers=H, json={"user_id": "u01", "thumb": "up"}),
        400,
        "validation_error",
        "artist_id",
    )
    _envelope(
        client.post("/api/v1/feedback", headers=H, json={"list_id": "L"}),
        400,
        "validation_error",
        "user_id",
    )
    _envelope(
        client.post("/api/v1/feedback", json={"user_id": "u01", "rating": 3}), 401, "unauthorized"
    )
    with store.connect() as conn:
        rows = conn.execute(
            select(feedback.c.kind, feedback.c.value, feedback.c.list_id).order_by(
                feedback.c.feedback_id
            )
        ).all()
    assert [(k, v) for k, v, _ in rows] == [("thumb", 1), ("rating", 4)]
    assert {lid for *_, lid in rows} == {lst["list_id"]}


def test_feedback_must_name_a_list_served_to_the_user_and_an_artist_of_it(
    client: FlaskClient, store: Engine
) -> None:
    lst = client.get("/api/v1/users/u01/recommendations").get_json()
    shown = [item["artist_id"] for item in lst["items"]]
    absent = next(a for a in ("j1", "j2", "j3", "r1", "r2", "r3") if a not in shown)
    other = client.get("/api/v1/users/u07/recommendations").get_json()["list_id"]
    for body, status, field, value in (
        ({"list_id": "L-never-served", "artist_id": shown[0], "thumb": "up"}, 404, "list_id",
         "L-never-served"),
        ({"list_id": "L0123456789abcdef0123", "rating": 4}, 404, "list_id",
         "L0123456789abcdef0123"),  # the service's shape: looked for again for 1.5 s
        ({"list_id": other, "rating": 4}, 404, "list_id", other),  # served to u07
        ({"list_id": lst["list_id"], "artist_id": absent, "thumb": "down"}, 400, "artist_id",
         absent),
    ):  # fmt: skip
        error = _envelope(
            client.post("/api/v1/feedback", headers=H, json={"user_id": "u01", **body}),
            status,
            "not_found" if status == 404 else "validation_error",
            field,
        )
        message = error["message"]
        assert message.startswith(f"{field}: ") and repr(value) in message
        assert ("served to user 'u01'" if status == 404 else lst["list_id"]) in message
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(feedback)).scalar_one() == 0
    # a list just served is known before its impression is written (the writer buffers)
    ok = client.post(
        "/api/v1/feedback",
        headers=H,
        json={"user_id": "u01", "list_id": lst["list_id"], "artist_id": shown[-1], "thumb": "up"},
    )
    assert ok.status_code == 201


def test_flask_errors_use_the_envelope(client: FlaskClient) -> None:
    _envelope(client.get("/api/v1/nothing"), 404, "not_found")
    r = client.delete("/api/v1/health")
    _envelope(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]


def test_unexpected_errors_are_500_envelopes(store: Engine, tmp_path: Path) -> None:
    app = make_app(store, tmp_path)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    app.testing = False
    client = app.test_client()
    err = _envelope(client.get("/api/v1/boom"), 500, "internal_error")
    assert "secret" not in err["message"]
    with store.begin() as conn:  # a store failure is a 500 envelope too
        conn.exec_driver_sql("DROP TABLE precomputed_lists")
    _envelope(client.get("/api/v1/users/u01/recommendations"), 500, "internal_error")


def test_reads_can_require_a_key(store: Engine, tmp_path: Path) -> None:
    client = make_app(store, tmp_path, read_requires_key=True).test_client()
    _envelope(client.get("/api/v1/users/u01/recommendations"), 401, "unauthorized")
    assert client.get("/api/v1/users/u01/recommendations", headers=H).status_code == 200
    assert client.get("/api/v1/health").status_code == 200  # health stays open


def test_writes_closed_without_configured_keys(store: Engine, tmp_path: Path) -> None:
    client = make_app(store, tmp_path, api_keys=()).test_client()
    err = _envelope(client.post("/api/v1/events", json=_event(), headers=H), 401, "unauthorized")
    assert "CRATEDIG_API_KEYS" in err["message"]


def test_openapi_lists_every_endpoint(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {"/api/v1" + p for p in spec["paths"]}
    routes = {
        str(r.rule).replace("<id:", "{").replace("<", "{").replace(">", "}")
        for r in app.url_map.iter_rules()
        if str(r.rule).startswith("/api/v1")
    }
    assert routes == documented
    assert client.get("/openapi.json").get_json() == spec


def test_store_counts_after_posts(client: FlaskClient, store: Engine) -> None:
    before = _count(store)
    client.post("/api/v1/events", json=[_event(event_id=f"n{i}") for i in range(500)], headers=H)
    assert _count(store) == before + 500


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(user_events)).scalar_one())


def test_no_version_yet_is_503(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    client = make_app(engine, tmp_path).test_client()
    _envelope(client.get("/api/v1/users/u1/recommendations"), 503, "not_ready")


def test_core_endpoints_on_both_backends(engine: Engine, tmp_path: Path) -> None:
    fill_store(engine)
    train_tiny(engine, tmp_path / "artifacts")
    app = make_app(engine, tmp_path)
    client = app.test_client()
    body = client.get("/api/v1/users/u01/recommendations").get_json()
    assert set(i["artist_id"] for i in body["items"][:2]) == {"r5", "r6"}
    batch = [_event(event_id="pg1"), _event(event_id="pg1"), _event(event_id="pg2", count="x")]
    r = client.post("/api/v1/events", json=batch, headers=H).get_json()
    assert (r["accepted"], r["duplicates"], r["rejected"]) == (1, 1, 1)
    r = post_follow(client)
    assert r.status_code == 201
    assert (
        client.get("/api/v1/users/u01/recommendations").get_json()["items"][0]["artist_id"] == "j2"
    )
    fb = client.post(
        "/api/v1/feedback",
        headers=H,
        json={"user_id": "u01", "list_id": body["list_id"], "rating": 5},
    )
    assert fb.status_code == 201 and fb.get_json()["feedback_id"] >= 1
    svc = app.extensions["cratedig"]
    svc.impressions.flush()
    with engine.connect() as conn:
        from cratedig.store.schema import impressions

        lists = conn.execute(select(func.count()).select_from(impressions)).scalar_one()
        n = conn.execute(select(func.sum(impressions.c.n_items))).scalar_one()
    assert lists == 2 and n == 8 + 7  # the second list lost j1, which u01 now follows
    svc.close()
