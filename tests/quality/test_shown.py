"""The findings, the quarantine and the decisions are shown: in the analytics report,
on the admin pages' data-quality view (same read policy as the API), and in Chromium."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine
from werkzeug.serving import make_server

from cratedig.analytics.report import build_report
from cratedig.config import Settings
from cratedig.ingest.bulk import import_records
from cratedig.ingest.review import discard
from cratedig.serving import create_app
from cratedig.store import init_db, make_engine
from cratedig.store.quality import QuarantineFilter, record_decision, replace_findings

DAY_MS = 86_400_000
DAY = 20_513  # 2026-03-01
KEY = "quality-key"
HOSTILE = "<script>window.__xss=1</script>"
FINDING = "1,234 events on this day; the same weekday of the previous weeks had 25,000"


def _fill(engine: Engine) -> None:
    good = [
        {
            "user_id": f"u{i % 7}",
            "event_type": "play_track",
            "artist_id": f"a{i % 5}",
            "occurred_at_ms": DAY * DAY_MS + i * 60_000,
        }
        for i in range(60)
    ]
    bad = [{"user_id": "u1", "event_type": "folow_artist", "artist_id": "a1"}] * 3
    bad += [{"user_id": "", "event_type": "visit", "occurred_at_ms": 1}] * 2
    bad += [{"user_id": HOSTILE, "event_type": "x"}]
    import_records(engine, "events", enumerate(good + bad, start=1), source="upload.csv")
    discard(engine, QuarantineFilter(reason="user_id"), "empty ids from a test client", "carol")
    finding = {
        "check_name": "low_volume_day",
        "start_ms": DAY * DAY_MS,
        "end_ms": (DAY + 1) * DAY_MS,
        "event_type": "",
        "observed": 1234.0,
        "expected": 25000.0,
        "lower_bound": 12500.0,
        "detail": FINDING,
        "found_at_ms": 1,
    }
    vanished = {
        **finding,
        "check_name": "vanished_type",
        "start_ms": (DAY + 1) * DAY_MS,
        "end_ms": (DAY + 2) * DAY_MS,
        "event_type": "follow_artist",
        "observed": 0.0,
        "detail": "0 follow_artist events on this day; the type vanished",
    }
    with engine.begin() as conn:
        replace_findings(conn, DAY * DAY_MS, (DAY + 7) * DAY_MS, [finding, vanished])
        record_decision(
            conn,
            action="exclude",
            start_ms=DAY * DAY_MS,
            end_ms=(DAY + 1) * DAY_MS,
            event_type=None,
            rows_affected=0,
            decided_by="dave",
            decided_at_ms=(DAY + 3) * DAY_MS,
            note="tracking outage confirmed by ops",
        )


@pytest.fixture
def quality_store(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    init_db(engine)
    _fill(engine)
    yield engine
    engine.dispose()


def _app(engine: Engine, tmp_path: Path, **settings) -> Flask:
    values = {
        "database_url": str(engine.url),
        "api_keys": (KEY,),
        "artifacts_dir": str(tmp_path / "artifacts"),
        **settings,
    }
    return create_app({"ENGINE": engine, "SETTINGS": Settings(**values), "TESTING": True})


def test_report_has_a_data_quality_section(quality_store: Engine, tmp_path: Path) -> None:
    summary = build_report(quality_store, tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert '<section id="quality">' in html and "Data quality" in html
    assert "1,234 events on this day" in html
    assert "1 without a decision" in html  # the vanished follows; the outage was excluded
    assert "tracking outage confirmed by ops" in html
    assert "folow_artist" in html
    assert HOSTILE not in html
    quality = summary["quality"]
    assert quality["unreviewed"] == 1
    assert quality["quarantine"] == {"open": 4, "discarded": 2}
    assert {f["check_name"] for f in quality["findings"]} == {"low_volume_day", "vanished_type"}
    on_disk = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["quality"]["decisions"] == 2


def test_admin_quality_view(quality_store: Engine, tmp_path: Path) -> None:
    app = _app(quality_store, tmp_path)
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = KEY  # admin pages need the key once keys exist
    admin = client.get("/admin").get_data(as_text=True)
    assert 'href="/admin/quality"' in admin
    response = client.get("/admin/quality")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "open: <b>4</b>" in page and "discarded: <b>2</b>" in page
    assert FINDING in page and "vanished_type" in page
    assert "tracking outage confirmed by ops" in page and "dave" in page
    assert "empty ids from a test client" in page and "carol" in page
    assert "folow_artist" in page and "2026-" in page  # by day
    assert HOSTILE not in page  # escaped
    app.extensions["cratedig"].close()


def test_admin_quality_view_obeys_the_read_policy(quality_store: Engine, tmp_path: Path) -> None:
    app = _app(quality_store, tmp_path, read_requires_key=True)
    client = app.test_client()
    closed = client.get("/admin/quality")
    assert closed.status_code == 401
    assert closed.get_json()["error"]["code"] == "unauthorized"
    opened = client.get("/admin/quality", headers={"X-API-Key": KEY})
    assert opened.status_code == 200
    app.extensions["cratedig"].close()


def test_admin_quality_view_empty_store(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    init_db(engine)
    client = _app(engine, tmp_path).test_client()
    page = client.get("/admin/quality", headers={"X-API-Key": KEY}).get_data(as_text=True)
    assert "No findings stored" in page and "No decisions yet" in page
    engine.dispose()


CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
def test_admin_quality_view_in_chromium(quality_store: Engine, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    app = _app(quality_store, tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(
                    viewport={"width": 1200, "height": 900},
                    # the admin pages take the API key as the basic-auth password
                    http_credentials={"username": "admin", "password": KEY},
                )
                page.goto(f"{base}/admin")
                page.get_by_role("link", name="Data quality").click()
                page.wait_for_url("**/admin/quality")
                assert page.locator("h1").inner_text() == "Data quality"
                findings = page.locator("#findings tbody tr")
                assert findings.count() == 2
                assert "vanished_type" in findings.nth(0).inner_text()
                assert findings.nth(0).locator("td").nth(4).inner_text() == "no"
                assert findings.nth(1).locator("td").nth(4).inner_text() == "yes"
                reasons = page.locator("#by-reason tbody tr")
                assert reasons.count() == 2  # folow_artist x3, the script row
                assert reasons.nth(0).locator("td").nth(0).inner_text() == "3"
                assert page.locator("#sample tbody tr").count() == 4
                decisions = page.locator("#decisions tbody tr").all_inner_texts()
                assert any("exclude" in d and "dave" in d for d in decisions)
                assert any("discard" in d and "carol" in d for d in decisions)
                # the hostile row is shown as text, not run
                assert page.evaluate("() => window.__xss === undefined")
                assert HOSTILE in page.locator("#sample").inner_text()
                page.screenshot(path=str(ARTIFACTS / "browser-admin-quality.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["cratedig"].close()
