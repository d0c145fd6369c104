"""HTML pages: content, escaping, and the page-side write endpoints."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from cratedig.serving.sessions import issue
from cratedig.store.schema import feedback, user_events
from tests.serving.conftest import KEY
from tests.serving.helpers import XSS, served_thumb

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _html(client: FlaskClient, url: str) -> str:
    # /admin needs the API key once keys are configured (docs/security.md)
    r = client.get(url, headers={"Accept": "text/html", "X-API-Key": KEY})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_data(as_text=True)


def test_every_page_escapes_artist_names(client: FlaskClient) -> None:
    # xss is every cold-start user's first pick, a "fan also like" of r1, and its own page
    pages = ["/users/nobody", "/artists/xss?user=u01", "/artists/r1?user=u01", "/"]
    for url in pages:
        html = _html(client, url)
        assert XSS not in html, url
    assert ESCAPED in _html(client, "/users/nobody")
    assert ESCAPED in _html(client, "/artists/xss?user=u01")
    assert ESCAPED in _html(client, "/artists/r1")


def test_home_shows_both_lists(client: FlaskClient) -> None:
    html = _html(client, "/users/u01")
    assert "Artists You May Like" in html and "Hidden Gems" in html
    assert html.count('data-list-id="L') == 2
    assert "Artist R5" in html and 'data-thumb="up"' in html and 'data-rating="5"' in html


def test_artist_page_and_admin(client: FlaskClient, tmp_path: Path) -> None:
    html = _html(client, "/artists/r5?user=u01&src=Labc")
    assert "Fans also like" in html and 'data-event="play_track"' in html
    assert 'data-source="Labc"' in html and ">Follow<" in html
    admin = _html(client, "/admin")
    assert "(serving)" in admin and "ndcg@10" in admin
    assert 'href="/admin/report"' not in admin and "not written yet" in admin
    for target in ("/admin/online", "/admin/experiments", "/admin/quality"):
        assert f'href="{target}"' in admin


def test_admin_links_the_report_when_present(app: Flask, client: FlaskClient) -> None:
    report = Path(app.extensions["cratedig"].settings.artifacts_dir) / "report" / "index.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<h1>report</h1>")
    assert 'href="/admin/report"' in _html(client, "/admin")
    report_page = client.get("/admin/report", headers={"X-API-Key": KEY})
    assert report_page.get_data(as_text=True) == "<h1>report</h1>"


def test_unknown_artist_page_is_404(client: FlaskClient) -> None:
    r = client.get("/artists/nope", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "not found" in r.get_data(as_text=True)
    assert client.get("/artists/nope").get_json()["error"]["code"] == "not_found"


def test_ui_writes_need_the_page_token(app: Flask, client: FlaskClient, store: Engine) -> None:
    # a session the site's login issued (the cookie's token), sent as the page does
    token = issue(app.config["SECRET_KEY"], "u01")
    other = issue(app.config["SECRET_KEY"], "u02")
    event = {
        "user_id": "u01",
        "event_type": "follow_artist",
        "artist_id": "j1",
        "occurred_at": "2024-01-01T00:00:00Z",
        "source": "Lxyz",
    }
    assert client.post("/ui/events", json=event).status_code == 403
    assert client.post("/ui/events", json=event, headers={"X-UI-Token": other}).status_code == 403
    assert client.post("/ui/events", json=event, headers={"X-UI-Token": token}).status_code == 201
    thumb = {**served_thumb(client, "u01"), "thumb": "down"}
    assert client.post("/ui/feedback", json=thumb, headers={"X-UI-Token": token}).status_code == 201
    # feedback on a list never served, or on an artist not in the list: the error envelope
    for bad, status, field in (
        ({"list_id": "Lxyz"}, 404, "list_id"),
        ({"artist_id": "nobody"}, 400, "artist_id"),
    ):
        r = client.post("/ui/feedback", json={**thumb, **bad}, headers={"X-UI-Token": token})
        assert r.status_code == status and r.get_json()["error"]["field"] == field
    with store.connect() as conn:
        src = conn.execute(
            select(user_events.c.source).where(user_events.c.event_type == "follow_artist")
        ).scalar_one()
        fb = conn.execute(select(feedback.c.value)).scalar_one()
    assert src == "Lxyz" and fb == -1
    assert "Unfollow" in _html(client, "/artists/j1?user=u01")
