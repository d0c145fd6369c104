"""The event stream on Apache Kafka (``stream_url = "kafka://host:9092[,host:9092]"``).

**Not tested here**: no Kafka broker can be installed on the machines cratedig is built
on, so this adapter has never run against one. It implements the same
:class:`~cratedig.ingest.stream.EventStream` interface with confluent-kafka (imported
lazily; ``pip install 'cratedig[kafka]'``):

* ``append``: ``produce`` each entry to the topic ``stream_name`` with ``acks=all`` and
  idempotence on, then ``flush``: the request is answered once the brokers acknowledged;
* ``read``: a consumer of the group ``stream_group`` with auto-commit off;
* ``ack``: commits the offsets after the stored entries;
* ``claim``: nothing to do: Kafka hands a dead consumer's partitions to the others
  after ``session.timeout.ms`` and their uncommitted messages are read again (the write
  path's ``event_id`` makes that harmless);
* ``trim``: nothing: the topic's retention policy drops old messages;
* ``lag``: the high watermark minus the committed offset, summed over the partitions.

An entry's id is ``"<timestamp ms>-<partition>-<offset>"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from cratedig.exceptions import ConfigError
from cratedig.ingest.stream import Entry, Lag, StreamUnavailableError, decode_events


def _kafka() -> Any:
    try:
        import confluent_kafka
    except ImportError:
        raise ConfigError(
            "stream_url: a kafka:// URL needs confluent-kafka; expected it installed "
            "(pip install 'cratedig[kafka]')."
        ) from None
    return confluent_kafka


class KafkaEventStream:
    """One Kafka topic (``name``) read by one consumer group (``group``). Untested here."""

    backend = "kafka"

    def __init__(self, url: str, name: str, group: str) -> None:
        self.servers = urlsplit(url).netloc
        self.name = name
        self.group = group
        self._kafka = _kafka()
        self._producer: Any = None
        self._consumer: Any = None
        self._offsets: dict[str, tuple[int, int]] = {}

    def _conf(self, **extra: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.servers, **extra}

    def append(self, payloads: Sequence[bytes]) -> list[str]:
        """Produce the entries and wait for the brokers' acknowledgements."""
        if self._producer is None:
            self._producer = self._kafka.Producer(
                self._conf(**{"acks": "all", "enable.idempotence": True})
            )
        ids: list[str] = []
        errors: list[str] = []

        def done(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                ids.append(f"{msg.timestamp()[1]}-{msg.partition()}-{msg.offset()}")

        for payload in payloads:
            self._producer.produce(self.name, payload, on_delivery=done)
        left = self._producer.flush(30)
        if errors or left:
            raise StreamUnavailableError(
                f"event stream {self.name!r} at kafka://{self.servers}: produce failed "
                f"({'; '.join(errors) or f'{left} messages unacknowledged'}); expected "
                "reachable brokers."
            )
        return ids

    def _group_consumer(self, consumer: str) -> Any:
        if self._consumer is None:
            self._consumer = self._kafka.Consumer(
                self._conf(
                    **{
                        "group.id": self.group,
                        "client.id": consumer,
                        "enable.auto.commit": False,
                        "auto.offset.reset": "earliest",
                    }
                )
            )
            self._consumer.subscribe([self.name])
        return self._consumer

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Up to ``count`` messages of the partitions this consumer holds."""
        messages = self._group_consumer(consumer).consume(count, block_ms / 1000)
        entries = []
        for msg in messages:
            if msg.error() is not None:
                continue
            entry_id = f"{msg.timestamp()[1]}-{msg.partition()}-{msg.offset()}"
            self._offsets[entry_id] = (msg.partition(), msg.offset())
            entries.append(Entry(entry_id, decode_events(msg.value())))
        return entries

    def claim(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Nothing: the group rebalances a dead consumer's partitions by itself."""
        return []

    def ack(self, entry_ids: Sequence[str]) -> None:
        """Commit, per partition, the offset after the last stored entry."""
        latest: dict[int, int] = {}
        for entry_id in entry_ids:
            partition, offset = self._offsets.pop(entry_id)
            latest[partition] = max(offset, latest.get(partition, -1))
        if latest and self._consumer is not None:
            tp = self._kafka.TopicPartition
            self._consumer.commit(
                offsets=[tp(self.name, p, o + 1) for p, o in latest.items()], asynchronous=False
            )

    def trim(self) -> int:
        """Nothing: retention is the topic's."""
        return 0

    def lag(self) -> Lag:
        """Messages not committed by the group, over every partition of the topic."""
        lag = Lag(self.backend, self.name, pending=0)
        probe = self._kafka.Consumer(self._conf(**{"group.id": self.group}))
        try:
            meta = probe.list_topics(self.name, timeout=10)
            tp = self._kafka.TopicPartition
            parts = [tp(self.name, p) for p in meta.topics[self.name].partitions]
            total = behind = 0
            for committed in probe.committed(parts, timeout=10):
                low, high = probe.get_watermark_offsets(committed, timeout=10)
                total += high - low
                behind += high - max(committed.offset, low)
            lag.length, lag.undelivered = total, behind
        except Exception as exc:
            raise StreamUnavailableError(
                f"event stream {self.name!r} at kafka://{self.servers}: lag failed ({exc})"
            ) from None
        finally:
            probe.close()
        return lag

    def close(self) -> None:
        """Flush the producer, close the consumer."""
        if self._producer is not None:
            self._producer.flush(10)
        if self._consumer is not None:
            self._consumer.close()
