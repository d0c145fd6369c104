"""The stream area: ``cratedig consume`` (a stream consumer) and ``cratedig stream-lag``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cratedig.commands.common import CliContext, pass_cli

if TYPE_CHECKING:
    from cratedig.ingest.stream import EventStream


def _open(ctx: CliContext) -> EventStream:
    from cratedig.ingest.stream import open_stream

    settings = ctx.settings
    url = settings.stream_url or settings.redis_url
    if url is None:
        raise click.UsageError(
            "stream_url: not set; expected a redis:// URL in CRATEDIG_STREAM_URL (or "
            "CRATEDIG_REDIS_URL, or stream_url in the TOML file)"
        )
    return open_stream(url, settings.stream_name, settings.stream_group)


@click.command("consume")
@click.option(
    "--name",
    default=None,
    help="This consumer's name in the group (default: HOST-PID; must differ per running consumer).",
)
@click.option(
    "--count",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Entries read per step (an entry holds up to 500 events).",
)
@click.option(
    "--block-ms",
    type=click.IntRange(1, 60_000),
    default=1000,
    show_default=True,
    help="How long a read waits for new entries.",
)
@click.option(
    "--claim-idle",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Seconds an entry stays pending with another consumer before this one takes it "
    "over (XAUTOCLAIM). Default: the stream_claim_idle_seconds setting.",
)
@click.option(
    "--log-every",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between progress lines (on stderr).",
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Exit once nothing came for this many seconds (default: run until SIGTERM).",
)
@click.option(
    "--stats-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="On exit, write the consumer's counts and latency samples here as JSON.",
)
@pass_cli
def consume_command(
    ctx: CliContext,
    name: str | None,
    count: int,
    block_ms: int,
    claim_idle: float | None,
    log_every: float,
    idle_exit: float | None,
    stats_file: Path | None,
) -> None:
    """Store the events of the event stream (stream mode), until SIGTERM or Ctrl-C.

    A member of the stream's consumer group: it reads entries (XREADGROUP), stores their
    events through the one validated write path (idempotent by event_id), quarantines
    conflicts, acknowledges (XACK), takes over what a dead consumer left pending
    (XAUTOCLAIM) and trims acknowledged entries. Run as many as the store can take.
    On SIGTERM it finishes the entries in hand and exits.
    """
    from cratedig.ingest.consumer import StreamConsumer
    from cratedig.serving.cache import make_user_cache
    from cratedig.serving.cache_sync import CacheSync

    settings = ctx.settings
    stream = _open(ctx)
    engine = ctx.engine()
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    cache = make_user_cache(settings.redis_url)
    sync = CacheSync(engine, cache)
    idle = settings.stream_claim_idle_seconds if claim_idle is None else claim_idle
    consumer = StreamConsumer(
        engine,
        stream,
        name,
        count=count,
        block_ms=block_ms,
        claim_idle_ms=round(idle * 1000),
        in_transaction=sync.record,
        after_store=lambda users: cache.invalidate(sorted(users)),
        future_tolerance_ms=round(settings.future_tolerance_seconds * 1000),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: consumer.stop())

    def log(line: str) -> None:
        click.echo(line, err=True)
        sys.stderr.flush()

    log(
        f"consume {name}: reading {stream.backend} stream {stream.name!r}, group "
        f"{settings.stream_group!r}; taking over entries pending > {idle:g} s"
    )
    stats = consumer.run(log=log, log_every_s=log_every, idle_exit_s=idle_exit)
    log(consumer.progress_line())
    forget = getattr(stream, "forget_consumer", None)
    if forget is not None and all(
        c["pending"] == 0 for c in stream.lag().consumers if c["name"] == name
    ):
        forget(name)
    if stats_file is not None:
        stats_file.write_text(json.dumps({"name": name, **stats.as_dict(with_latencies=True)}))
    log(f"consume {name}: stopped; {json.dumps(stats.as_dict())}")
    stream.close()


@click.command("stream-lag")
@pass_cli
def stream_lag_command(ctx: CliContext) -> None:
    """The event stream's lag as JSON: entries held, undelivered and pending, the oldest
    pending entry's age, the consumers."""
    stream = _open(ctx)
    click.echo(json.dumps(stream.lag().as_dict(), indent=2))
    stream.close()


COMMANDS: list[click.Command] = [consume_command, stream_lag_command]
