"""The listener's pages in a real browser (Debian's Chromium through Playwright).

* following an artist of a genre new to the listener refreshes the May Like list in
  place (no reload) with a cue of what changed, and the recent-listening panel shows
  the follow;
* thumbs and ratings are stored and shown again after a reload;
* at 390x844 no page scrolls sideways;
* axe-core finds no serious or critical violation on the picker, home, artist and
  admin pages (the report is printed);
* with ``CRATEDIG_PAGE_SHOTS=<dir>`` each page is saved at desktop and mobile width.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from werkzeug.serving import make_server

from cratedig.store.schema import artist_tags, feedback, user_events
from cratedig.store.writes import insert_ignore
from tests.serving.conftest import KEY
from tests.serving.helpers import JAZZ, ROCK

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
PAGES = {
    "picker": "/",
    "home": "/users/u01",
    "artist": "/artists/j1?user=u01",
    "admin": "/admin",
}


@pytest.fixture
def tagged(store: Engine) -> Engine:
    """The serving store with genres: rock artists tagged rock, jazz artists jazz."""
    rows = [
        {"artist_id": a, "tag": tag, "weight": w, "rank": None}
        for group, genre in ((ROCK, "rock"), (JAZZ, "jazz"))
        for a in group
        for tag, w in ((genre, 2.0), ("live", 1.0))
    ]
    with store.begin() as conn:
        insert_ignore(conn, artist_tags, rows)
    return store


@pytest.fixture
def base_url(app: Flask, tagged: Engine) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


class LoggedIn:
    """A Chromium whose pages are logged in as u01 (a site session cookie, as a site's
    login would issue it) and send the API key to the admin pages (basic auth)."""

    def __init__(self, chromium: Any, app: Flask, base_url: str) -> None:
        self.chromium = chromium
        session = app.test_client().post(
            "/api/v1/sessions", json={"user_id": "u01"}, headers={"X-API-Key": KEY}
        )
        self.cookie = {
            "name": "cratedig_session",
            "value": session.get_json()["token"],
            "url": base_url,
        }

    def new_page(self, **options: Any) -> Any:
        context = self.chromium.new_context(
            http_credentials={"username": "admin", "password": KEY}, **options
        )
        context.add_cookies([self.cookie])
        return context.new_page()


@pytest.fixture
def browser(app: Flask, base_url: str) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield LoggedIn(chromium, app, base_url)
        finally:
            chromium.close()


def _ids(page: Any, list_type: str) -> list[str]:
    return page.locator(f"section[data-list-type={list_type}] li.item").evaluate_all(
        "els => els.map(e => e.dataset.artist)"
    )


def test_follow_a_new_genre_updates_the_list_in_place(
    base_url: str, browser: Any, tagged: Engine
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{base_url}/users/u01")
    before = _ids(page, "may_like")
    # the rock fan's list shows genres and listener counts; j1 is jazz, new to them
    first = page.locator("section[data-list-type=may_like] li.item").first
    assert "rock" in first.locator(".card").inner_text()
    assert "listeners" in first.locator(".card").inner_text()
    jazz = [a for a in before if a in JAZZ]
    assert jazz, before
    target = jazz[0]
    assert page.locator("#recent li.recent-item").count() == 0
    page.evaluate("window.__noReload = 1")

    page.locator(
        f"section[data-list-type=may_like] li.item[data-artist={target}] [data-follow]"
    ).click()
    page.wait_for_selector("section[data-list-type=may_like] .changes.show")
    after = _ids(page, "may_like")
    cue = page.locator("section[data-list-type=may_like] .changes").inner_text()
    print("May Like before:", before, "after:", after, "cue:", cue)
    assert target not in after and after != before
    assert "Left:" in cue and "Artist " + target.upper() in cue
    assert page.evaluate("window.__noReload") == 1  # the same document: no reload
    recent = page.locator(f"#recent li.recent-item[data-artist={target}]")
    assert "followed" in recent.inner_text()
    _assert_accessible(page, "home after a live update")

    # the server agrees after a reload: the follow is stored and shapes the panel
    page.reload()
    assert "followed" in page.locator(f"#recent li[data-artist={target}]").inner_text()
    assert _ids(page, "may_like") == after
    with tagged.connect() as conn:
        types = conn.execute(
            select(user_events.c.event_type).where(
                user_events.c.user_id == "u01", user_events.c.artist_id == target
            )
        ).scalars()
        assert "follow_artist" in list(types)
    page.close()


def test_thumbs_and_ratings_persist_across_a_reload(
    app: Flask, base_url: str, browser: Any, tagged: Engine
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{base_url}/users/u01")
    item = page.locator("section[data-list-type=may_like] li.item").first
    artist = item.get_attribute("data-artist")
    item.locator("[data-thumb=up]").click()
    page.wait_for_selector(f"li.item[data-artist={artist}] [data-thumb=up][aria-pressed=true]")
    gems = page.locator("section[data-list-type=hidden_gems]")
    gems.locator("[data-rating='4']").click()
    page.wait_for_selector(
        "section[data-list-type=hidden_gems] [data-rating='4'][aria-pressed=true]"
    )
    page.wait_for_selector("section[data-list-type=hidden_gems] .changes.show")
    app.extensions["cratedig"].impressions.flush()  # the rated list's impression is written

    page.reload()
    up = page.locator(
        f"section[data-list-type=may_like] li.item[data-artist={artist}] [data-thumb=up]"
    )
    assert up.get_attribute("aria-pressed") == "true"
    rated = page.locator("section[data-list-type=hidden_gems] [aria-pressed=true][data-rating]")
    assert rated.get_attribute("data-rating") == "4"
    assert (
        page.locator("section[data-list-type=may_like] [aria-pressed=true][data-rating]").count()
        == 0
    )
    with tagged.connect() as conn:
        rows = conn.execute(select(feedback.c.kind, feedback.c.value)).all()
    assert sorted(rows) == [("rating", 4), ("thumb", 1)]
    page.close()


def test_no_page_scrolls_sideways_on_a_phone(base_url: str, browser: Any) -> None:
    page = browser.new_page(viewport=MOBILE, is_mobile=True, has_touch=True)
    for name, path in PAGES.items():
        page.goto(base_url + path)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        print(f"{name}: scrollWidth={widths[0]} clientWidth={widths[1]}")
        assert widths[0] <= widths[1], name
    page.close()


def _axe_serious(page: Any, label: str) -> list[str]:
    """Run axe-core on the page, print its report, return the serious/critical rule ids."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    print(f"axe {label}: {len(violations)} violation(s)")
    for v in violations:
        print(f"  [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} node(s))")
    bad = [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    if bad:
        print(results.generate_report())
    return bad


def _assert_accessible(page: Any, label: str) -> None:
    bad = _axe_serious(page, label)
    assert not bad, (label, bad)


def test_axe_finds_no_serious_or_critical_violations(base_url: str, browser: Any) -> None:
    failures = {}
    for viewport in (DESKTOP, MOBILE):
        page = browser.new_page(viewport=viewport)
        for name, path in PAGES.items():
            page.goto(base_url + path)
            label = f"{name} {viewport['width']}px"
            bad = _axe_serious(page, label)
            if bad:
                failures[label] = bad
        page.close()
    assert not failures, failures


def test_screenshots_of_each_page(base_url: str, browser: Any) -> None:
    """Saves ``<name>-desktop.png`` and ``<name>-mobile.png`` of each page to
    ``$CRATEDIG_PAGE_SHOTS`` (the docs' pictures), else to ``test-artifacts/pages``."""
    out = Path(
        os.environ.get("CRATEDIG_PAGE_SHOTS")
        or Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
    )
    out.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        page = browser.new_page(viewport=viewport)
        for name, path in PAGES.items():
            page.goto(base_url + path)
            shot = out / f"{name}-{label}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 1000
        # the home page right after a follow: the cue, the new order, the recent panel
        page.goto(base_url + PAGES["home"])
        jazz = next(a for a in _ids(page, "may_like") if a in JAZZ)
        page.locator(
            f"section[data-list-type=may_like] li.item[data-artist={jazz}] [data-follow]"
        ).click()
        page.wait_for_selector("section[data-list-type=may_like] .changes.show")
        page.wait_for_timeout(2100)  # let the highlight settle
        page.screenshot(path=str(out / f"home-after-follow-{label}.png"), full_page=True)
        page.close()
