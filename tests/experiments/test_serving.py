"""Experiments through the service: sticky assignment, variants in impressions, layers,
ramps, holdout and interleaving arms, the API and the admin page (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select

from cratedig.exceptions import ValidationError
from cratedig.experiments import manage
from cratedig.experiments.analysis import analyse
from cratedig.experiments.assignment import assign
from cratedig.pipeline import registry
from cratedig.store import init_db, make_engine
from cratedig.store.schema import impressions, users
from cratedig.store.writes import insert_ignore
from tests.serving.conftest import KEY, make_app, train_tiny
from tests.serving.helpers import fill_store

USERS = [f"x{i:03d}" for i in range(120)] + [f"u{i:02d}" for i in range(1, 13)]


@pytest.fixture
def two_versions(db_url: str, tmp_path: Path) -> Iterator[tuple[Engine, str, str]]:
    """A store with two ready versions (the second not promoted)."""
    engine = make_engine(db_url)
    init_db(engine)
    fill_store(engine)
    # the cold-start users x000..x119 are known to the site (only known users' lists
    # are logged as impressions, and unknown ones are rate-limited)
    with engine.begin() as conn:
        insert_ignore(conn, users, [{"user_id": u, "is_stub": False} for u in USERS[:120]])
    first = train_tiny(engine, tmp_path / "artifacts")
    second = train_tiny(engine, tmp_path / "artifacts", margin=100.0)
    registry.promote(engine, first.version_id)
    assert registry.active_version(engine).version_id == first.version_id  # type: ignore[union-attr]
    yield engine, first.version_id, second.version_id
    engine.dispose()


def _serve(app: Flask, user: str, list_type: str = "may_like") -> dict[str, Any]:
    reply = app.test_client().get(f"/api/v1/users/{user}/recommendations?list={list_type}&k=5")
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def _stored(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(impressions)).all())


def test_assignment_is_sticky_and_recorded_in_every_impression(
    two_versions: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, v1, v2 = two_versions
    exp = manage.create(engine, "ab", [f"control={v1}", f"treatment={v2}"])
    exp = manage.start(engine, "ab")
    apps = [make_app(engine, tmp_path), make_app(engine, tmp_path)]  # two "workers"
    try:
        seen: dict[str, str] = {}
        for round_ in range(2):
            for user in USERS:
                payload = _serve(apps[round_], user)
                expected = assign(exp.design, user)
                assert payload["variant"] == f"ab:{expected}"
                assert payload["model_version"] == (v1 if expected == "control" else v2)
                assert seen.setdefault(user, payload["variant"]) == payload["variant"]
        # another list type is outside the experiment
        assert _serve(apps[0], "u01", "hidden_gems")["variant"] is None
    finally:
        for app in apps:
            app.extensions["cratedig"].close()
    rows = [r for r in _stored(engine) if r.list_type == "may_like"]
    assert len(rows) == 2 * len(USERS)
    assert all(r.variant == seen[r.user_id] for r in rows)
    assert {r.variant for r in rows} == {"ab:control", "ab:treatment"}


def test_ramping_up_reassigns_nobody_and_layers_exclude_each_other(
    two_versions: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, v1, v2 = two_versions
    manage.create(engine, "first", [f"a={v1}", f"b={v2}"], layer_share=0.5)
    manage.create(engine, "second", [f"a={v1}", f"b={v1},personalise=off"], layer_share=0.5)
    manage.create(engine, "third", [f"a={v1}", f"b={v2}"], layer_share=0.5)
    manage.create(engine, "other", [f"a={v1}", "b=holdout"], layer="other")
    manage.start(engine, "first", ramp=0.2)
    manage.start(engine, "second")
    with pytest.raises(ValidationError, match="--layer"):
        manage.start(engine, "third")  # the default layer is full
    app = make_app(engine, tmp_path)
    try:
        before = {u: _serve(app, u)["variant"] for u in USERS}
        manage.ramp(engine, "first", 60)
        with pytest.raises(ValidationError, match="PERCENT"):
            manage.ramp(engine, "first", 10)
        manage.start(engine, "other")
        service = app.extensions["cratedig"]
        service.versions.layers(fresh=True)
        routes = {u: service.versions.for_user(u, "may_like") for u in USERS}
    finally:
        app.extensions["cratedig"].close()
    in_first = {u for u, v in before.items() if v and v.startswith("first:")}
    in_second = {u for u, v in before.items() if v and v.startswith("second:")}
    assert in_first and in_second and not in_first & in_second
    # ramping "first" up keeps everyone it had, in the same arm, and adds users
    for user in in_first:
        assert routes[user].label == before[user]
    assert sum(r.experiment == "first" for r in routes.values()) > len(in_first)
    # the "other" layer serves users the default layer's experiments do not enrol
    other = {u for u, r in routes.items() if r.experiment == "other"}
    assert other and not other & (in_first | in_second)
    assert all(r.experiment != "second" for u, r in routes.items() if u in in_first)
    holdout_route = manage.load(engine, "other").variant("b")
    assert holdout_route.holdout and not holdout_route.personalise


def test_holdout_serves_the_global_popular_list(
    two_versions: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, v1, _ = two_versions
    exp = manage.create(engine, "hold", [f"control={v1}", "holdout=holdout"])
    manage.start(engine, "hold")
    app = make_app(engine, tmp_path)
    try:
        users = [u for u in USERS if assign(exp.design, u) == "holdout"][:5]
        lists = [_serve(app, u) for u in users]
    finally:
        app.extensions["cratedig"].close()
    assert lists and all(p["fallback"] == "global" and not p["personalised"] for p in lists)
    assert len({tuple(i["artist_id"] for i in p["items"]) for p in lists}) == 1


def test_an_interleaved_arm_records_the_team_of_every_position(
    two_versions: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, v1, v2 = two_versions
    exp = manage.create(engine, "tdi", [f"control={v1}", f"mix=interleave={v1},{v2}"])
    manage.start(engine, "tdi")
    app = make_app(engine, tmp_path)
    try:
        users = [u for u in USERS if assign(exp.design, u) == "mix"]
        served = {u: _serve(app, u) for u in users}
        again = {u: _serve(app, u) for u in users}
    finally:
        app.extensions["cratedig"].close()
    assert "teams" not in next(iter(served.values()))
    rows = [r for r in _stored(engine) if r.variant == "tdi:mix"]
    assert len(rows) == 2 * len(users)
    for row in rows:
        assert row.teams is not None and len(row.teams) == row.n_items
        assert set(row.teams) <= {"A", "B"}
    for u in users:  # the same user gets the same interleaving
        assert [i["artist_id"] for i in served[u]["items"]] == [
            i["artist_id"] for i in again[u]["items"]
        ]
    # every user clicks the first item of their first list: that item's team wins
    first = {}
    for row in sorted(rows, key=lambda r: r.impression_id):
        first.setdefault(row.user_id, row)
    app = make_app(engine, tmp_path)
    try:
        for user, row in first.items():
            reply = app.test_client().post(
                "/api/v1/events",
                headers={"X-API-Key": KEY},
                json={
                    "user_id": user,
                    "event_type": "recommendation_click",
                    "artist_id": json.loads(row.artist_ids)[0],
                    "occurred_at": int(time.time() * 1000),  # after the list was shown
                    "source": row.list_id,
                },
            )
            assert reply.status_code in (200, 201), reply.get_json()
    finally:
        app.extensions["cratedig"].close()
    report = analyse(engine, manage.load(engine, "tdi"))
    inter = report["interleaving"]
    assert inter["users"] == len(users) and inter["ties"] == 0
    assert inter["wins_b"] == sum(r.teams[0] == "B" for r in first.values())
    assert inter["wins_a"] + inter["wins_b"] == len(users)
    assert 0 <= inter["p_value"] <= 1 and report["decision"]["text"]


def test_the_api_and_the_admin_page_show_experiments(
    two_versions: tuple[Engine, str, str], tmp_path: Path
) -> None:
    engine, v1, v2 = two_versions
    manage.create(engine, "shown", [f"control={v1}", f"treatment={v2}"], guardrails=["rating"])
    manage.start(engine, "shown")
    app = make_app(engine, tmp_path, read_requires_key=True)
    try:
        client = app.test_client()
        for user in USERS:
            client.get(f"/api/v1/users/{user}/recommendations", headers={"X-API-Key": KEY})
        app.extensions["cratedig"].impressions.flush()
        assert client.get("/api/v1/experiments/shown").status_code == 401
        reply = client.get("/api/v1/experiments/shown", headers={"X-API-Key": KEY})
        assert reply.status_code == 200
        body = reply.get_json()
        assert body["experiment"]["name"] == "shown"
        assert sum(body["users"].values()) == len(USERS)
        assert body["srm"]["mismatch"] is False
        assert body["decision"]["text"]
        listing = client.get("/api/v1/experiments", headers={"X-API-Key": KEY}).get_json()
        assert [e["name"] for e in listing["experiments"]] == ["shown"]
        missing = client.get("/api/v1/experiments/nope", headers={"X-API-Key": KEY})
        assert missing.status_code == 404 and missing.get_json()["error"]
        page = client.get("/admin/experiments", headers={"X-API-Key": KEY})
        assert page.status_code == 200 and b"shown" in page.data and b"running" in page.data
        spec = client.get("/api/v1/openapi.json").get_json()
        assert "/experiments/{name}" in spec["paths"]
    finally:
        app.extensions["cratedig"].close()


@pytest.mark.parametrize(
    ("variants", "field"),
    [
        (["control=v1"], "--variant"),
        (["a=active", "a=active"], "--variant"),
        (["a=active", "b=personalise=maybe"], "--variant"),
        (["a=active", "b=interleave=x"], "--variant"),
    ],
)
def test_bad_experiments_are_refused_naming_the_field(
    sqlite_url: str, variants: list[str], field: str
) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    with pytest.raises(ValidationError, match=field):
        manage.create(engine, "bad", variants)
    with pytest.raises(ValidationError, match="name"):
        manage.create(engine, "bad name!", ["a=active", "b=active"])
    engine.dispose()


def test_variant_in_impressions_json_is_valid(two_versions: tuple[Engine, str, str]) -> None:
    engine, v1, v2 = two_versions
    exp = manage.create(engine, "js", [f"c={v1}", f"t={v2}"], weights=[1, 3])
    assert exp.weights == (1.0, 3.0)
    assert json.loads(json.dumps(exp.as_dict()))["variants"][1] == {"name": "t", "spec": v2}
