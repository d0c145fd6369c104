"""One visit of one listener: fetch lists, examine them (cascade), click, play, follow...

The behaviour model is described in ``docs/traffic.md`` and parametrised by
:class:`~cratedig.simulator.traffic_config.TrafficConfig`. The examination of a list
is the cascade model of Craswell et al. (2008), "An experimental comparison of click
position-bias models", WSDM, with the dependent-click extension of Guo, Liu and Wang
(2009), "Efficient multiple-click models in web search", WSDM: positions are examined
top-down; after an item not clicked the listener goes on with probability
``continue_prob``, after a click with probability ``1 - stop_after_click``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from cratedig.events import ORGANIC, SKIP_MS
from cratedig.simulator.client import Reply, ServiceError, TrafficClient, set_time
from cratedig.simulator.listeners import Listener, make_id, pool_weight
from cratedig.simulator.traffic_config import TrafficConfig
from cratedig.simulator.traffic_log import TrafficLog
from cratedig.simulator.world import World

EVENTS_PATH = "/api/v1/events"
FEEDBACK_PATH = "/api/v1/feedback"
MAX_BATCH = 10_000
LIST_TYPES = ("may_like", "hidden_gems")


class Visit:
    """Simulates one visit; events and feedback go to the service as the visit goes on.

    Parameters
    ----------
    listener
        Who visits (their state is updated: follows, discoveries, subscription).
    number
        The visit's number among the listener's (names its ``session_id``).
    rng
        The listener's own generator (so listeners do not share draws).
    counters
        The run's tallies, updated in place.
    """

    def __init__(
        self,
        client: TrafficClient,
        world: World,
        config: TrafficConfig,
        log: TrafficLog,
        artist_index: dict[str, int],
        listener: Listener,
        number: int,
        rng: np.random.Generator,
        counters: Counter[str],
    ) -> None:
        self.client, self.world, self.config, self.log = client, world, config, log
        self.artist_index = artist_index
        self.listener, self.rng, self.counters = listener, rng, counters
        self.session_id = f"tr{config.seed}-{listener.user_id}-{number}"
        self._events: list[dict[str, Any]] = []
        self._feedback: list[dict[str, Any]] = []
        self._event_number = 0

    # -- sending ---------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        t: int,
        source: str = ORGANIC,
        artist: int | None = None,
        track: int | None = None,
        duration_ms: int | None = None,
        list_info: dict[str, Any] | None = None,
        position: int | None = None,
    ) -> None:
        """Queue one event for the service and log it."""
        cfg = self.world.config
        event_id = f"{self.session_id}-{self._event_number}"
        self._event_number += 1
        event: dict[str, Any] = {
            "event_id": event_id,
            "user_id": self.listener.user_id,
            "event_type": event_type,
            "occurred_at_ms": int(t),
            "session_id": self.session_id,
            "source": source,
        }
        artist_id = None if artist is None else make_id("a", artist, cfg.n_artists)
        track_id = None if track is None else make_id("t", track, len(self.world.tracks.artist))
        for name, value in (
            ("artist_id", artist_id),
            ("track_id", track_id),
            ("duration_ms", duration_ms),
        ):
            if value is not None:
                event[name] = value
        self._events.append(event)
        self.counters[f"{event_type} ({'list' if source != ORGANIC else 'organic'})"] += 1
        info = list_info or {}
        self.log.write(
            t=int(t),
            user=self.listener.user_id,
            action=event_type,
            source=source,
            list_id=info.get("list_id"),
            list_type=info.get("list_type"),
            model_version=info.get("model_version"),
            variant=info.get("variant"),
            artist_id=artist_id,
            track_id=track_id,
            position=position,
            value=duration_ms,
            affinity=None if artist is None else self.affinity(artist),
            event_id=event_id,
            session_id=self.session_id,
        )

    def flush(self, t: int) -> None:
        """Send the queued events (one batch) and feedback, at simulated time ``t``
        (not before any of them).

        Raises
        ------
        ServiceError
            When the service refuses the batch or any event in it.
        """
        events, self._events = self._events, []
        if events or self._feedback:
            set_time(self.client, t)
        for start in range(0, len(events), MAX_BATCH):
            reply = self.client.post(EVENTS_PATH, {"events": events[start : start + MAX_BATCH]})
            rejected = reply.body.get("rejected", 0) if isinstance(reply.body, dict) else 0
            if not reply.ok or rejected:
                raise ServiceError("POST", EVENTS_PATH, reply.status, _detail(reply))
            self.counters["events sent"] += len(events[start : start + MAX_BATCH])
        feedback, self._feedback = self._feedback, []
        for body in feedback:
            reply = self.client.post(FEEDBACK_PATH, body)
            if not reply.ok:
                raise ServiceError("POST", FEEDBACK_PATH, reply.status, _detail(reply))

    # -- behaviour -------------------------------------------------------------------

    def affinity(self, artist: int) -> float:
        return float(self.listener.affinity[artist])

    def run(self, t: int) -> int:
        """Simulate the visit starting at ``t``; returns when it ends (simulated ms)."""
        cfg, rng = self.config, self.rng
        clock = t
        self.emit("visit", clock)
        for list_type, chance in zip(
            LIST_TYPES, (cfg.fetch_may_like, cfg.fetch_hidden_gems), strict=True
        ):
            if rng.random() < chance:
                clock += int(rng.integers(2_000, 20_000))
                clock = self.browse(list_type, clock)  # sends what it led to
        clock = self.organic(clock)
        listener = self.listener
        if not listener.subscribed:
            chance = min(
                cfg.subscribe_cap,
                cfg.subscribe_base + cfg.subscribe_per_liked * len(listener.discovered_liked),
            )
            if rng.random() < chance:
                clock += int(rng.integers(5_000, 60_000))
                self.emit("subscribe", clock)
                listener.subscribed = True
        self.flush(clock)
        return clock

    def listen(
        self,
        artist: int,
        clock: int,
        source: str,
        info: dict[str, Any] | None,
        position: int | None,
    ) -> tuple[int, bool]:
        """Play one track of ``artist``; returns the new clock and whether it was not skipped.

        Skips are as in the site simulator (probability ``0.04 + 0.6 (1 - a)^2``); a
        play not skipped lasts a Beta(1 + 4a, 1 + 4(1 - a)) share of the track (at
        least :data:`SKIP_MS`), so it lasts longer the more the listener likes the artist.
        """
        rng, aff = self.rng, self.affinity(artist)
        track = int(self.world.artists.track_sampler.sample(rng, np.array([artist]))[0])
        track_ms = int(self.world.tracks.duration_ms[track])
        skipped = rng.random() < 0.04 + 0.6 * (1.0 - aff) ** 2
        if skipped:
            duration = 1_500 + int(rng.random() * (SKIP_MS - 1_501))
        else:
            share = rng.beta(1.0 + 4.0 * aff, 1.0 + 4.0 * (1.0 - aff))
            duration = max(SKIP_MS, int(share * track_ms))
        kw: dict[str, Any] = {"source": source, "list_info": info, "position": position}
        self.emit("play_track", clock, artist=artist, track=track, duration_ms=duration, **kw)
        if skipped:
            self.emit("skip_track", clock + duration, artist=artist, track=track, **kw)
        elif rng.random() < self.config.like_base * aff**3:
            self.emit("like_track", clock + duration // 2, artist=artist, track=track, **kw)
        return clock + duration + 500 + int(rng.integers(0, 4_000)), not skipped

    def browse(self, list_type: str, clock: int) -> int:
        """Fetch one list and examine it top-down (cascade); returns the new clock."""
        cfg, rng, listener = self.config, self.rng, self.listener
        path = f"/api/v1/users/{listener.user_id}/recommendations"
        set_time(self.client, clock)  # the list is served (and logged) at this time
        reply = self.client.get(path, {"list": list_type, "k": str(cfg.k)})
        if not reply.ok or not isinstance(reply.body, dict):
            self.counters["list errors"] += 1
            self.log.write(
                t=clock, user=listener.user_id, action="list_error", list_type=list_type,
                value=reply.status,
            )  # fmt: skip
            return clock
        body = reply.body
        info = {
            "list_id": body["list_id"],
            "list_type": list_type,
            "model_version": body.get("model_version"),
            "variant": body.get("variant"),
        }
        artists = [str(item["artist_id"]) for item in body.get("items", [])]
        self.counters["lists fetched"] += 1
        self.counters["items shown"] += len(artists)
        self.log.write(
            t=clock, user=listener.user_id, action="fetch_list", artists=artists,
            value=len(artists), **info,
        )  # fmt: skip
        list_id = info["list_id"]
        examined: list[float] = []
        for position, artist_id in enumerate(artists, start=1):
            artist = self.artist_index.get(artist_id)
            aff = 0.0 if artist is None else self.affinity(artist)
            clock += int(rng.integers(1_000, 4_000))
            examined.append(aff)
            self.counters["items examined"] += 1
            self.log.write(
                t=clock, user=listener.user_id, action="examine", artist_id=artist_id,
                position=position, affinity=aff, **info,
            )  # fmt: skip
            if rng.random() < cfg.thumb_prob:
                thumb = 1 if rng.random() < aff else -1
                self._feedback.append(
                    {"user_id": listener.user_id, "list_id": list_id, "artist_id": artist_id,
                     "thumb": "up" if thumb == 1 else "down"}
                )  # fmt: skip
                self.counters["thumbs up" if thumb == 1 else "thumbs down"] += 1
                self.log.write(
                    t=clock, user=listener.user_id, action="thumb", artist_id=artist_id,
                    position=position, value=thumb, affinity=aff, **info,
                )  # fmt: skip
            if artist is None or rng.random() >= cfg.click_max * aff**cfg.click_power:
                if rng.random() >= cfg.continue_prob:
                    break
                continue
            clock = self.click(artist, position, clock, info)
            if rng.random() < cfg.stop_after_click:
                break
        if examined and rng.random() < cfg.rate_prob:
            noisy = 1.0 + 4.0 * float(np.mean(examined)) + rng.normal(0.0, 0.5)
            rating = int(np.clip(np.round(noisy), 1, 5))
            self._feedback.append(
                {"user_id": listener.user_id, "list_id": list_id, "rating": rating}
            )
            self.counters["ratings"] += 1
            self.log.write(t=clock, user=listener.user_id, action="rating", value=rating, **info)
        self.flush(clock)
        return clock

    def click(self, artist: int, position: int, clock: int, info: dict[str, Any]) -> int:
        """A click on a list item and what follows it; returns the new clock."""
        cfg, rng, listener = self.config, self.rng, self.listener
        aff, source = self.affinity(artist), info["list_id"]
        kw: dict[str, Any] = {"source": source, "list_info": info, "position": position}
        self.emit("recommendation_click", clock, artist=artist, **kw)
        clock += int(rng.integers(1_000, 5_000))
        liked_play = False
        for _ in range(1 + int(rng.poisson(cfg.plays_per_click * aff))):
            clock, listened = self.listen(artist, clock, source, info, position)
            liked_play |= listened
        if not liked_play:
            return clock
        if artist not in listener.followed and rng.random() < cfg.follow_base * aff**2:
            listener.followed.add(artist)
            self.emit("follow_artist", clock, artist=artist, **kw)
            clock += 1_000
        if rng.random() < cfg.share_base * aff**2:
            self.emit("share_artist", clock, artist=artist, **kw)
            clock += 1_000
        if aff >= cfg.like_threshold:
            weight = pool_weight(
                np.array([aff]), self.world.artists.pop_percentile[np.array([artist])]
            )
            listener.discover(artist, float(weight[0]))
        return clock

    def organic(self, clock: int) -> int:
        """The visit's own listening, from the listener's organic pool."""
        cfg, rng, listener = self.config, self.rng, self.listener
        if not listener.pool:
            return clock
        weights = np.asarray(listener.pool_weight, dtype=np.float64)
        if weights.sum() <= 0:
            return clock
        n = int(rng.geometric(1.0 / max(1.0, listener.plays_per_session)))
        picks = rng.choice(len(weights), size=n, p=weights / weights.sum())
        for pick in picks:
            artist = listener.pool[int(pick)]
            clock, listened = self.listen(artist, clock, ORGANIC, None, None)
            aff = self.affinity(artist)
            followable = listened and artist not in listener.followed
            if followable and rng.random() < cfg.organic_follow * aff**2:
                listener.followed.add(artist)
                self.emit("follow_artist", clock, artist=artist)
                clock += 1_000
        return clock


def _detail(reply: Reply) -> str:
    if isinstance(reply.body, dict) and reply.body.get("errors"):
        return str(reply.body["errors"][0].get("message"))
    return reply.error_message()
