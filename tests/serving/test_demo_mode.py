"""The demo serves its pages in demo mode, where page buttons post without a login."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine, func, select

from cratedig.config import load_settings
from cratedig.demo import DemoState, serve_env
from cratedig.serving import create_app
from cratedig.simulator.site import SimulationConfig
from cratedig.store.schema import user_events


def test_demo_serves_pages_that_post_events(store: Engine, tmp_path: Path) -> None:
    state = DemoState(tmp_path, SimulationConfig(), Console())
    env = serve_env(state, base={})
    settings = load_settings(env=env)
    assert settings.pages_demo_mode is True
    assert settings.database_url == f"sqlite:///{state.db_path.resolve()}"
    assert load_settings(env={}).pages_demo_mode is False  # off unless asked for
    app = create_app({"ENGINE": store, "SETTINGS": replace(settings, database_url=str(store.url))})
    client = app.test_client()
    html = client.get("/users/u03").get_data(as_text=True)
    token = re.search(r'data-token="([^"]+)"', html)
    assert token is not None
    event = {
        "user_id": "u03",
        "event_type": "play_track",
        "artist_id": "r1",
        "track_id": "r1-t1",
        "duration_ms": 180_000,
        "occurred_at": "2024-01-01T00:00:00Z",
    }
    r = client.post("/ui/events", json=event, headers={"X-UI-Token": token.group(1)})
    assert r.status_code == 201, r.get_data(as_text=True)
    with store.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(user_events)
            .where(user_events.c.occurred_at_ms == 1_704_067_200_000)  # 2024-01-01
        ).scalar_one()
    assert n == 1
    app.extensions["cratedig"].close()
