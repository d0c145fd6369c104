"""Re-rank a user's precomputed candidates by what they did since the model's snapshot.

No retraining: the user's weighted events after the served version's ``snapshot_ms``
(:func:`cratedig.matrix.recent.recent_statement`, weighted like the engagement matrix)
are read on each uncached request, and artist-artist similarity comes from the
version's precomputed similar-artist lists. Events are weighed with the engagement
configuration the version was trained with (recorded in its ``params``, see
:class:`VersionEngagement`), not with today's settings.

* an artist the user engaged with positively (follow, share, like, full play...)
  pushes its similar artists up, by the event's weight and the similarity;
  with ``allow_new`` its neighbours may even enter the list;
* an artist the user followed is known now and leaves the list;
* an unfollowed artist leaves the list and damps its neighbours.

Scores: a candidate's base score is its rank in the precomputed list mapped to
``1 .. 1/n`` (model scores are on no common scale); boosts and damping are then
applied to that.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cratedig.config import Settings
from cratedig.events import DEFAULT_WEIGHTS, EventType
from cratedig.matrix.recent import recent_statement
from cratedig.matrix.weights import RECORD_KEY, EngagementConfig

#: How strongly a fully weighted signal (a follow) lifts its most similar artist:
#: 1.0 equals the gap between the top and the bottom of the list.
BOOST = 1.0
#: How much an unfollow damps its most similar artist's score (a fraction).
DAMP = 0.5
#: Events read per request at most.
ACTIVITY_LIMIT = 200
#: Versions whose configuration and query are kept (a few are served at once).
KEPT_VERSIONS = 16


class RecordedVersion(Protocol):
    """A model version (as :class:`cratedig.pipeline.registry.ModelVersion`)."""

    @property
    def version_id(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...


class VersionEngagement:
    """Each served version's engagement configuration and recent-activity query.

    ``cratedig train`` records the configuration it built the matrix with under
    ``params["engagement"]``; personalisation between retrains weighs a user's new
    events with that same configuration, so changing ``[weights]`` or ``[engagement]``
    takes effect with the next trained version, never half-way through one. Versions
    trained before configurations were recorded fall back to the settings' one.
    Building the query costs ~20 ms, so both are kept per version.

    Parameters
    ----------
    settings
        The settings (only for versions that recorded no configuration).
    limit
        Events read per request at most.
    """

    def __init__(self, settings: Settings, limit: int = ACTIVITY_LIMIT) -> None:
        self._settings = settings
        self._limit = limit
        self._kept: OrderedDict[str, tuple[EngagementConfig, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def config(self, version: RecordedVersion) -> EngagementConfig:
        """The engagement configuration ``version`` was trained with."""
        record = version.params.get(RECORD_KEY)
        if record is None:
            return EngagementConfig.from_settings(self._settings)
        return EngagementConfig.from_record(record)

    def get(self, version: RecordedVersion) -> tuple[EngagementConfig, Any]:
        """``(configuration, query)`` of a version; the query is ``None`` if nothing weighs.

        Run the query with ``{"user_id": ..., "since_ms": version.snapshot_ms + 1}``.
        """
        with self._lock:
            kept = self._kept.get(version.version_id)
            if kept is not None:
                self._kept.move_to_end(version.version_id)
                return kept
        config = self.config(version)
        kept = (config, recent_statement(config, self._limit))
        with self._lock:
            self._kept[version.version_id] = kept
            while len(self._kept) > KEPT_VERSIONS:
                self._kept.popitem(last=False)
        return kept


class WeightedEvent(Protocol):
    """A recent event (as :func:`cratedig.matrix.recent.recent_activity` returns it)."""

    @property
    def artist_id(self) -> str: ...

    @property
    def event_type(self) -> str: ...

    @property
    def weight(self) -> float: ...

    @property
    def occurred_at_ms(self) -> int: ...


@dataclass
class Signals:
    """A user's recent activity folded into per-artist signals.

    Attributes
    ----------
    positive
        Artist -> summed positive weight (a follow counts ``weights[follow]``).
    following
        Artists whose latest follow/unfollow event is a follow.
    unfollowed
        Artists whose latest follow/unfollow event is an unfollow.
    """

    positive: dict[str, float] = field(default_factory=dict)
    following: set[str] = field(default_factory=set)
    unfollowed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.positive or self.following or self.unfollowed)


def fold_signals(events: Iterable[WeightedEvent]) -> Signals:
    """Fold weighted events into per-artist signals (the newest follow/unfollow wins)."""
    signals = Signals()
    decided: set[str] = set()
    for event in sorted(events, key=lambda e: -e.occurred_at_ms):
        kind = event.event_type
        if (
            kind in (EventType.FOLLOW_ARTIST, EventType.UNFOLLOW_ARTIST)
            and event.artist_id not in decided
        ):
            decided.add(event.artist_id)
            target = signals.following if kind == EventType.FOLLOW_ARTIST else signals.unfollowed
            target.add(event.artist_id)
        if event.weight > 0:
            signals.positive[event.artist_id] = (
                signals.positive.get(event.artist_id, 0.0) + event.weight
            )
    for artist in signals.unfollowed:
        signals.positive.pop(artist, None)
    return signals


SimilarLookup = Callable[[str], Sequence[Mapping[str, Any]]]


def rerank(
    candidates: Sequence[Mapping[str, Any]],
    signals: Signals,
    similar: SimilarLookup,
    weights: Mapping[str, float] | None = None,
    allow_new: bool = True,
) -> list[dict[str, Any]]:
    """Re-rank candidates (``artist_id``, ``score``, ``explanation``) by recent signals.

    Parameters
    ----------
    candidates
        The precomputed list, best first.
    signals
        From :func:`fold_signals`.
    similar
        ``similar(artist_id)`` -> that artist's similar artists (``artist_id``,
        ``score``), best first.
    allow_new
        Whether neighbours of engaged artists that are not candidates may enter.

    Returns
    -------
    list of dict
        The new list, best first; a boosted item has ``because`` (the artist that
        lifted it most) and a ``score`` that is the re-ranking score.
    """
    weights = weights or DEFAULT_WEIGHTS
    n = max(len(candidates), 1)
    base: dict[str, float] = {}
    items: dict[str, dict[str, Any]] = {}
    for rank, item in enumerate(candidates):
        base[item["artist_id"]] = 1.0 - rank / n
        items[item["artist_id"]] = dict(item)
    full = float(weights.get(EventType.FOLLOW_ARTIST, 5.0)) or 1.0
    boost: dict[str, float] = {}
    because: dict[str, tuple[float, str]] = {}
    for artist, weight in signals.positive.items():
        strength = min(1.0, weight / full)
        for b, sim in _normalised(similar(artist)):
            lift = BOOST * strength * sim
            boost[b] = boost.get(b, 0.0) + lift
            if lift > because.get(b, (0.0, ""))[0]:
                because[b] = (lift, artist)
    damp: dict[str, float] = {}
    for artist in signals.unfollowed:
        for b, sim in _normalised(similar(artist)):
            damp[b] = damp.get(b, 1.0) * (1.0 - DAMP * sim)
    removed = signals.following | signals.unfollowed | set(signals.positive)
    pool = set(items)
    if allow_new:
        pool |= set(boost)
    ranked = []
    for artist in pool:
        if artist in removed:
            continue
        score = (base.get(artist, 0.0) + boost.get(artist, 0.0)) * damp.get(artist, 1.0)
        item = items.get(artist, {"artist_id": artist})
        item = {**item, "score": round(score, 6)}
        if artist in because:
            item["because"] = because[artist][1]
        ranked.append((-score, -base.get(artist, -1.0), artist, item))
    ranked.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in ranked]


def _normalised(neighbours: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    pairs = [(str(n["artist_id"]), float(n["score"])) for n in neighbours]
    top = max((s for _, s in pairs), default=0.0)
    if top <= 0:
        return [(a, 1.0 / (i + 1)) for i, (a, _) in enumerate(pairs)]
    return [(a, max(0.0, s / top)) for a, s in pairs]
