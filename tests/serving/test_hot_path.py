"""The cached lists' fast path (``serving/hot_path.py``) answers as the full path does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from sqlalchemy import Engine
from werkzeug.test import EnvironBuilder

from cratedig.config import MAX_K
from cratedig.serving.hot_path import HotLists, parse_query
from tests.serving.conftest import KEY, make_app, post_follow

USER = "u01"
BASE = f"/api/v1/users/{USER}/recommendations"
#: Requests the fast path may answer (once cached) and requests it must leave to Flask.
REQUESTS = [
    BASE,
    f"{BASE}?list=hidden_gems",
    f"{BASE}?k=3",
    f"{BASE}?k=5&list=hidden_gems",
    f"{BASE}?list=may_like&k=10",
    f"{BASE}?k=0",
    f"{BASE}?k=11",  # above the version's 10 precomputed
    f"{BASE}?k={MAX_K + 1}",
    f"{BASE}?k=abc",
    f"{BASE}?k=",
    f"{BASE}?k=03",
    f"{BASE}?list=nope",
    f"{BASE}?k=3&k=4",
    f"{BASE}?list=may%5Flike",
    f"{BASE}?foo=1",
    f"{BASE}/",
    "/api/v1/users/nobody/recommendations",
    "/api/v1/users/nobody/recommendations?list=hidden_gems",
]


def _hot(app: Flask) -> HotLists:
    hot = app.wsgi_app.app  # type: ignore[attr-defined]  # SecurityHeaders(HotLists(...))
    assert isinstance(hot, HotLists)
    return hot


def _environ(path: str, method: str = "GET") -> dict[str, Any]:
    base, _, query = path.partition("?")
    return EnvironBuilder(path=base, query_string=query, method=method).get_environ()


def _comparable(response: Any) -> tuple[int, list[tuple[str, str]], Any]:
    body = response.get_data()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = body
    if isinstance(parsed, dict):
        parsed.pop("list_id", None)
        parsed.get("error", {}).pop("request_id", None)
    return response.status_code, sorted(response.headers.items()), parsed


@pytest.fixture
def apps(store: Engine, tmp_path: Path) -> Any:
    fast = make_app(store, tmp_path)
    slow = create_plain(store, tmp_path)
    yield fast, slow
    for app in (fast, slow):
        app.extensions["cratedig"].close()


def create_plain(store: Engine, tmp_path: Path) -> Flask:
    """The same app without the fast path."""
    from cratedig.config import Settings
    from cratedig.serving import create_app

    settings = Settings(
        database_url=str(store.url), api_keys=(KEY,), artifacts_dir=str(tmp_path / "artifacts")
    )
    return create_app({"ENGINE": store, "SETTINGS": settings, "TESTING": True, "HOT_PATH": False})


@pytest.mark.parametrize("path", REQUESTS)
def test_both_paths_answer_alike(apps: Any, path: str) -> None:
    fast, slow = (app.test_client() for app in apps)
    for _ in range(2):  # the first fills the per-user cache, the second may be hot
        assert _comparable(fast.get(path)) == _comparable(slow.get(path))


def test_the_fast_path_answers_only_cached_lists(apps: Any) -> None:
    fast = apps[0]
    hot = _hot(fast)
    assert hot._answer(_environ(BASE)) is None  # nothing cached yet
    assert fast.test_client().get(BASE).status_code == 200
    body = hot._answer(_environ(BASE))
    assert body is not None and orjson.loads(body)["user_id"] == USER
    for path in REQUESTS[5:]:
        assert hot._answer(_environ(path)) is None, path
    for method in ("HEAD", "POST", "PUT"):
        assert hot._answer(_environ(BASE, method)) is None


def test_a_hot_list_is_logged_with_its_own_list_id(apps: Any) -> None:
    fast = apps[0]
    client = fast.test_client()
    client.get(BASE)
    ids = {client.get(BASE).get_json()["list_id"] for _ in range(3)}
    assert len(ids) == 3
    service = fast.extensions["cratedig"]
    for list_id in ids:
        found = service.served_list(list_id)
        assert found is not None and found[0] == USER


def test_new_events_end_the_hot_answer(apps: Any) -> None:
    fast = apps[0]
    client = fast.test_client()
    client.get(BASE)
    assert _hot(fast)._answer(_environ(BASE)) is not None
    assert post_follow(client, USER).status_code == 201
    assert _hot(fast)._answer(_environ(BASE)) is None  # the cached list was dropped


def test_reads_behind_a_key_take_the_full_path(store: Engine, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, read_requires_key=True)
    client = app.test_client()
    assert client.get(BASE, headers={"X-API-Key": KEY}).status_code == 200
    assert _hot(app)._answer(_environ(BASE)) is None
    assert client.get(BASE).status_code == 401  # no key: refused, though the list is cached
    app.extensions["cratedig"].close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ("may_like", None)),
        ("list=hidden_gems", ("hidden_gems", None)),
        ("k=7&list=may_like", ("may_like", 7)),
        (f"k={MAX_K}", ("may_like", MAX_K)),
        (f"k={MAX_K + 1}", None),
        ("k=0", None),
        ("k=07", None),
        ("k=1e3", None),
        ("list=may_like&list=hidden_gems", None),
        ("list", None),
        ("user_id=x", None),
        ("list=may%5Flike", None),
        ("&", None),
    ],
)
def test_parse_query(query: str, expected: Any) -> None:
    assert parse_query(query) == expected
