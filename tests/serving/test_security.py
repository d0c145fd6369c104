"""Regression tests of issue #10's serving defects (1, 6, 8 and the serving parts of 12).

Each test names its defect. The modules added by the fix are imported inside the
tests, so that each test fails on its own on the code before the fix.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from cratedig.store.schema import feedback, impressions, serving_state, user_events, users
from cratedig.store.writes import insert_ignore
from tests.serving.conftest import KEY, make_app
from tests.serving.helpers import served_thumb

EVENT = {
    "user_id": "u01",
    "event_type": "follow_artist",
    "artist_id": "j1",
    "occurred_at": "2024-01-01T00:00:00Z",
}


@pytest.fixture
def build(store: Engine, tmp_path: Path) -> Iterator[Any]:
    """``build(**settings)``: an app on the trained store with these settings."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = make_app(store, tmp_path, **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["cratedig"].close()


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _page_token(client: FlaskClient, url: str, **kw: Any) -> str:
    html = client.get(url, headers={"Accept": "text/html"}, **kw).get_data(as_text=True)
    match = re.search(r'data-token="([^"]*)"', html)
    assert match, html[:300]
    return match.group(1)


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{key}".encode()).decode()}


# -- defect 1: pages as a write path, the read policy, /admin, the secret ---------------


def test_d1_pages_hand_out_no_write_token_outside_demo_mode(build: Any, store: Engine) -> None:
    for keys in ((KEY,), ()):
        client = build(api_keys=keys).test_client()
        token = _page_token(client, "/users/anything")
        assert token == ""
        before = _count(store, user_events)
        forged = client.post("/ui/events", json={**EVENT, "user_id": "anything"})
        assert forged.status_code == 403
        assert forged.get_json()["error"]["code"] == "forbidden"
        assert _count(store, user_events) == before


def test_d1_demo_mode_pages_post_with_their_demo_token(build: Any, store: Engine) -> None:
    demo = build(pages_demo_mode=True, secret_key="s3cret")
    client = demo.test_client()
    token = _page_token(client, "/users/u01")
    assert token
    assert client.post("/ui/events", json=EVENT, headers={"X-UI-Token": token}).status_code == 201
    other = client.post(
        "/ui/events", json={**EVENT, "user_id": "u02"}, headers={"X-UI-Token": token}
    )
    assert other.status_code == 403  # a token is for one user
    # the same secret with demo mode off: demo tokens are worthless
    site = build(pages_demo_mode=False, secret_key="s3cret").test_client()
    assert site.post("/ui/events", json=EVENT, headers={"X-UI-Token": token}).status_code == 403


def test_d1_site_login_session_enables_page_writes(build: Any, store: Engine) -> None:
    client = build().test_client()
    assert client.post("/api/v1/sessions", json={"user_id": "u01"}).status_code == 401
    issued = client.post("/api/v1/sessions", json={"user_id": "u01"}, headers={"X-API-Key": KEY})
    assert issued.status_code == 201
    body = issued.get_json()
    assert body["cookie"] == "cratedig_session" and body["user_id"] == "u01"
    client.set_cookie("cratedig_session", body["token"])
    token = _page_token(client, "/users/u01")
    assert token == body["token"]
    assert _page_token(client, "/users/u02") == ""  # another user's page: read-only
    assert client.post("/ui/events", json=EVENT, headers={"X-UI-Token": token}).status_code == 201
    thumb = served_thumb(client, "u01", **{"X-API-Key": KEY})
    assert client.post("/ui/feedback", json=thumb, headers={"X-UI-Token": token}).status_code == 201
    assert _count(store, feedback) == 1


