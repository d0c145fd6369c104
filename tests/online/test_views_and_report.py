"""The report, the API endpoint and the admin page show the rollups' numbers; an empty
store gives an empty, well-formed report; bad parameters get the error envelope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine

from cratedig.cli import cli
from cratedig.online.refresh import refresh
from cratedig.online.report import PLOTS, build_online_report
from cratedig.online.summary import iso_day
from cratedig.serving import create_app
from tests.online import scenario as S

KEY = "k-online"


def _app(engine: Engine, **extra: object) -> Flask:
    return create_app(
        {
            "ENGINE": engine,
            "DATABASE_URL": str(engine.url),
            "API_KEYS": (KEY,),
            "TESTING": True,
            **extra,
        }
    )


@pytest.fixture
def filled(engine: Engine) -> Iterator[Engine]:
    S.fill(engine)
    refresh(engine, full=True, now_ms=S.NOW)
    yield engine


def test_api_numbers_equal_the_hand_tally(filled: Engine) -> None:
    app = _app(filled)
    body = app.test_client().get("/api/v1/metrics/online?group_by=list_type").get_json()
    t = body["totals"]
    # 4 lists, 9 items; clicked items: L1 pos 1; lists clicked: L1, L2
    assert (t["lists"], t["items"], t["user_days"]) == (4, 9, 4)
    assert t["item_ctr"] == round(1 / 9, 6) and t["list_ctr"] == 0.5
    assert t["follow_through"] == round(1 / 9, 6) and t["share_through"] == round(1 / 9, 6)
    assert t["discovery_ms_per_user_day"] == 160_000 / 4  # 60 s (a1) + 100 s (g1)
    assert t["thumbs_up_share"] == 0.5 and t["thumbs_per_1000_items"] == round(2000 / 9, 6)
    assert t["rating_mean"] == round(11 / 3, 6)
    assert t["rating_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert (t["subscriptions"], t["new_followers"], t["new_longtail_listeners"]) == (1, 1, 1)
    assert t["longtail_share"] == round(6 / 9, 6) and t["retention_7d"] == 0.5
    assert t["funnel"] == {"items_shown": 9, "clicked_items": 1, "plays": 3, "follows": 1}
    assert body["attribution"]["unknown_list"] == 2
    groups = {g["list_type"]: g for g in body["groups"]}
    assert groups["hidden_gems"]["new_longtail_listeners"] == 1
    assert groups["may_like"]["items"] == 7
    positions = {p["position"]: p for p in body["positions"]}
    assert positions[1]["items"] == 4 and positions[1]["clicked_items"] == 1
    # every list has a position 1; a range: only day D+1 (L4)
    day = iso_day(S.D + 1)
    one = app.test_client().get(f"/api/v1/metrics/online?since={day}&until={day}").get_json()
    assert one["totals"]["lists"] == 1 and one["totals"]["subscriptions"] == 1


def test_api_obeys_the_read_policy_and_rejects_bad_parameters(filled: Engine) -> None:
    client = _app(filled, READ_REQUIRES_KEY=True).test_client()
    assert client.get("/api/v1/metrics/online").status_code == 401
    assert client.get("/api/v1/metrics/online", headers={"X-API-Key": KEY}).status_code == 200
    open_client = _app(filled).test_client()
    for query, field in (
        ("since=yesterday", "since"),
        ("until=2024-02-30", "until"),
        ("group_by=day,colour", "group_by"),
    ):
        response = open_client.get(f"/api/v1/metrics/online?{query}")
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == field


def test_admin_page_shows_numbers_and_charts(filled: Engine) -> None:
    html = (
        _app(filled)
        .test_client()
        .get("/admin/online", headers={"X-API-Key": KEY})
        .get_data(as_text=True)
    )
    assert html.count("<svg") == 6
    assert 'data-metric="items">9<' in html and 'data-metric="item_ctr">11.11%<' in html


def test_report_files_and_summary(filled: Engine, tmp_path: Path) -> None:
    summary = build_online_report(filled, tmp_path / "r")
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"report.html", "summary.json", *(n for n, _ in PLOTS)} <= files
    html = (tmp_path / "r" / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    saved = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert saved["totals"] == summary["totals"] and saved["totals"]["lists"] == 4


def test_empty_store_gives_an_empty_well_formed_report(engine: Engine, tmp_path: Path) -> None:
    refresh(engine, full=True)
    summary = build_online_report(engine, tmp_path / "empty")
    assert summary["totals"]["lists"] == 0 and summary["totals"]["item_ctr"] is None
    assert summary["groups"] == [] and summary["positions"] == []
    assert (tmp_path / "empty" / "report.html").stat().st_size > 0
    assert json.loads((tmp_path / "empty" / "summary.json").read_text())["by_day"] == []
    app = _app(engine)
    assert app.test_client().get("/admin/online", headers={"X-API-Key": KEY}).status_code == 200
    assert app.test_client().get("/api/v1/metrics/online").get_json()["totals"]["items"] == 0


def test_cli_refresh_and_report(sqlite_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", sqlite_url, "online", "refresh", "--full"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["full"] is True
    out = tmp_path / "rep"
    result = runner.invoke(
        cli, ["--db", sqlite_url, "online", "report", "--since", "2024-01-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file()
    bad = runner.invoke(
        cli, ["--db", sqlite_url, "online", "report", "--since", "x", "--out", str(out)]
    )
    assert bad.exit_code != 0 and "since" in str(bad.exception)  # cli.main prints it
