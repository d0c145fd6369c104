"""``cratedig consume`` as real processes on a real Redis: a graceful SIGTERM, and (slow)
a million events through the stream while one consumer is SIGKILLed mid-way and
another takes over: every event stored exactly once (count and a checksum of ids).

The slow test's size is ``CRATEDIG_STREAM_TEST_EVENTS`` (default 1,000,000).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from sqlalchemy import Engine, func, select

from cratedig.clock import now_ms
from cratedig.ingest.redis_stream import FIELD
from cratedig.ingest.stream import ENTRY_EVENTS
from cratedig.store import init_db, make_engine
from cratedig.store.schema import user_events

pytestmark = pytest.mark.redis
SRC = Path(__file__).resolve().parents[2] / "src"
GROUP = "cratedig-consumers"


class Consumers:
    """``cratedig consume`` subprocesses on one store and stream."""

    def __init__(self, url: str, redis_url: str, stream: str, tmp_path: Path) -> None:
        self.url = url
        self.stream = stream
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "CRATEDIG_STREAM_URL": redis_url,
            "CRATEDIG_STREAM_NAME": stream,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("wb")
        argv = [sys.executable, "-m", "cratedig.cli", "--db", self.url, "consume"]
        proc = subprocess.Popen(
            [*argv, "--name", name, *args], stdout=log, stderr=log, env=self.env
        )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def consumers(
    sqlite_url: str, stream_redis: tuple[str, str], tmp_path: Path
) -> Iterator[Consumers]:
    init_db(make_engine(sqlite_url))
    group = Consumers(sqlite_url, *stream_redis, tmp_path)
    yield group
    group.stop_all()


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(user_events)).scalar_one())


def _ids(n: int) -> list[str]:
    return [f"ev{i:08d}" for i in range(n)]


def _add(client: redis.Redis, stream: str, n: int) -> None:
    """XADD ``n`` events in entries of ENTRY_EVENTS, as the service's writer encodes them."""
    t = now_ms() - 86_400_000
    ids = _ids(n)
    pipe = client.pipeline(transaction=False)
    for start in range(0, n, ENTRY_EVENTS):
        rows = [
            {
                "event_id": ids[i],
                "user_id": f"u{i % 5000}",
                "event_type": "play_track",
                "occurred_at_ms": t + i,
                "artist_id": f"a{i % 3000}",
                "duration_ms": 1000 + i % 200_000,
                "count": 1,
                "source": "organic",
            }
            for i in range(start, min(n, start + ENTRY_EVENTS))
        ]
        pipe.xadd(stream, {FIELD: orjson.dumps(rows)})
        if len(pipe) >= 200:
            pipe.execute()
    pipe.execute()


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_consume_stops_gracefully_on_sigterm(consumers: Consumers, tmp_path: Path) -> None:
    client = redis.Redis.from_url(consumers.env["CRATEDIG_STREAM_URL"])
    _add(client, consumers.stream, 1500)
    engine = make_engine(consumers.url)
    stats = tmp_path / "c1.json"
    proc = consumers.start("c1", "--log-every", "0.2", "--stats-file", str(stats))
    _wait(lambda: _stored(engine) == 1500, 60, "1,500 events stored")
    _wait(lambda: "lag:" in consumers.log("c1"), 30, "a progress line")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    log = consumers.log("c1")
    assert "consume c1: stopped" in log and "Traceback" not in log
    data = json.loads(stats.read_text())
    assert (data["events"], data["stored"]) == (1500, 1500)
    assert len(data["latencies_ms"]) == 3
    # a consumer that stops cleanly holds nothing and leaves the group
    assert client.xinfo_consumers(consumers.stream, GROUP) == []
    assert client.xpending(consumers.stream, GROUP)["pending"] == 0


@pytest.mark.slow
def test_a_million_events_survive_a_killed_consumer(consumers: Consumers) -> None:
    n = int(os.environ.get("CRATEDIG_STREAM_TEST_EVENTS", "1000000"))
    client = redis.Redis.from_url(consumers.env["CRATEDIG_STREAM_URL"])
    stream = consumers.stream
    started = time.monotonic()
    _add(client, stream, n)
    added = time.monotonic() - started
    engine = make_engine(consumers.url)
    claim = ("--claim-idle", "3", "--count", "4")
    victim = consumers.start("victim", *claim)
    consumers.start("steady", *claim)
    _wait(lambda: _stored(engine) >= n // 3, 600, f"a third of {n:,} events stored")
    # SIGKILL mid-way: whatever the victim holds stays pending until taken over
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = _stored(engine)
    held = {
        c["name"].decode(): int(c["pending"]) for c in client.xpending(stream, GROUP)["consumers"]
    }.get("victim", 0)
    consumers.start("successor", *claim)
    _wait(lambda: _stored(engine) >= n, 900, f"all {n:,} events stored")

    def drained() -> bool:
        info = client.xinfo_groups(stream)[0]
        return int(info["pending"]) == 0 and int(info["lag"] or 0) == 0

    _wait(drained, 60, "nothing pending")
    elapsed = time.monotonic() - started
    for proc in consumers.procs[1:]:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert killed_at < n, "the victim was killed after everything was stored"
    # exactly once: the count, and a checksum over the sorted stored ids
    assert _stored(engine) == n
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for (event_id,) in conn.execute(
            select(user_events.c.event_id).order_by(user_events.c.event_id)
        ).yield_per(50_000):
            digest.update(event_id.encode() + b"\n")
    expected = hashlib.sha256("".join(f"{i}\n" for i in _ids(n)).encode())
    assert digest.hexdigest() == expected.hexdigest()
    logs = consumers.log("steady") + consumers.log("successor")
    claimed = sum(
        json.loads(line.split("stopped; ", 1)[1])["claimed_entries"]
        for line in logs.splitlines()
        if "stopped; " in line
    )
    assert claimed >= held  # what the victim held was taken over
    print(
        f"\n{n:,} events: XADD {added:.1f} s, all stored after {elapsed:.1f} s; victim "
        f"killed at {killed_at:,} stored, holding {held} entries; {claimed} entries taken "
        "over (XAUTOCLAIM)"
    )