def test_d1_pages_obey_the_read_policy(build: Any) -> None:
    client = build(read_requires_key=True).test_client()
    urls = ["/", "/users/u01", "/artists/r1", "/artists/r1?user=u01", "/admin"]
    for url in urls:
        assert client.get("/api/v1/artists/r1").status_code == 401
        r = client.get(url, headers={"Accept": "text/html"})
        assert r.status_code == 401, url
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert client.get(url, headers=_basic(KEY)).status_code == 200, url
        assert client.get(url, headers={"X-API-Key": KEY}).status_code == 200, url
        assert client.get(url, headers=_basic("wrong")).status_code == 401, url
    token = client.post(
        "/api/v1/sessions", json={"user_id": "u01"}, headers={"X-API-Key": KEY}
    ).get_json()["token"]
    client.set_cookie("cratedig_session", token)
    assert client.get("/users/u01").status_code == 200
    assert client.get("/artists/r1?user=u01").status_code == 200
    assert client.get("/users/u02").status_code == 401  # not your page
    assert client.get("/").status_code == 401  # lists users: the key only
    assert client.get("/admin").status_code == 401


def test_d1_admin_is_not_public_once_keys_are_configured(build: Any, tmp_path: Path) -> None:
    client = build().test_client()
    for url in ("/admin", "/admin/report"):
        r = client.get(url, headers={"Accept": "text/html"})
        assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"], url
    assert client.get("/admin", headers=_basic(KEY)).status_code == 200
    assert client.get("/admin", headers={"X-API-Key": KEY}).status_code == 200
    # no key configured and reads open (a local demo): public as before
    assert build(api_keys=()).test_client().get("/admin").status_code == 200
    # no key configured but reads closed: closed
    closed = build(api_keys=(), read_requires_key=True).test_client()
    assert closed.get("/admin").status_code == 401


def test_d1_secret_is_random_kept_in_the_store_not_derived(
    build: Any, store: Engine, tmp_path: Path
) -> None:
    import hashlib

    app = build()
    secret = app.config["SECRET_KEY"]
    derived = hashlib.sha256(
        ("cratedig-ui\x1f" + str(store.url) + "\x1f" + KEY).encode("utf-8")
    ).hexdigest()
    assert secret != derived and len(secret) >= 64
    with store.connect() as conn:
        kept = conn.execute(select(serving_state.c.value)).scalars().all()
    assert secret in kept
    assert build().config["SECRET_KEY"] == secret  # every worker agrees
    assert build(secret_key="configured").config["SECRET_KEY"] == "configured"


def test_d1_init_db_generates_the_secret(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cratedig.cli import cli
    from cratedig.store import make_engine

    secrets = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name}.sqlite"
        result = CliRunner().invoke(cli, ["--db", url, "init-db"])
        assert result.exit_code == 0, result.output
        engine = make_engine(url)
        with engine.connect() as conn:
            secrets.append(
                conn.execute(
                    select(serving_state.c.value).where(serving_state.c.key == "ui_session_secret")
                ).scalar_one()
            )
        engine.dispose()
    assert secrets[0] != secrets[1] and all(len(s) == 64 for s in secrets)


# -- defect 6: request size limit; credentials before the body --------------------------


class _Exploding(io.BytesIO):
    """A request body that must not be read."""

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read before the credentials were checked")

    readline = read1 = read  # type: ignore[assignment]

    def readinto(self, *args: Any) -> int:
        raise AssertionError("the body was read before the credentials were checked")


@pytest.mark.parametrize(
    "url", ["/api/v1/events", "/api/v1/feedback", "/api/v1/sessions", "/ui/events", "/ui/feedback"]
)
def test_d6_credentials_are_checked_before_the_body_is_read(build: Any, url: str) -> None:
    client = build().test_client()
    r = client.post(
        url,
        input_stream=_Exploding(),
        content_length=5_000_000,
        content_type="application/json",
        headers={"X-API-Key": "wrong", "X-UI-Token": "forged"},
    )
    assert r.status_code in (401, 403), r.get_data(as_text=True)[:300]


def test_d6_bodies_over_the_limit_get_413(build: Any) -> None:
    from cratedig.config import Settings

    assert Settings().max_request_bytes == 10 * 1024 * 1024
    app = build(max_request_bytes=2_000, pages_demo_mode=True)
    assert app.config["MAX_CONTENT_LENGTH"] == 2_000
    client = app.test_client()
    big = [{**EVENT, "event_id": f"e{i}"} for i in range(100)]
    r = client.post("/api/v1/events", json=big, headers={"X-API-Key": KEY})
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"
    token = _page_token(client, "/users/u01")
    r = client.post("/ui/events", json={**EVENT, "tag": "x" * 3000}, headers={"X-UI-Token": token})
    assert r.status_code == 413


