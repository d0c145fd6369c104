"""A real browser (Debian's Chromium through Playwright) using the pages.

Logs in as a site would (a ``cratedig_session`` cookie made by ``POST /api/v1/sessions``
with the API key; the pages are not in demo mode), opens the listener's home, sees
both lists, gives a thumbs up (stored), opens an artist from a list, follows it,
returns home and sees the lists changed; uses the picker; no CSP violation. Saves a
screenshot to ``test-artifacts/`` (and to ``$CRATEDIG_DOCS_SCREENSHOT`` when set).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from werkzeug.serving import make_server

from cratedig.store.schema import feedback, user_events
from tests.serving.conftest import KEY

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _list_ids(page, title: str) -> list[str]:
    section = page.locator("section.list", has=page.locator("h2", has_text=title))
    return section.locator("li.item").evaluate_all("els => els.map(e => e.dataset.artist)")


def test_home_thumbs_follow_and_changed_lists(base_url: str, app: Flask, store: Engine) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            session = app.test_client().post(
                "/api/v1/sessions", json={"user_id": "u01"}, headers={"X-API-Key": KEY}
            )
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            cookie = {"name": "cratedig_session", "value": session.get_json()["token"]}
            context.add_cookies([{**cookie, "url": base_url}])
            page = context.new_page()
            errors: list[str] = []  # CSP violations show as console errors ("Refused to ...")
            page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
            page.goto(f"{base_url}/users/u01")
            assert page.locator("h2", has_text="Artists You May Like").is_visible()
            assert page.locator("h2", has_text="Hidden Gems").is_visible()
            before = _list_ids(page, "Artists You May Like")
            assert set(before[:2]) == {"r5", "r6"}
            docs_shot = os.environ.get("CRATEDIG_DOCS_SCREENSHOT")
            if docs_shot:
                page.screenshot(path=docs_shot, full_page=False)

            first = page.locator("section.list").first.locator("li.item").first
            first.locator("[data-thumb=up]").click()
            page.wait_for_selector("section.list li.item button.pressed[data-thumb=up]")
            with store.connect() as conn:
                rows = conn.execute(
                    select(feedback.c.kind, feedback.c.value, feedback.c.artist_id)
                ).all()
            assert rows == [("thumb", 1, before[0])]

            # open the third artist of the list (j1) and follow it
            target = before[2]
            page.locator(f"section.list li.item[data-artist='{target}'] a").first.click()
            page.wait_for_url(f"**/artists/{target}?*")
            page.locator("#follow").click()
            page.wait_for_selector("#follow[data-following=true]")

            page.goto(f"{base_url}/users/u01")
            after = _list_ids(page, "Artists You May Like")
            assert target not in after and after != before
            page.screenshot(path=str(ARTIFACTS / "browser-home-after-follow.png"), full_page=True)

            # the picker (no inline script: the CSP allows none) encodes the id
            page.goto(f"{base_url}/")
            page.fill("#user-input", "u01")
            page.locator("form.picker button").click()
            page.wait_for_url("**/users/u01")
            assert not errors, errors
        finally:
            browser.close()
    with store.connect() as conn:
        kinds = conn.execute(
            select(user_events.c.event_type, user_events.c.source).where(
                user_events.c.user_id == "u01", user_events.c.event_type != "play_track"
            )
        ).all()
    types = {k for k, _ in kinds}
    assert "follow_artist" in types
    # the follow came from a list: its source is that list's id
    assert all(src.startswith("L") for _, src in kinds)
