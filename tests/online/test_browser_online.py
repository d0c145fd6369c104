"""A real browser (Debian's Chromium through Playwright) opens the Online admin view
and finds its charts and numbers."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from werkzeug.serving import make_server

from cratedig.online.refresh import refresh
from cratedig.serving import create_app
from tests.online import scenario as S

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
def base_url(sqlite_url: str) -> Iterator[str]:
    from cratedig.store import init_db, make_engine

    engine: Engine = make_engine(sqlite_url)
    init_db(engine)
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    app = create_app({"ENGINE": engine, "DATABASE_URL": sqlite_url, "TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["cratedig"].close()
    engine.dispose()


def test_online_view_shows_charts_and_numbers(base_url: str) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{base_url}/admin/online")
            assert page.locator("h1", has_text="Online").is_visible()
            charts = page.locator("figure.online-chart svg")
            assert charts.count() == 6
            assert charts.first.is_visible()
            assert page.locator("svg polyline").count() >= 3  # CTR lines per version
            assert page.locator("svg rect.bar").count() >= 4
            assert page.locator("[data-metric=items]").inner_text() == "9"
            assert page.locator("[data-metric=item_ctr]").inner_text() == "11.11%"
            assert page.locator("[data-metric=subscriptions]").inner_text() == "1"
            rows = page.locator("table.online-groups tbody tr")
            assert rows.count() == 3
            assert all(u.startswith(base_url) for u in requests)  # no CDN
            page.screenshot(path=str(ARTIFACTS / "admin-online.png"), full_page=True)
        finally:
            browser.close()
