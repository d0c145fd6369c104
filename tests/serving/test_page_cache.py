"""The rendered home page cache (``serving/page_home.py``): a cached page is the page
rendered afresh with this request's list ids and token, and a listener's event, thumb
or rating shows on the next page in every worker, with either cache backend."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cratedig.serving import sessions
from cratedig.serving.auth import secret
from cratedig.serving.page_home import lists_digest
from cratedig.serving.page_views import reads
from cratedig.store.prepared import Prepared
from tests.serving.conftest import KEY, make_app, post_follow

LIST_ID = re.compile(r'data-list-id="(L[0-9a-f]+)" data-list-type="(\w+)"')


def _page(client: FlaskClient, user: str = "u01") -> str:
    r = client.get(f"/users/{user}", headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_data(as_text=True)


def _thumb_down(app: Flask, client: FlaskClient, artist: str = "r5") -> None:
    html = _page(client)
    list_id = LIST_ID.search(html)
    assert list_id is not None
    with app.test_request_context():
        token = sessions.issue(secret(), "u01")
    body = {"user_id": "u01", "list_id": list_id.group(1), "artist_id": artist, "thumb": "down"}
    r = client.post("/ui/feedback", json=body, headers={"X-UI-Token": token})
    assert r.status_code == 201, r.get_json()


def _thumbed_down(html: str, artist: str = "r5") -> bool:
    item = re.search(rf'<li class="item" data-artist="{artist}">.*?</li>', html, re.S)
    assert item is not None, artist
    return 'class="thumb pressed" data-thumb="down" aria-pressed="true"' in item.group(0)


def test_a_cached_page_is_the_fresh_page_with_this_requests_ids(app: Flask) -> None:
    client = app.test_client()
    with app.test_request_context():
        token = sessions.issue(secret(), "u01")
    client.set_cookie(sessions.COOKIE, token)  # the site's login: the page embeds it
    first = _page(client)
    assert len(reads(app).bodies) == 1
    second = _page(client)  # from the cache
    reads(app).bodies.clear()
    fresh = _page(client)  # rendered again
    for html in (first, second, fresh):
        ids = dict((kind, i) for i, kind in LIST_ID.findall(html))
        assert set(ids) == {"may_like", "hidden_gems"}
        # every artist link of a list carries that list's id as its source
        for kind, list_id in ids.items():
            section = html[html.index(f'data-list-type="{kind}"') :]
            section = section[: section.index("</section>")]
            sources = set(re.findall(r"(?:\?|&amp;)src=([^\"&]+)", section))
            assert sources == {list_id}, kind
        assert f'data-token="{token}"' in html
    assert LIST_ID.findall(first) != LIST_ID.findall(second)  # a new list id per request

    def same(html: str) -> str:
        return re.sub(r"L[0-9a-f]{20}", "L", html)

    assert same(first) == same(second) == same(fresh)


def test_the_cache_key_ignores_only_the_list_id() -> None:
    payload = {"list": "may_like", "items": [{"artist_id": "a1"}], "list_id": "L1"}
    assert lists_digest([("t", payload)]) == lists_digest([("t", {**payload, "list_id": "L2"})])
    other = {**payload, "items": [{"artist_id": "a2"}]}
    assert lists_digest([("t", payload)]) != lists_digest([("t", other)])


def test_an_event_shows_on_the_next_page(app: Flask, client: FlaskClient) -> None:
    before = _page(client)
    assert 'data-artist="j1"' not in before[before.index('id="recent"') :]
    assert post_follow(client).status_code == 201
    after = _page(client)
    assert 'data-artist="j1"' in after[after.index('id="recent"') :]


def test_a_thumb_in_one_worker_shows_on_another_workers_cached_page(
    store: Engine, tmp_path: Path
) -> None:
    # two apps on one store stand for two gunicorn workers with in-process caches
    app_a, app_b = make_app(store, tmp_path), make_app(store, tmp_path)
    worker_a, worker_b = app_a.test_client(), app_b.test_client()
    assert not _thumbed_down(_page(worker_b))  # cached in b now
    assert len(reads(app_b).bodies) == 1
    _thumb_down(app_a, worker_a)
    time.sleep(0.3)  # b polls the invalidations every 0.25 s
    assert _thumbed_down(_page(worker_b))
    # a thumb posted through the API (with the key) drops the cached page too; feedback
    # must name a list served to the user that holds the artist
    served = LIST_ID.search(_page(worker_a))
    assert served is not None
    r = worker_a.post(
        "/api/v1/feedback",
        headers={"X-API-Key": KEY},
        json={"user_id": "u01", "list_id": served.group(1), "artist_id": "r5", "thumb": "up"},
    )
    assert r.status_code == 201, r.get_json()
    time.sleep(0.3)
    assert not _thumbed_down(_page(worker_b))
    for app in (app_a, app_b):
        app.extensions["cratedig"].close()


@pytest.mark.redis
def test_a_thumb_shows_on_the_next_page_with_redis(
    store: Engine, tmp_path: Path, redis_url: str
) -> None:
    app_a = make_app(store, tmp_path, redis_url=redis_url)
    app_b = make_app(store, tmp_path, redis_url=redis_url)
    worker_a, worker_b = app_a.test_client(), app_b.test_client()
    assert not _thumbed_down(_page(worker_b))
    _thumb_down(app_a, worker_a)
    assert _thumbed_down(_page(worker_b))  # Redis is shared: no poll to wait for
    for app in (app_a, app_b):
        app.extensions["cratedig"].close()


def test_a_cold_page_reads_the_listeners_recent_events_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both lists and the recent-listening panel need them: one read per request. The
    # read runs on the driver's cursor (store.prepared), so it is counted there.
    svc = app.extensions["cratedig"]
    version = svc.active_version()
    _config, stmt = svc.lists.engagement.get(version)
    recent_sql = svc.lists._recent_sql(version.version_id, stmt).sql
    seen: list[str] = []
    run = Prepared.all

    def counted(self: Prepared, conn: Any, **values: Any) -> list[tuple[Any, ...]]:
        seen.append(self.sql)
        return run(self, conn, **values)

    monkeypatch.setattr(Prepared, "all", counted)
    client = app.test_client()
    assert post_follow(client).status_code == 201  # drops u01's cached lists and page
    html = _page(client)
    assert 'data-artist="j1"' in html[html.index('id="recent"') :]
    assert seen.count(recent_sql) == 1
    seen.clear()
    _page(client)  # from the caches: no read at all
    assert seen.count(recent_sql) == 0


@pytest.mark.redis
def test_a_page_reads_the_users_redis_hash_once(
    store: Engine, tmp_path: Path, redis_url: str
) -> None:
    app = make_app(store, tmp_path, redis_url=redis_url)
    client = app.test_client()
    first = _page(client)  # fills the user's hash: both lists and their own part
    redis = app.extensions["cratedig"].user_cache._redis
    calls: list[str] = []
    for name in ("hget", "hgetall"):
        real = getattr(redis, name)
        setattr(redis, name, lambda *a, _n=name, _f=real: calls.append(_n) or _f(*a))
    second = _page(client)
    assert calls == ["hgetall"]  # not one hget per list and one for the own part
    assert re.sub(r"L[0-9a-f]{20}", "L", first) == re.sub(r"L[0-9a-f]{20}", "L", second)
    calls.clear()
    client.get("/api/v1/users/u01/recommendations", headers={"X-API-Key": KEY})
    assert calls == ["hget"]  # the API reads its one entry as before
    app.extensions["cratedig"].close()


def test_a_made_up_users_page_leaves_nothing_behind(app: Flask, client: FlaskClient) -> None:
    for _ in range(2):
        assert "Hello, nobody-at-all" in _page(client, "nobody-at-all")
    assert len(reads(app).bodies) == 0
    svc = app.extensions["cratedig"]
    assert svc.user_cache.get("nobody-at-all", f"page:{svc.active_version().version_id}") is None
    _page(client)  # a known listener's page is kept
    assert len(reads(app).bodies) == 1