# -- defect 8: malformed JSON ----------------------------------------------------------


def test_d8_deep_nesting_is_a_400(build: Any) -> None:
    client = build(pages_demo_mode=True).test_client()
    token = _page_token(client, "/users/u01")
    deep = "[" * 100_000 + "]" * 100_000
    for url, headers in [
        ("/ui/events", {"X-UI-Token": token}),
        ("/ui/feedback", {"X-UI-Token": token}),
        ("/ui/events", {}),
        ("/api/v1/events", {"X-API-Key": KEY}),
        ("/api/v1/feedback", {"X-API-Key": KEY}),
    ]:
        r = client.post(url, data=deep, content_type="application/json", headers=headers)
        assert r.status_code in (400, 403), (url, r.status_code)
        assert r.get_json()["error"]["status"] == r.status_code


@pytest.mark.parametrize("thumb", [{}, [1], None, 1.5, True])
def test_d8_odd_thumbs_are_400(build: Any, thumb: Any) -> None:
    client = build(pages_demo_mode=True).test_client()
    token = _page_token(client, "/users/u01")
    body = {"user_id": "u01", "list_id": "L1", "artist_id": "r5", "thumb": thumb}
    for url, headers in [("/api/v1/feedback", {"X-API-Key": KEY}), ("/ui/feedback", {})]:
        headers = headers or {"X-UI-Token": token}
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 400, (url, thumb, r.get_data(as_text=True)[:200])
        assert r.get_json()["error"]["field"] == "thumb"
    for kind in ({}, [1]):
        r = client.post(
            "/api/v1/feedback",
            json={"user_id": "u01", "kind": kind, "value": 1},
            headers={"X-API-Key": KEY},
        )
        assert r.status_code == 400


# -- defect 12 (serving): rate limits, impressions, headers, ids with "/" ---------------


