"""Caching: in process and in a real Redis; invalidation; Redis going down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from cratedig.pipeline import registry
from cratedig.serving.cache import LocalLRU, MemoryUserCache, RedisUserCache
from tests.serving.conftest import make_app, post_follow, train_tiny


def test_local_lru_bound_and_ttl() -> None:
    lru = LocalLRU(max_entries=2, ttl_seconds=0.05)
    lru.set("a", 1)
    lru.set("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.set("c", 3)
    assert lru.get("b") is None and lru.get("a") == 1 and len(lru) == 2
    time.sleep(0.06)
    assert lru.get("a") is None


def test_memory_user_cache_invalidate() -> None:
    cache = MemoryUserCache(ttl_seconds=60)
    cache.set("u", "v1:may_like:10", {"x": 1})
    cache.set("u", "v1:hidden_gems:10", {"x": 2})
    assert cache.get("u", "v1:may_like:10") == {"x": 1}
    cache.invalidate(["u"])
    assert cache.get("u", "v1:hidden_gems:10") is None


def test_memory_cache_serves_repeats_and_drops_on_event(store: Engine, tmp_path: Path) -> None:
    app = make_app(store, tmp_path)
    client = app.test_client()
    svc = app.extensions["cratedig"]
    first = client.get("/api/v1/users/u01/recommendations").get_json()
    field = f"{first['model_version']}:may_like:10"
    assert svc.user_cache.get("u01", field)["items"] == first["items"]
    post_follow(client)
    assert svc.user_cache.get("u01", field) is None


@pytest.mark.redis
def test_redis_cache_invalidation_and_promotion(
    store: Engine, tmp_path: Path, redis_url: str
) -> None:
    app = make_app(store, tmp_path, redis_url=redis_url)
    client = app.test_client()
    assert client.get("/api/v1/health").get_json()["cache"] == "redis"
    r = redis.Redis.from_url(redis_url)
    first = client.get("/api/v1/users/u01/recommendations").get_json()
    v1 = first["model_version"]
    assert r.hexists("cratedig:u:u01", f"{v1}:may_like:10")
    cached = app.extensions["cratedig"].user_cache.get("u01", f"{v1}:may_like:10")
    assert cached["items"] == first["items"]
    # a hit is served from Redis: plant a marker there and get it back through the API
    marker = {**cached, "items": first["items"][:1]}
    app.extensions["cratedig"].user_cache.set("u01", f"{v1}:may_like:10", marker)
    assert client.get("/api/v1/users/u01/recommendations").get_json()["items"] == marker["items"]
    post_follow(client)
    assert not r.exists("cratedig:u:u01")
    assert (
        client.get("/api/v1/users/u01/recommendations").get_json()["items"][0]["artist_id"] == "j2"
    )
    # promotion: the new version's id is in the key, so old entries are never read
    v2 = train_tiny(store, tmp_path / "artifacts").version_id
    app.extensions["cratedig"].active_version(fresh=True)
    again = client.get("/api/v1/users/u01/recommendations").get_json()
    assert again["model_version"] == v2 != v1
    assert r.hexists("cratedig:u:u01", f"{v2}:may_like:10")
    assert registry.active_version(store).version_id == v2


def test_dead_redis_keeps_serving_from_the_store(store: Engine, tmp_path: Path) -> None:
    app = make_app(store, tmp_path, redis_url="redis://127.0.0.1:1/0")  # nothing listens
    client = app.test_client()
    for _ in range(3):
        body = client.get("/api/v1/users/u01/recommendations").get_json()
        assert [i["artist_id"] for i in body["items"]][:2] in (["r5", "r6"], ["r6", "r5"])
    r = post_follow(client)
    assert r.status_code == 201
    assert (
        client.get("/api/v1/users/u01/recommendations").get_json()["items"][0]["artist_id"] == "j2"
    )
    health = client.get("/api/v1/health").get_json()
    assert health["status"] == "ok" and health["cache_ok"] is False


@pytest.mark.redis
def test_redis_stopping_midway(store: Engine, tmp_path: Path, redis_url: str) -> None:
    app = make_app(store, tmp_path, redis_url=redis_url)
    client = app.test_client()
    assert client.get("/api/v1/users/u01/recommendations").status_code == 200
    cache = app.extensions["cratedig"].user_cache
    assert isinstance(cache, RedisUserCache)
    # the client's server goes away: point its pool at a dead port
    cache._redis.connection_pool.disconnect()
    cache._redis.connection_pool.connection_kwargs["port"] = 1
    body = client.get("/api/v1/users/u01/recommendations").get_json()
    assert len(body["items"]) == 8 and body["cold_start"] is False


def test_in_process_caches_of_two_workers_stay_consistent(store: Engine, tmp_path: Path) -> None:
    # two apps on one store stand for two gunicorn workers with in-process caches
    worker_a = make_app(store, tmp_path).test_client()
    app_b = make_app(store, tmp_path)
    worker_b = app_b.test_client()
    assert worker_b.get("/api/v1/users/u01/recommendations").get_json()["items"][0][
        "artist_id"
    ] in ("r5", "r6")  # cached in b now
    r = post_follow(worker_a)
    assert r.status_code == 201
    time.sleep(0.3)  # b polls the invalidations every 0.25 s
    assert (
        worker_b.get("/api/v1/users/u01/recommendations").get_json()["items"][0]["artist_id"]
        == "j2"
    )
    # an invalidation is applied once: the recomputed entry stays cached
    svc = app_b.extensions["cratedig"]
    time.sleep(0.3)
    svc.sync_cache()
    assert svc.user_cache.get("u01", f"{svc.active_version().version_id}:may_like:10")
