"""The event stream on a real Redis: the writer, the consumer, takeover of a dead
consumer's entries (XAUTOCLAIM), trimming, quarantine of conflicts, and settings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, select

from cratedig.clock import now_ms
from cratedig.config import load_settings
from cratedig.exceptions import ConfigError
from cratedig.ingest.consumer import LINE_FACTOR, StreamConsumer, quarantine_source
from cratedig.ingest.quarantine import quarantined
from cratedig.ingest.stream import (
    ENTRY_EVENTS,
    StreamUnavailableError,
    decode_events,
    open_stream,
    queue_events,
)
from cratedig.store import init_db, make_engine
from cratedig.store.schema import user_events

pytestmark = pytest.mark.redis


@pytest.fixture
def store(sqlite_url: str) -> Engine:
    engine = make_engine(sqlite_url)
    init_db(engine)
    return engine


#: One time base for the whole module, so that a repeated call repeats the events.
T0 = now_ms() - 3_600_000


def _events(n: int, prefix: str = "e", **kw: Any) -> list[dict[str, Any]]:
    t = T0
    return [
        {
            "event_id": f"{prefix}{i}",
            "user_id": f"u{i % 13}",
            "event_type": "play_track",
            "artist_id": f"a{i % 7}",
            "duration_ms": 1000 + i,
            "occurred_at_ms": t + i,
            **kw,
        }
        for i in range(n)
    ]


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(user_events)).scalar_one())


def test_writer_appends_entries_and_answers_like_the_write_path(
    stream_redis: tuple[str, str], store: Engine
) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    raws = [*_events(ENTRY_EVENTS + 20), {"user_id": "x"}, _events(1)[0], "junk"]
    result = queue_events(store, stream, raws).as_dict()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (
        ENTRY_EVENTS + 20,
        1,
        2,
    )
    assert [(e["index"], e["field"]) for e in result["errors"]] == [
        (ENTRY_EVENTS + 20, "event_type"),
        (ENTRY_EVENTS + 22, "event"),
    ]
    assert _stored(store) == 0  # nothing is written in the request
    client = redis.Redis.from_url(redis_url)
    entries = client.xrange(name)
    assert [len(decode_events(fields[b"events"])) for _, fields in entries] == [ENTRY_EVENTS, 20]
    first = decode_events(entries[0][1][b"events"])[0]
    assert first["event_id"] == "e0" and first["occurred_at_ms"] == raws[0]["occurred_at_ms"]
    assert "track_id" not in first  # empty fields are left out
    lag = stream.lag()
    assert (lag.length, lag.undelivered, lag.pending) == (2, 2, 0)


def test_consumer_stores_acks_and_trims(stream_redis: tuple[str, str], store: Engine) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    queue_events(store, stream, _events(1200))
    seen: list[set[str]] = []
    consumer = StreamConsumer(store, stream, "c1", count=2, after_store=seen.append)
    assert consumer.step() == 2  # count=2: two entries per step
    lag = stream.lag()
    assert (lag.length, lag.undelivered, lag.pending) == (3, 1, 0)
    assert consumer.step() == 1
    assert _stored(store) == 1200 and consumer.stats.stored == 1200
    assert set().union(*seen) == {f"u{i}" for i in range(13)}
    assert stream.trim() == 3 and stream.lag().length == 0
    # a repeated post is stored once: the consumer counts duplicates
    queue_events(store, stream, _events(10))
    consumer.step()
    assert _stored(store) == 1200 and consumer.stats.duplicates == 10


def test_conflict_found_by_the_consumer_is_quarantined(
    stream_redis: tuple[str, str], store: Engine
) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    consumer = StreamConsumer(store, stream, "c1")
    queue_events(store, stream, _events(3))
    consumer.step()
    # the same id with other content: accepted by the request (the store is not read),
    # refused by the write path in the consumer, and quarantined with its entry
    answer = queue_events(store, stream, _events(1, artist_id="other"))
    assert answer.accepted == 1
    entry_id = redis.Redis.from_url(redis_url).xrange(name)[-1][0].decode()
    consumer.step()
    assert consumer.stats.conflicts == 1 and _stored(store) == 3
    rows = quarantined(store, quarantine_source(name))
    assert len(rows) == 1
    assert rows[0]["line"] == int(entry_id.split("-")[0]) * LINE_FACTOR
    assert rows[0]["reason"].startswith("event_id: 'e0' is not valid")
    assert "conflict" in rows[0]["reason"]
    assert '"artist_id": "other"' in rows[0]["raw"]
    assert stream.lag().pending == 0  # acknowledged: a quarantined event is not retried


def test_foreign_entry_is_quarantined_not_lost(
    stream_redis: tuple[str, str], store: Engine
) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    redis.Redis.from_url(redis_url).xadd(name, {"something": "else"})
    consumer = StreamConsumer(store, stream, "c1")
    consumer.step()
    assert consumer.stats.rejected == 1 and stream.lag().pending == 0
    assert len(quarantined(store, quarantine_source(name))) == 1


def test_takeover_of_a_dead_consumers_entries(stream_redis: tuple[str, str], store: Engine) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    queue_events(store, stream, _events(700))
    taken = stream.read("dead", 10, 10)  # read, never acknowledged: the consumer died
    assert len(taken) == 2 and stream.lag().pending == 2
    alive = StreamConsumer(store, stream, "alive", claim_idle_ms=300, block_ms=10)
    alive.step()
    assert _stored(store) == 0  # not idle long enough yet: left alone
    lag = stream.lag()
    assert lag.pending == 2 and lag.oldest_pending_age_s is not None
    assert {c["name"]: c["pending"] for c in lag.consumers}["dead"] == 2
    time.sleep(0.4)
    alive._claimed_at = 0.0  # claim on this step
    alive.step()
    assert _stored(store) == 700 and alive.stats.claimed == 2
    assert stream.lag().pending == 0


def test_restarted_consumer_finishes_its_own_pending_entries(
    stream_redis: tuple[str, str], store: Engine
) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    queue_events(store, stream, _events(30))
    stream.read("c1", 10, 10)  # c1 read and stopped before storing
    again = StreamConsumer(store, stream, "c1", claim_idle_ms=3_600_000, block_ms=10)
    again.step()
    assert _stored(store) == 30 and stream.lag().pending == 0


def test_run_stops_when_idle_and_unreachable_redis_is_named(
    stream_redis: tuple[str, str], store: Engine, tmp_path: Path
) -> None:
    redis_url, name = stream_redis
    stream = open_stream(redis_url, name, "g")
    queue_events(store, stream, _events(50))
    lines: list[str] = []
    stats = StreamConsumer(store, stream, "c1", block_ms=50).run(
        log=lines.append, log_every_s=0.1, idle_exit_s=0.3
    )
    assert stats.events == 50 and stats.latency_ms(0.95) is not None
    assert any("0 undelivered, 0 pending" in line for line in lines)
    dead = open_stream("redis://127.0.0.1:1/0", name, "g")
    with pytest.raises(StreamUnavailableError, match="XADD failed"):
        queue_events(store, dead, _events(1))


def test_settings_of_stream_mode(tmp_path: Path) -> None:
    s = load_settings(env={"CRATEDIG_INGEST_MODE": "stream", "CRATEDIG_REDIS_URL": "redis://x"})
    assert s.ingest_mode == "stream" and s.stream_name == "cratedig:events"
    with pytest.raises(ConfigError, match="ingest_mode: 'fast' is not valid"):
        load_settings(env={"CRATEDIG_INGEST_MODE": "fast"})
    with pytest.raises(ConfigError, match="stream_url: None is not valid"):
        load_settings(env={"CRATEDIG_INGEST_MODE": "stream"})
    with pytest.raises(ConfigError, match="stream_url: 'nats://x' is not valid"):
        open_stream("nats://x", "n", "g")


def test_stream_lag_command_and_missing_url(
    stream_redis: tuple[str, str], store: Engine, sqlite_url: str
) -> None:
    from click.testing import CliRunner

    from cratedig.cli import cli

    redis_url, name = stream_redis
    queue_events(store, open_stream(redis_url, name, "cratedig-consumers"), _events(3))
    env = {"CRATEDIG_STREAM_URL": redis_url, "CRATEDIG_STREAM_NAME": name}
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "stream-lag"], env=env)
    assert result.exit_code == 0, result.output
    lag = json.loads(result.output)
    assert (lag["name"], lag["length"], lag["undelivered"]) == (name, 1, 1)
    bare = {"CRATEDIG_STREAM_URL": "", "CRATEDIG_REDIS_URL": ""}
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "consume"], env=bare)
    assert result.exit_code == 2 and "stream_url: not set" in result.output


def test_kafka_needs_its_extra() -> None:
    pytest.importorskip("cratedig.ingest.kafka_stream")
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"cratedig\[kafka\]"):
            open_stream("kafka://127.0.0.1:9092", "events", "g")
    else:
        pytest.skip("confluent-kafka is installed; no broker here to test it against")