def test_d12_failed_keys_are_rate_limited(build: Any) -> None:
    client = build(rate_limit_failed_auth="5/minute").test_client()
    for _ in range(5):
        r = client.post("/api/v1/events", json=EVENT, headers={"X-API-Key": "guess"})
        assert r.status_code == 401
    r = client.post("/api/v1/events", json=EVENT, headers={"X-API-Key": "guess"})
    assert r.status_code == 429
    err = r.get_json()["error"]
    assert err["code"] == "rate_limited" and err["status"] == 429
    assert int(r.headers["Retry-After"]) >= 1
    # the address is locked out, right key or not, on every credentialed endpoint
    assert client.post("/api/v1/events", json=EVENT, headers={"X-API-Key": KEY}).status_code == 429
    assert client.get("/admin", headers=_basic(KEY)).status_code == 429
    assert client.post("/ui/events", json=EVENT, headers={"X-UI-Token": "x"}).status_code == 429
    # another client address is not
    other = client.post(
        "/api/v1/events",
        json=EVENT,
        headers={"X-API-Key": KEY},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert other.status_code == 201


def test_d12_writes_are_rate_limited(build: Any) -> None:
    client = build(
        rate_limit_api_writes="3/minute", rate_limit_page_writes="2/minute", pages_demo_mode=True
    ).test_client()
    codes = [
        client.post(
            "/api/v1/events", json={**EVENT, "event_id": f"w{i}"}, headers={"X-API-Key": KEY}
        ).status_code
        for i in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    token = _page_token(client, "/users/u01")
    codes = [
        client.post(
            "/ui/events", json={**EVENT, "event_id": f"p{i}"}, headers={"X-UI-Token": token}
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]


def test_d12_rate_limits_are_shared_through_redis(build: Any, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    worker_a = build(redis_url=redis_url, rate_limit_failed_auth="3/minute").test_client()
    worker_b = build(redis_url=redis_url, rate_limit_failed_auth="3/minute").test_client()
    for client in (worker_a, worker_b, worker_a):
        r = client.post("/api/v1/events", json=EVENT, headers={"X-API-Key": "guess"})
        assert r.status_code == 401
    assert (
        worker_b.post("/api/v1/events", json=EVENT, headers={"X-API-Key": "guess"}).status_code
        == 429
    )


def test_d12_only_known_users_lists_are_logged(build: Any, store: Engine) -> None:
    app = build(rate_limit_unknown_lists="3/minute")
    client = app.test_client()
    writer = app.extensions["cratedig"].impressions
    for i in range(3):
        assert client.get(f"/api/v1/users/random-{i}/recommendations").status_code == 200
    writer.flush()
    assert _count(store, impressions) == 0
    assert _count(store, users) == 12  # no rows for made-up ids
    r = client.get("/api/v1/users/random-9/recommendations")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"
    # known users are logged and never limited this way
    for _ in range(5):
        assert client.get("/api/v1/users/u01/recommendations").status_code == 200
    assert client.get("/api/v1/artists/r1/similar").status_code == 200  # anonymous page view
    writer.flush()
    assert _count(store, impressions) == 6


def test_d12_security_headers(build: Any) -> None:
    client = build(api_keys=()).test_client()
    for url in ("/", "/users/u01", "/artists/r1", "/admin", "/api/v1/health", "/nope"):
        r = client.get(url)
        assert r.headers["X-Frame-Options"] == "DENY", url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
    for url in ("/", "/users/u01", "/artists/r1?user=u01"):
        html = client.get(url).get_data(as_text=True)
        # nothing the CSP would block: no inline script or handler, no inline style
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\son[a-z]+=", html) and " style=" not in html, url


def test_d12_security_headers_on_errors_and_the_report(build: Any, tmp_path: Path) -> None:
    from cratedig.serving.app import PAGE_CSP, REPORT_CSP

    app = build(api_keys=())
    client = app.test_client()
    report = Path(app.extensions["cratedig"].settings.artifacts_dir) / "report" / "index.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<h1>report</h1>")
    r = client.get("/admin/report")
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == REPORT_CSP  # inline styles, no script
    assert r.headers["X-Frame-Options"] == "DENY"
    for url in ("/api/v1/users/u01/recommendations", "/api/v1/artists/nope/similar", "/nope"):
        r = client.get(url)
        # once each (the middleware adds a header only where the response has none)
        assert r.headers.getlist("Content-Security-Policy") == [PAGE_CSP], url
        assert r.headers.getlist("X-Content-Type-Options") == ["nosniff"], url
        assert r.headers["Referrer-Policy"] == "same-origin", url


SLASHY = ["ac/dc", "a//b", "50%", "a?b", "x#y", "a b", "ü/ß", "trailing/", "/lead", "new\nline"]


def test_d12_ids_with_slashes_are_reachable(build: Any, store: Engine) -> None:
    with store.begin() as conn:
        insert_ignore(conn, users, [{"user_id": i, "is_stub": False} for i in SLASHY])
        insert_ignore(conn, artists_table(), [{"artist_id": i, "name": i} for i in SLASHY])
    app = build(api_keys=(KEY,), pages_demo_mode=True)
    client = app.test_client()
    from flask import url_for

    for ident in SLASHY:
        with app.test_request_context():
            urls = [
                url_for("api.artist", artist_id=ident),
                url_for("api.profile", user_id=ident),
                url_for("api.recommendations", user_id=ident),
                url_for("pages.home", user_id=ident),
                url_for("pages.artist", artist_id=ident, user=ident),
            ]
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (ident, url, r.status_code)
        assert client.get(urls[0]).get_json()["artist_id"] == ident
        assert client.get(urls[1]).get_json()["user_id"] == ident
        html = client.get(urls[3]).get_data(as_text=True)
        assert f'data-user="{ident}"' in html or ident in html
        # the links the pages print lead back to the same ids
        for href in re.findall(r'href="(/(?:users|artists)/[^"]+)"', html):
            assert client.get(href.replace("&amp;", "&")).status_code == 200, href
    # percent-encoded "/" (what the picker's encodeURIComponent sends) reaches the same page
    assert client.get("/users/ac%2Fdc").status_code == 200
    assert client.get("/api/v1/artists/ac%2Fdc").get_json()["artist_id"] == "ac/dc"


def artists_table() -> Any:
    from cratedig.store.schema import artists

    return artists
