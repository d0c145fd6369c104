"""Zero-downtime swap (issue #11 item 3): a real gunicorn under load through a promotion.

Six client threads request lists and similar artists from a 2-worker gunicorn while a
new version is trained and promoted in this process. No request may fail, and every
request that starts more than ``VERSION_TTL_SECONDS`` after the promotion committed
must be answered by the new version (the bound of ``serving/versions.py``).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cratedig.config import Settings
from cratedig.pipeline.train import train
from cratedig.serving.versions import VERSION_TTL_SECONDS
from cratedig.simulator.site import SimulationConfig, simulate_to_store
from cratedig.store import init_db, make_engine
from cratedig.store.schema import user_events

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Answer:
    started: float  # time.monotonic() (system-wide on Linux, so comparable to gunicorn's)
    ended: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    version: str | None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gunicorn exited"
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["memory", "redis"])
def test_a_promotion_under_load_loses_no_request(
    db_url: str, cache: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if cache == "redis" else None
    engine = make_engine(db_url)
    init_db(engine)
    simulate_to_store(engine, SimulationConfig(n_users=150, n_artists=200, n_events=4000, days=20))
    settings = Settings(
        database_url=db_url,
        artifacts_dir=str(tmp_path / "artifacts"),
        redis_url=redis_url,
        promotion_margin=1.0,  # the new version is always promoted
    )

    def train_version() -> str:
        version = train(
            engine, settings, model_name="popularity", tune=False, k_lists=10, k_similar=5
        )
        assert version.active
        return version.version_id

    old = train_version()
    with engine.connect() as conn:
        users = conn.execute(select(user_events.c.user_id).distinct()).scalars().all()
        artists = conn.execute(select(user_events.c.artist_id).distinct().limit(50)).scalars()
        artists = [a for a in artists if a]
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "CRATEDIG_DATABASE_URL": db_url,
        "CRATEDIG_ARTIFACTS_DIR": settings.artifacts_dir,
        **({"CRATEDIG_REDIS_URL": redis_url} if redis_url else {}),
    }
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    argv += ["--worker-class", "gthread", "--threads", "4", "--log-level", "warning"]
    proc = subprocess.Popen([*argv, "cratedig.serving:create_app()"], env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}/api/v1"
    answers: list[Answer] = []
    stop = threading.Event()

    def load(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not stop.is_set():
            if rng.random() < 0.8:
                kind = rng.choice(["may_like", "hidden_gems"])
                path = f"/users/{rng.choice(users)}/recommendations?k=5&list={kind}"
            else:
                path = f"/artists/{rng.choice(artists)}/similar?k=5"
            started = time.monotonic()
            try:
                r = session.get(base + path, timeout=30)
                status, version = r.status_code, r.json().get("model_version")
            except (requests.RequestException, ValueError):
                status, version = 0, None
            answers.append(Answer(started, time.monotonic(), status, version))

    try:
        _wait_ready(base + "/health", proc)
        threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(6)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        train_started = time.monotonic()
        new = train_version()
        flipped = time.monotonic()  # after the promotion's commit
        time.sleep(VERSION_TTL_SECONDS + 2.0)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        engine.dispose()
    failed = [a for a in answers if a.status != 200]
    before = [a for a in answers if a.ended < train_started]
    bound = flipped + VERSION_TTL_SECONDS
    after = [a for a in answers if a.started > bound]
    window = [a for a in answers if train_started <= a.started <= bound]
    late_old = [a.started - flipped for a in answers if a.version == old and a.started > flipped]
    print(
        f"\nswap ({db_url.split(':')[0]}, {cache} cache): {len(answers)} requests, "
        f"{len(failed)} failed; {len(before)} before training began (old version); "
        f"{len(window)} from training start to flip + {VERSION_TTL_SECONDS:g} s "
        f"({sum(a.version == new for a in window)} already new); "
        f"{len(after)} after the bound, all new: {all(a.version == new for a in after)}; "
        f"training + promotion took {flipped - train_started:.2f} s; the last old-version "
        f"request started {max(late_old, default=0.0):.3f} s after the flip"
    )
    assert not failed, f"{len(failed)} failed requests: {failed[:5]}"
    assert len(before) > 20 and len(after) > 20
    assert all(a.version == old for a in before)
    assert all(a.version in (old, new) for a in window)
    stale = [a for a in after if a.version != new]
    assert not stale, f"{len(stale)} responses after the bound named {stale[0].version}"
