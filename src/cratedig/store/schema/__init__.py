"""The tables of the store (SQLAlchemy Core), all on one :data:`metadata`.

Grouped by what they are: :mod:`~cratedig.store.schema.catalogue` (users, artists,
artist_tags, tracks, user_friends), :mod:`~cratedig.store.schema.events` (user_events,
quarantine), :mod:`~cratedig.store.schema.registry` (model_versions, serving_state and
each version's precomputed, similar-artist and fallback lists) and
:mod:`~cratedig.store.schema.online` (impressions, feedback, cache_invalidations) and
:mod:`~cratedig.store.schema.quality` (quality_findings, quality_decisions) and
:mod:`~cratedig.store.schema.rollups` (online measurement's per-user and daily rollups),
:mod:`~cratedig.store.schema.experiments` (experiments) and
:mod:`~cratedig.store.schema.scheduler` (scheduler_leases, scheduler_runs).
Every table and ``metadata`` are importable from here
(``from cratedig.store.schema import metadata, users``); importing this package
registers them all, so ``metadata.create_all`` and Alembic see every table.

Times are integers: milliseconds since the Unix epoch, UTC (columns ending in
``_ms``). Integer times bucket the same way on SQLite and PostgreSQL (``t / 86400000``
is a UTC day) and read back without parsing, which keeps 10M-event scans fast.
Ids are the site's own strings.
"""

from __future__ import annotations

from cratedig.store.schema.base import metadata
from cratedig.store.schema.catalogue import (
    artist_tags,
    artists,
    tracks,
    user_friends,
    users,
)
from cratedig.store.schema.events import (
    quarantine,
    user_events,
)
from cratedig.store.schema.experiments import experiments
from cratedig.store.schema.online import (
    cache_invalidations,
    feedback,
    impressions,
)
from cratedig.store.schema.quality import quality_decisions, quality_findings
from cratedig.store.schema.registry import (
    fallback_lists,
    model_versions,
    precomputed_lists,
    serving_state,
    similar_artist_lists,
)
from cratedig.store.schema.rollups import (
    online_artist_tail,
    online_daily,
    online_event_daily,
    online_memory,
    online_position_daily,
    online_state,
    online_user_daily,
)
from cratedig.store.schema.scheduler import scheduler_leases, scheduler_runs

__all__ = [
    "artist_tags",
    "artists",
    "cache_invalidations",
    "experiments",
    "fallback_lists",
    "feedback",
    "impressions",
    "metadata",
    "model_versions",
    "online_artist_tail",
    "online_daily",
    "online_event_daily",
    "online_memory",
    "online_position_daily",
    "online_state",
    "online_user_daily",
    "precomputed_lists",
    "quality_decisions",
    "quality_findings",
    "quarantine",
    "scheduler_leases",
    "scheduler_runs",
    "serving_state",
    "similar_artist_lists",
    "tracks",
    "user_events",
    "user_friends",
    "users",
]
