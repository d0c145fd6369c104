"""Events of one block of users: sessions, plays and engagement, all vectorised.

A block's users visit in sessions (their rhythm sets how often, the diurnal curve and
their preferred hour set when, in local time). A session starts with a ``visit`` and
holds a geometric number of plays of artists from the user's candidates, weighted by
affinity; a skip is a play shorter than :data:`cratedig.events.SKIP_MS` followed by a
``skip_track``. Likes, playlist adds, shares, pauses and follows follow plays with a
probability that grows with affinity; some follows are undone later (more so for
artists the user likes less), and some users subscribe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cratedig.events import EVENT_TYPES, SKIP_MS, EventType
from cratedig.simulator.taste import Candidates, draw_candidates
from cratedig.simulator.vocab import DIURNAL_WEIGHTS
from cratedig.simulator.world import DAY_MS, World

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Event types in code order (the ``etype`` column holds an index into this tuple).
TYPE_CODES: tuple[str, ...] = EVENT_TYPES
_CODE = {name: i for i, name in enumerate(TYPE_CODES)}

#: Per non-skipped play: base probability of each engagement, times affinity ** power.
ENGAGEMENT = (
    (EventType.LIKE_TRACK, 0.30, 3.0),
    (EventType.ADD_TRACK_TO_PLAYLIST, 0.12, 3.0),
    (EventType.SHARE_TRACK, 0.03, 2.0),
    (EventType.SHARE_ARTIST, 0.012, 2.0),
)
FOLLOW_PROBABILITY = 0.08  # times affinity ** 2, per non-skipped play; first one kept
PAUSE_PROBABILITY = 0.05
FOCUS_SHARE = 0.3  # share of a session's plays that go to the session's focus artist
SESSION_GAP_MS = 31 * 60_000  # a user's sessions are at least this far apart
REDRAWS = 6  # redraws of a candidate not yet discovered before the play is dropped


@dataclass
class BlockEvents:
    """Events of one block as parallel arrays, sorted by user then time."""

    user: I64  # global user index
    etype: npt.NDArray[np.uint8]
    artist: I64  # -1 when none
    track: I64  # -1 when none
    duration_ms: I64  # -1 when none
    occurred_ms: I64
    session: I64  # the session's number within its user
    seq: I64  # the event's number within its user
    offset_min: I64  # the user's UTC offset that day, for local timestamps
    candidates: Candidates
    block: I64


def _draw_discovered(cand: Candidates, rng: np.random.Generator, user: I64, when: I64) -> I64:
    """A candidate per (user, time) among those already discovered then; -1 if none."""
    idx = cand.sampler.sample(rng, user)
    bad = np.flatnonzero(cand.discovered_ms[idx] > when)
    for _ in range(REDRAWS):
        if len(bad) == 0:
            break
        idx[bad] = cand.sampler.sample(rng, user[bad])
        bad = bad[cand.discovered_ms[idx[bad]] > when[bad]]
    idx[bad] = -1
    return idx


def _sessions(world: World, block: I64, rng: np.random.Generator) -> tuple[I64, I64, I64]:
    """Sessions of the block's users: (local user, start ms, UTC offset), sorted."""
    cfg, users = world.config, world.users
    active = cfg.days - users.first_day[block]
    count = rng.poisson(users.session_rate[block] * active)
    s_user = np.repeat(np.arange(len(block)), count)
    n = len(s_user)
    day = users.first_day[block][s_user] + (rng.random(n) * active[s_user]).astype(np.int64)
    weekly = users.rhythm[block][s_user] == 1
    # weekly visitors mostly come back on a weekday of their own; it is spread evenly
    # over users (snapping to the first day would put every early user on the start's
    # weekday)
    same_weekday = weekly & (rng.random(n) < 0.6)
    first = users.first_day[block][s_user]
    anchor = first + (block[s_user] * 5 + 3) % 7
    snapped = anchor + ((day - anchor) // 7) * 7
    snapped = np.where(snapped < first, snapped + 7, snapped)
    snapped = np.where(snapped >= first + active[s_user], snapped - 7, snapped)
    day = np.where(same_weekday & (snapped >= first), snapped, day)
    diurnal = np.array(DIURNAL_WEIGHTS) / np.sum(DIURNAL_WEIGHTS)
    habitual = rng.random(n) < 0.55
    around_pref = users.preferred_hour[block][s_user] + np.round(rng.normal(0, 1.5, n))
    hour = np.where(habitual, around_pref % 24, rng.choice(24, size=n, p=diurnal))
    offset = world.tz_offset_min[users.tz[block][s_user], day]
    local_ms = day * DAY_MS + ((hour + rng.random(n)) * 3_600_000).astype(np.int64)
    start = cfg.start_ms + local_ms - offset * 60_000
    start = np.maximum(start, users.signup_ms[block][s_user])
    keep = (start >= cfg.start_ms) & (start < cfg.end_ms - 3_600_000)
    s_user, start, offset = s_user[keep], start[keep], offset[keep]
    order = np.lexsort((start, s_user))
    return s_user[order], start[order], offset[order]


def simulate_block(world: World, block_number: int) -> BlockEvents:
    """Simulate every event of the ``block_number``-th block of users."""
    cfg, users, art, tracks = world.config, world.users, world.artists, world.tracks
    size = cfg.block_users
    block = np.arange(block_number * size, min((block_number + 1) * size, cfg.n_users))
    rng = np.random.default_rng([cfg.seed, 1, block_number])
    cand = draw_candidates(world, block, rng)
    s_user, s_start, s_offset = _sessions(world, block, rng)
    n_sessions = len(s_user)

    # plays: a geometric number per session, artists weighted by affinity
    n_plays = rng.geometric(1.0 / users.plays_per_session[block][s_user])
    p_sess = np.repeat(np.arange(n_sessions), n_plays)
    p_user = s_user[p_sess]
    focus = _draw_discovered(cand, rng, s_user, s_start)
    pick = _draw_discovered(cand, rng, p_user, s_start[p_sess])
    use_focus = (rng.random(len(p_sess)) < FOCUS_SHARE) & (focus[p_sess] >= 0)
    pick = np.where(use_focus, focus[p_sess], pick)
    kept = pick >= 0
    p_sess, p_user, pick = p_sess[kept], p_user[kept], pick[kept]
    n = len(pick)
    artist = cand.artist[pick]
    aff = cand.affinity[pick]
    track = art.track_sampler.sample(rng, artist)
    track_ms = tracks.duration_ms[track]

    u = rng.random(n)
    p_skip = 0.04 + 0.6 * (1.0 - aff) ** 2
    skipped = u < p_skip
    partial = ~skipped & (u < p_skip + 0.12)
    r = rng.random(n)
    skip_ms = 1_500 + (r * (SKIP_MS - 1_501)).astype(np.int64)
    partial_ms = SKIP_MS + (r * (track_ms - SKIP_MS)).astype(np.int64)
    full_ms = track_ms - np.where(r < 0.4, (r * 0.1 * track_ms).astype(np.int64), 0)
    duration = np.where(skipped, skip_ms, np.where(partial, partial_ms, full_ms))

    # the session's timeline: a visit, then plays back to back with short gaps
    step = duration + 500 + (rng.random(n) * 4_000).astype(np.int64)
    before = np.cumsum(step) - step
    first_play = np.searchsorted(p_sess, np.arange(n_sessions))
    lead = 2_000 + (rng.random(n_sessions) * 18_000).astype(np.int64)
    length = lead + np.bincount(p_sess, weights=step, minlength=n_sessions).astype(np.int64)
    s_start = _push_apart(s_user, s_start, length)
    first_idx = np.minimum(first_play, max(n - 1, 0))
    base = s_start + lead - (before[first_idx] if n else 0)
    play_at = base[p_sess] + before

    parts: list[tuple[I64, int | I64, I64, I64, I64, I64]] = []  # sess, type, art, trk, dur, t
    none = np.full(n_sessions, -1, np.int64)
    parts.append((np.arange(n_sessions), _CODE["visit"], none, none, none, s_start))
    parts.append((p_sess, _CODE["play_track"], artist, track, duration, play_at))
    sk = np.flatnonzero(skipped)
    parts.append((p_sess[sk], _CODE["skip_track"], artist[sk], track[sk], -np.ones_like(sk),
                  play_at[sk] + duration[sk]))  # fmt: skip
    listened = np.flatnonzero(~skipped)
    l_aff = aff[listened]
    during = play_at[listened] + (rng.random(len(listened)) * duration[listened]).astype(np.int64)
    pause = listened[rng.random(len(listened)) < PAUSE_PROBABILITY]
    parts.append((p_sess[pause], _CODE["pause_track"], artist[pause], track[pause],
                  -np.ones_like(pause), play_at[pause] + duration[pause] // 2))  # fmt: skip
    for etype, base_p, power in ENGAGEMENT:
        hit = rng.random(len(listened)) < base_p * l_aff**power
        idx = listened[hit]
        keep_track = etype != EventType.SHARE_ARTIST
        trk = track[idx] if keep_track else -np.ones_like(idx)
        parts.append((p_sess[idx], _CODE[etype], artist[idx], trk, -np.ones_like(idx),
                      during[hit] + 1))  # fmt: skip

    # follows: the first one per (user, artist); some are undone in a later session
    hit = rng.random(len(listened)) < FOLLOW_PROBABILITY * l_aff**2
    f_idx = listened[hit]
    f_key = p_user[f_idx] * cfg.n_artists + artist[f_idx]
    order = np.lexsort((during[hit], f_key))
    _, first = np.unique(f_key[order], return_index=True)
    f_idx, f_at = f_idx[order][first], during[hit][order][first] + 2
    parts.append((p_sess[f_idx], _CODE["follow_artist"], artist[f_idx], -np.ones_like(f_idx),
                  -np.ones_like(f_idx), f_at))  # fmt: skip
    undo = rng.random(len(f_idx)) < 0.05 + 0.4 * (1.0 - aff[f_idx]) ** 2
    wait = (rng.exponential(15.0, len(f_idx)) * DAY_MS).astype(np.int64)
    later = _session_after(s_user, s_start, p_user[f_idx], f_at + wait)
    undo &= later >= 0
    u_idx, u_sess = f_idx[undo], later[undo]
    u_at = s_start[u_sess] + 1_000 + (rng.random(len(u_idx)) * 60_000).astype(np.int64)
    parts.append((u_sess, _CODE["unfollow_artist"], artist[u_idx], -np.ones_like(u_idx),
                  -np.ones_like(u_idx), u_at))  # fmt: skip

    # subscriptions: some users, more of the daily ones, in one of their sessions
    sub_p = np.where(users.rhythm[block] == 0, 0.2, 0.06)
    subscriber = rng.random(len(block)) < sub_p
    first_s = np.searchsorted(s_user, np.arange(len(block)))
    n_s = np.bincount(s_user, minlength=len(block))
    subscriber &= n_s > 0
    sub_sess = first_s[subscriber] + (rng.random(int(subscriber.sum())) * n_s[subscriber]).astype(
        np.int64
    )
    sub_none = -np.ones_like(sub_sess)
    parts.append((sub_sess, _CODE["subscribe"], sub_none, sub_none, sub_none,
                  s_start[sub_sess] + 30_000))  # fmt: skip
    return _assemble(parts, s_user, s_offset, block, cand, cfg.end_ms)


def _push_apart(s_user: I64, s_start: I64, length: I64) -> I64:
    """Delay sessions so each starts at least :data:`SESSION_GAP_MS` after the user's last.

    The recurrence ``start'[i] = max(start[i], start'[i-1] + length[i-1] + gap)`` is a
    running maximum of ``start - c`` (``c``: the user's cumulative length + gap before
    session ``i``), computed for all users at once by lifting each user's values above
    the previous user's.
    """
    if len(s_user) == 0:
        return s_start
    span = length + SESSION_GAP_MS
    total = np.cumsum(span) - span
    first = np.searchsorted(s_user, s_user)
    c = total - total[first]
    lift = np.int64(1) << 42  # above any (start - c) in ms until year 2109
    lifted = np.maximum.accumulate(s_start - c + s_user * lift)
    return np.asarray(lifted - s_user * lift + c, dtype=np.int64)


def _session_after(s_user: I64, s_start: I64, user: I64, when: I64) -> I64:
    """Index of each user's first session starting after ``when``; -1 when none."""
    big = np.int64(1) << 42  # above any ms timestamp until year 2109
    keys = s_user * big + s_start
    pos = np.searchsorted(keys, user * big + when, side="right")
    ok = pos < len(keys)
    ok[ok] &= s_user[pos[ok]] == user[ok]
    return np.where(ok, pos, -1)


def _assemble(
    parts: list[tuple[I64, int | I64, I64, I64, I64, I64]],
    s_user: I64,
    s_offset: I64,
    block: I64,
    cand: Candidates,
    end_ms: int,
) -> BlockEvents:
    """Concatenate the parts, drop what falls after the period, sort by user and time."""
    sess = np.concatenate([p[0] for p in parts])
    etype = np.concatenate([np.full(len(p[0]), p[1], np.uint8) for p in parts])
    artist = np.concatenate([p[2] for p in parts])
    track = np.concatenate([p[3] for p in parts])
    duration = np.concatenate([p[4] for p in parts])
    occurred = np.concatenate([p[5] for p in parts])
    local_user = s_user[sess]
    inside = np.flatnonzero(occurred < end_ms)
    order = inside[np.lexsort((etype[inside], occurred[inside], local_user[inside]))]
    sess, etype, artist, track = sess[order], etype[order], artist[order], track[order]
    duration, occurred, local_user = duration[order], occurred[order], local_user[order]
    first_event = np.searchsorted(local_user, local_user)
    first_session = np.searchsorted(s_user, s_user)
    return BlockEvents(
        user=block[local_user],
        etype=etype,
        artist=artist,
        track=track,
        duration_ms=duration,
        occurred_ms=occurred,
        session=sess - first_session[sess],
        seq=np.arange(len(sess)) - first_event,
        offset_min=s_offset[sess],
        candidates=cand,
        block=block,
    )
