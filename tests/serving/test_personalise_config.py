"""Personalisation weighs new events with the served version's recorded configuration.

The store's events are full plays only, so the follow weight and the unfollow policy
do not change the trained lists: only how the posted follows and unfollows re-rank
them. Expected orders are those of ``test_personalise.py`` (worked out by hand there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cratedig.config import EngagementSettings, Settings
from cratedig.events import DEFAULT_WEIGHTS
from cratedig.matrix import EngagementConfig
from cratedig.matrix.weights import RECORD_KEY
from cratedig.pipeline import registry
from cratedig.serving import personalise
from tests.serving.conftest import KEY, make_app, train_tiny
from tests.serving.helpers import fill_store

NO_FOLLOWS = {**DEFAULT_WEIGHTS, "follow_artist": 0.0}
FOLLOWED_J1 = ["j2", "j3", "j6", "j4", "r5", "r6", "j5"]
BEFORE = ["r5", "r6", "j1", "j2", "j3", "j4", "j5", "j6"]


@pytest.fixture
def filled(engine: Engine) -> Engine:
    """The hand-made store, untrained, on SQLite and on PostgreSQL."""
    fill_store(engine)
    return engine


def _client(engine: Engine, tmp_path: Path, **settings: Any) -> Iterator[FlaskClient]:
    app: Flask = make_app(engine, tmp_path, **settings)
    yield app.test_client()
    app.extensions["cratedig"].close()


def _ids(client: FlaskClient) -> list[str]:
    body = client.get("/api/v1/users/u01/recommendations").get_json()
    return [i["artist_id"] for i in body["items"]]


def _post(client: FlaskClient, event_type: str, artist: str, second: int) -> None:
    r = client.post(
        "/api/v1/events",
        headers={"X-API-Key": KEY},
        json={
            "user_id": "u01",
            "event_type": event_type,
            "artist_id": artist,
            "occurred_at": f"2024-01-01T00:00:{second:02d}Z",
        },
    )
    assert r.status_code == 201, r.get_json()


def test_version_records_the_configuration_it_was_trained_with(
    filled: Engine, tmp_path: Path
) -> None:
    engagement = EngagementSettings(unfollow_policy="ignore", half_life_days=30.0)
    version = train_tiny(filled, tmp_path / "artifacts", weights=NO_FOLLOWS, engagement=engagement)
    stored = registry.get_version(filled, version.version_id).params[RECORD_KEY]
    expected = EngagementConfig(
        weights=NO_FOLLOWS,
        unfollow_policy="ignore",
        half_life_days=30.0,
        now_ms=version.snapshot_ms,
    )
    assert EngagementConfig.from_record(stored) == expected


def test_settings_changed_after_training_do_not_change_personalisation(
    filled: Engine, tmp_path: Path
) -> None:
    train_tiny(filled, tmp_path / "artifacts")  # follows weigh 5 (the default) in this version
    for client in _client(filled, tmp_path, weights=NO_FOLLOWS):  # today: follows weigh 0
        assert _ids(client) == BEFORE
        _post(client, "follow_artist", "j1", 0)
        # the version's weight 5 applies: j1's neighbours move up (with weight 0 the
        # follow would not even be read and the list would stay BEFORE)
        assert _ids(client) == FOLLOWED_J1


def test_recorded_configuration_is_used_rather_than_the_defaults(
    filled: Engine, tmp_path: Path
) -> None:
    train_tiny(filled, tmp_path / "artifacts", weights=NO_FOLLOWS)  # this version ignores follows
    for client in _client(filled, tmp_path):  # today's settings: the defaults
        _post(client, "follow_artist", "j1", 0)
        assert _ids(client) == BEFORE


def test_recorded_unfollow_policy_is_used(filled: Engine, tmp_path: Path) -> None:
    train_tiny(
        filled, tmp_path / "artifacts", engagement=EngagementSettings(unfollow_policy="ignore")
    )
    for client in _client(filled, tmp_path):  # today's policy: "remove"
        _post(client, "follow_artist", "r5", 1)
        _post(client, "unfollow_artist", "r5", 2)
        # "ignore": the unfollow is not read, r5 is followed (known, so it leaves the
        # list) and lifts its nearest neighbour r6 to the top; under "remove" r6 would
        # be damped to fourth place (test_personalise.py)
        ids = _ids(client)
        assert ids[0] == "r6" and "r5" not in ids


def test_versions_without_a_record_fall_back_to_the_settings() -> None:
    settings = Settings(weights=NO_FOLLOWS)
    engagement = personalise.VersionEngagement(settings)
    old = SimpleNamespace(version_id="v-old", params={"k_lists": 8})
    new = SimpleNamespace(
        version_id="v-new", params={RECORD_KEY: EngagementConfig(half_life_days=9).as_record()}
    )
    assert engagement.config(old) == EngagementConfig.from_settings(settings)
    config, query = engagement.get(new)
    assert config.half_life_days == 9 and config.weights["follow_artist"] == 5.0
    assert query is not None and engagement.get(new)[1] is query  # built once per version
