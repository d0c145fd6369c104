"""View models of the pages: what a template shows, built from the service's reads.

* the listener's home: both lists, each item with its top tags and listener count
  (Hidden Gems with a rarity tier), explanations split into text and links to the
  listener's own artists, and the "Your recent listening" panel (the events since
  the served version's snapshot that re-rank the lists);
* the artist page: the listener's own relation to the artist;
* admin: model versions with key metrics in columns and the rest apart.

Artist cards (tags, listeners) change slowly, so each worker keeps them for
:data:`CARD_TTL_SECONDS`. A listener's own part (recent listening, own artists,
thumbs, ratings) lives in the per-user cache beside their lists and is dropped with
them; the rendered home page body is cached on top of both
(:mod:`cratedig.serving.page_home`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from flask import Flask, url_for

from cratedig.pipeline.registry import ModelVersion
from cratedig.serving import pages_sql
from cratedig.serving.cache import LocalLRU
from cratedig.serving.service import Service

#: How long a worker keeps an artist's tags and listener count.
CARD_TTL_SECONDS = 300.0
#: Rendered home pages a worker keeps (about 28 KB each: at most ~30 MB).
BODY_ENTRIES = 1_000
#: Tags shown per artist on a list item.
CARD_TAGS = 3
#: Artists shown in the recent-listening panel.
RECENT_ARTISTS = 8
#: The metrics the admin table shows in columns (the rest are under "all metrics").
KEY_METRICS = ("ndcg@10", "precision@10", "recall@10", "coverage", "novelty")
#: Rarity tiers of a Hidden Gem: (largest share of the version's users, label).
GEM_TIERS = ((0.02, "very rare"), (0.10, "rare"), (1.01, "niche"))
#: How an event reads in the recent-listening panel.
EVENT_WORDS = {
    "play_track": "played",
    "like_track": "liked a track",
    "share_track": "shared a track",
    "add_track_to_playlist": "added to a playlist",
    "follow_artist": "followed",
    "unfollow_artist": "unfollowed",
    "share_artist": "shared",
    "tag_artist": "tagged",
    "subscribe": "subscribed",
    "visit": "visited",
    "recommendation_click": "opened",
}


def when(ms: int | None) -> str:
    """A time as ``2026-11-30 15:04 UTC`` ("" for ``None``)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def gem_tier(listeners: int, n_users: int | None) -> str:
    """How rare a Hidden Gem is, by its listeners' share of the version's users."""
    share = listeners / max(n_users or 1, 1)
    for limit, label in GEM_TIERS:
        if share <= limit:
            return label
    return GEM_TIERS[-1][1]


@lru_cache(maxsize=4096)
def _name_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    wanted = sorted((n for n in names if n), key=len, reverse=True)
    return re.compile("|".join(re.escape(n) for n in wanted)) if wanted else None


def link_names(text: str, names: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``text`` split into ``(part, artist_id or None)``: the listener's artists'
    names (``names``: name -> id) become linkable parts. Longer names win."""
    pattern = _name_pattern(tuple(names)) if names and text else None
    if pattern is None:
        return [(text, None)]
    parts: list[tuple[str, str | None]] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            parts.append((text[at : match.start()], None))
        parts.append((match.group(0), names[match.group(0)]))
        at = match.end()
    if at < len(text):
        parts.append((text[at:], None))
    return parts


def artist_prefix() -> str:
    """The artist pages' URL prefix (``/artists/`` under the app's root)."""
    return url_for("pages.artist", artist_id="_")[:-1]


@lru_cache(maxsize=65_536)
def _quoted(value: str) -> str:
    """``value`` percent-encoded as one path segment or query value (a page quotes the
    same ids many times: its user's, its lists' and ~60 artists')."""
    return quote(value, safe="")


def artist_href(
    prefix: str, artist_id: str, user_id: str | None = None, src: str | None = None
) -> str:
    """An artist page's URL (built without ``url_for``: a page links ~60 artists)."""
    query = "&".join(f"{k}={_quoted(v)}" for k, v in (("user", user_id), ("src", src)) if v)
    return prefix + _quoted(artist_id) + ("?" + query if query else "")


class PageReads:
    """The pages' own cached reads (one per app).

    Parameters
    ----------
    svc
        The app's service.
    """

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.cards_cache = LocalLRU(max_entries=50_000, ttl_seconds=CARD_TTL_SECONDS)
        #: Rendered home page bodies (see :mod:`cratedig.serving.page_home`).
        self.bodies = LocalLRU(max_entries=BODY_ENTRIES, ttl_seconds=CARD_TTL_SECONDS)

    def cards(self, artist_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``artist_id -> {"tags": [...], "listeners": n}`` (cached per worker)."""
        out: dict[str, dict[str, Any]] = {}
        missing = []
        for a in artist_ids:
            got = self.cards_cache.get(a)
            if got is None:
                missing.append(a)
            else:
                out[a] = got
        if missing:
            with self.svc.engine.connect() as conn:
                tags = pages_sql.tags_of(conn, missing, CARD_TAGS)
                listeners = pages_sql.listeners_of(conn, missing)
            for a in missing:
                card = {"tags": tags.get(a, []), "listeners": listeners.get(a, 0)}
                self.cards_cache.set(a, card)
                out[a] = card
        return out

    def recent(self, version: ModelVersion | None, user_id: str) -> list[dict[str, Any]]:
        """The listener's weighted events since ``version``'s snapshot, by artist
        (newest first): what re-ranks the lists until the next retrain."""
        if version is None:
            return []
        with self.svc.engine.connect() as conn:  # read once with the lists' (pages.home)
            _config, rows = self.svc.lists.recent_activity(conn, version, user_id)
        by_artist: dict[str, dict[str, Any]] = {}
        for artist_id, event_type, weight, ms in rows:
            entry = by_artist.get(artist_id)
            if entry is None:
                if len(by_artist) >= RECENT_ARTISTS:
                    continue
                entry = by_artist[artist_id] = {
                    "artist_id": artist_id,
                    "last_ms": int(ms),
                    "when": when(int(ms)),
                    "weight": 0.0,
                    "events": {},
                }
            entry["weight"] += float(weight)
            entry["events"][event_type] = entry["events"].get(event_type, 0) + 1
        names = self.svc.catalogue.artist_names(list(by_artist))
        for entry in by_artist.values():
            entry["name"] = names.get(entry["artist_id"]) or entry["artist_id"]
            entry["summary"] = ", ".join(
                EVENT_WORDS.get(t, t) + (f" ×{n}" if n > 1 else "")
                for t, n in entry["events"].items()
            )
            entry["negative"] = entry["weight"] < 0
        return list(by_artist.values())

    def user_extras(
        self, version: ModelVersion | None, user_id: str, cache: bool = True
    ) -> dict[str, Any]:
        """The recent activity, own artists' names, thumbs and ratings of a listener,
        kept in the per-user cache (dropped with the user's lists when they post an
        event or feedback, in every worker).

        ``epoch`` is a fresh random id each time they are read from the store: it
        changes whenever the user's cache entry was dropped, so the rendered page
        bodies keyed by it (:mod:`cratedig.serving.page_home`) go stale with them.
        Not cached when ``cache`` is false (a made-up user id leaves nothing behind).
        """
        field = f"page:{version.version_id if version is not None else '-'}"
        cached = self.svc.user_cache.get(user_id, field)
        if cached is not None:
            return dict(cached)
        with self.svc.engine.connect() as conn:
            thumbs, ratings = pages_sql.latest_feedback(conn, user_id)
        extras = {
            "recent": self.recent(version, user_id),
            "own": self.user_artist_names(user_id),
            "thumbs": thumbs,
            "ratings": ratings,
            "epoch": os.urandom(8).hex(),
        }
        if cache:
            self.svc.user_cache.set(user_id, field, extras)
        return extras

    def user_artist_names(self, user_id: str) -> dict[str, str]:
        """``name -> artist_id`` of the artists the listener has events about."""
        with self.svc.engine.connect() as conn:
            ids = pages_sql.user_artists(conn, user_id)
        names = self.svc.catalogue.artist_names(ids)
        return {name: a for a in reversed(ids) if (name := names.get(a))}


def reads(app: Flask) -> PageReads:
    """The app's :class:`PageReads` (made on first use)."""
    found = app.extensions.get("cratedig_pages")
    if found is None:
        found = app.extensions["cratedig_pages"] = PageReads(app.extensions["cratedig"])
    return found


@dataclass
class ListView:
    """One list of the home page."""

    title: str
    payload: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return str(self.payload["list"])


def decorate_items(
    pr: PageReads,
    items: Iterable[Mapping[str, Any]],
    names: Mapping[str, str],
    n_users: int | None,
    gems: bool,
    user_id: str | None = None,
    src: str | None = None,
    prefix: str | None = None,
) -> list[dict[str, Any]]:
    """List items with their card, rarity (gems), link and linked explanation parts
    (``prefix``: :func:`artist_prefix`, when the caller has it)."""
    items = list(items)
    cards = pr.cards([i["artist_id"] for i in items])
    prefix = prefix or artist_prefix()
    out = []
    for item in items:
        card = cards[item["artist_id"]]
        n = card["listeners"]
        why = link_names(str(item.get("explanation") or ""), names)
        out.append(
            {
                **item,
                "display": item.get("name") or item["artist_id"],
                "href": artist_href(prefix, item["artist_id"], user_id, src),
                "tags": card["tags"],
                "listeners": f"{n} listener{'' if n == 1 else 's'}",
                "tier": gem_tier(n, n_users) if gems else None,
                "why": [(text, artist_href(prefix, a, user_id) if a else None) for text, a in why],
            }
        )
    return out


def home_view(
    app: Flask,
    user_id: str,
    lists: Sequence[tuple[str, dict[str, Any]]],
    version: ModelVersion | None,
    extras: Mapping[str, Any],
) -> dict[str, Any]:
    """What the home page body (``_home_body.html``) shows: ``lists`` decorated, and
    the listener's ``extras`` (:meth:`PageReads.user_extras`) for ``version``."""
    pr = reads(app)
    names = extras["own"]
    n_users = version.n_users if version is not None else None
    prefix = artist_prefix()
    views = [
        ListView(
            title,
            payload,
            decorate_items(
                pr,
                payload["items"],
                names,
                n_users,
                payload["list"] == "hidden_gems",
                user_id,
                payload["list_id"],
                prefix,
            ),
        )
        for title, payload in lists
    ]
    recent = [{**r, "href": artist_href(prefix, r["artist_id"], user_id)} for r in extras["recent"]]
    return {
        "user_id": user_id,
        "views": views,
        "recent": recent,
        "snapshot": when(version.snapshot_ms) if version is not None else "",
        "n_users": n_users or 0,
        "own_artists": names,
        "thumbs": extras["thumbs"],
        "ratings": extras["ratings"],
    }


def fans_view(
    app: Flask, items: Iterable[Mapping[str, Any]], user_id: str | None, src: str
) -> list[dict[str, Any]]:
    """The "Fans also like" items with their cards and links."""
    return decorate_items(reads(app), items, {}, None, False, user_id, src)


def relation_view(app: Flask, user_id: str, artist_id: str) -> dict[str, Any]:
    """The listener's relation to an artist, with a sentence ("You played 2 tracks...")."""
    pr = reads(app)
    with pr.svc.engine.connect() as conn:
        rel = pages_sql.relation(conn, user_id, artist_id)
    counts = rel["counts"]
    bits = []
    if rel["tracks_played"]:
        n = rel["tracks_played"]
        plays = counts.get("play_track", 0)
        bits.append(f"played {n} track{'s' if n != 1 else ''} ({plays} plays)")
    for event_type, word in (("like_track", "liked"), ("share_track", "shared")):
        if counts.get(event_type):
            n = counts[event_type]
            bits.append(f"{word} {n} track{'s' if n != 1 else ''}")
    if rel["following"]:
        bits.append(f"followed since {when(rel['followed_since_ms'])}")
    elif counts.get("unfollow_artist"):
        bits.append("unfollowed them")
    sentence = f"You {', '.join(bits)}." if bits else "You have not listened to this artist yet."
    return {**rel, "sentence": sentence}


def admin_rows(versions: Sequence[ModelVersion]) -> tuple[list[str], list[dict[str, Any]]]:
    """The key-metric columns present in any version, and one row per version."""
    present = {k for v in versions for k in v.metrics}
    columns = [m for m in KEY_METRICS if m in present]
    rows = []
    for v in versions:
        rows.append(
            {
                "v": v,
                "key": [v.metrics.get(m) for m in columns],
                "rest": sorted((k, val) for k, val in v.metrics.items() if k not in columns),
                "snapshot": when(v.snapshot_ms),
                "started": when(v.started_at_ms),
            }
        )
    return columns, rows
