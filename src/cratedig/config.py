"""One typed settings object: defaults < TOML file < ``CRATEDIG_*`` environment variables.

The TOML file is ``$CRATEDIG_CONFIG`` when set, else ``./cratedig.toml`` when it exists.
Its top-level keys are the field names of :class:`Settings`; a ``[weights]`` table
overrides single event weights and an ``[engagement]`` table the other options of the
engagement matrix (:class:`EngagementSettings`). Environment variables are the
upper-cased field names with a ``CRATEDIG_`` prefix, for example
``CRATEDIG_DATABASE_URL`` or ``CRATEDIG_API_KEYS`` (comma-separated); an
``[engagement]`` option is ``CRATEDIG_ENGAGEMENT_<OPTION>``, for example
``CRATEDIG_ENGAGEMENT_HALF_LIFE_DAYS=90`` (``none`` clears an optional one).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_type_hints

from cratedig.events import DEFAULT_WEIGHTS, EVENT_TYPES
from cratedig.exceptions import ConfigError, ValidationError
from cratedig.settings_engagement import (
    EngagementSettings,
)

DEFAULT_DATABASE_URL = "sqlite:///cratedig.sqlite"
INGEST_MODES: tuple[str, ...] = ("sync", "stream")
#: The largest list length (``k``) the JSON API accepts; ``max_k`` may only lower it.
MAX_K = 100


@dataclass(frozen=True)
class Settings:
    """Every setting of cratedig, with its documented default.

    Attributes
    ----------
    database_url
        SQLAlchemy URL of the store. SQLite file by default; a ``postgresql://`` URL
        uses PostgreSQL (through psycopg 3).
    redis_url
        When set, lists are cached in Redis instead of in-process.
    api_keys
        Keys accepted for writes to the JSON API.
    read_requires_key
        Whether reads need an API key too.
    weights
        Weight of one event of each type in the engagement matrix.
    engagement
        The other options of the engagement matrix (the ``[engagement]`` table).
    session_gap_minutes
        Idle time that ends a visit (session).
    import_chunk_rows
        Rows per transaction when importing.
    promotion_margin
        A new model version is not promoted when its NDCG@10 is lower than the
        current one's by more than this fraction.
    online_attribution_days
        Attribution window of online measurement (days): an event sent without a
        source is credited to the last list that showed its artist to the user at
        most this long before (view-through); see ``docs/online.md``.
    artifacts_dir
        Folder of the trained models' files (one subfolder per model version).
    secret_key
        Signs the page sessions (``docs/security.md``). ``None``: the random secret that
        ``cratedig init-db`` generated and keeps in the store (``serving_state``).
    pages_demo_mode
        ``True``: the pages hand every visitor a session for any listener they open, so
        page buttons post events and feedback without a login (``make demo`` only; never
        on a public site). ``False``: page writes need a session cookie the site issued.
    session_max_age_seconds
        How long a page session (cookie or page token) stays valid.
    max_request_bytes
        Largest request body accepted (Flask's ``MAX_CONTENT_LENGTH``); larger: 413.
    rate_limit_api_writes
        Writes per API key (``limits``/Flask-Limiter syntax, ``;``-separated; empty: no limit).
    rate_limit_page_writes
        Page writes (``/ui/*``) per client address.
    rate_limit_failed_auth
        Failed credential attempts per client address before it gets 429 everywhere.
    rate_limit_unknown_lists
        List requests for users the store does not know (not logged), per client address.
    trusted_proxies
        How many reverse proxies in front set ``X-Forwarded-For`` (0: use the peer
        address); rate limits count per client address.
    future_tolerance_seconds
        How far past the wall clock an event's ``occurred_at`` may be (clock skew) before
        an import quarantines it and the API rejects it; default one day.
    max_k
        The largest ``k`` (list length) served, at most :data:`MAX_K`. Training
        precomputes this many items per user list and cold-start list, so every
        allowed ``k`` gets a full list; a version precomputed shorter answers a larger
        ``k`` with a 400 naming its maximum.
    ingest_mode
        ``"sync"`` (default): ``POST /api/v1/events`` stores the events in the request.
        ``"stream"``: it validates them and appends them to the event stream
        (``stream_url``), answering once the stream holds them; ``cratedig consume``
        workers store them (``docs/stream.md``).
    stream_url
        The event stream: ``redis://host:port/db`` (a Redis Stream) or
        ``kafka://host:port[,host:port]`` (consumer adapter, untested here). ``None``:
        ``redis_url``.
    stream_name, stream_group
        The Redis Stream key (Kafka: topic) and the consumer group of the workers.
    stream_claim_idle_seconds
        A consumer takes over another consumer's pending entries (``XAUTOCLAIM``) once
        they have been pending this long: a consumer that died holds them until then.
    live_rescoring
        ``True``: a user with events since the served version's snapshot gets "Artists
        You May Like" scored afresh by the version's model from their current history
        (``docs/models.md``); ``False``: the precomputed list, re-ranked by recent
        activity only (for example to compare versions whose artifacts differ).
    """

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    api_keys: tuple[str, ...] = ()
    read_requires_key: bool = False
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    engagement: EngagementSettings = field(default_factory=EngagementSettings)
    session_gap_minutes: float = 30.0
    import_chunk_rows: int = 50_000
    promotion_margin: float = 0.05
    artifacts_dir: str = "artifacts"
    online_attribution_days: int = 7
    secret_key: str | None = None
    pages_demo_mode: bool = False
    session_max_age_seconds: int = 86_400
    max_request_bytes: int = 10 * 1024 * 1024
    rate_limit_api_writes: str = "1000/second"
    rate_limit_page_writes: str = "120/minute"
    rate_limit_failed_auth: str = "20/minute"
    rate_limit_unknown_lists: str = "60/minute"
    trusted_proxies: int = 0
    future_tolerance_seconds: float = 86_400.0
    max_k: int = MAX_K
    live_rescoring: bool = True
    ingest_mode: str = "sync"
    stream_url: str | None = None
    stream_name: str = "cratedig:events"
    stream_group: str = "cratedig-consumers"
    stream_claim_idle_seconds: float = 60.0


_KIND_WORDS = {
    "bool": "true or false",
    "tuple": "list of strings (comma-separated in the environment)",
    "int": "whole number",
    "float": "number",
}


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(value)
                return value.lower() in {"1", "true", "yes"}
            return bool(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        kind = _KIND_WORDS.get(type(default).__name__, type(default).__name__)
        raise ConfigError(f"{name}: {value!r} is not valid; expected a {kind}.") from None
    return value if value is None or isinstance(value, str) else str(value)


def _merge_weights(weights: Mapping[str, Any]) -> dict[str, float]:
    merged = dict(DEFAULT_WEIGHTS)
    for key, value in weights.items():
        if key not in EVENT_TYPES:
            raise ConfigError(
                f"weights.{key}: unknown event type; expected one of: {', '.join(EVENT_TYPES)}."
            )
        try:
            merged[key] = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"weights.{key}: {value!r} is not valid; expected a number."
            ) from None
    return merged


#: Values of an optional ``[engagement]`` option (TOML has no null) that mean ``None``.
_NONE_WORDS = {"none", "null", "off", ""}
_ENV_ENGAGEMENT = "CRATEDIG_ENGAGEMENT_"


def _engagement_value(value: Any, hint: Any, where: str) -> Any:
    """One ``[engagement]`` option from TOML or the environment, coerced to its type."""
    kinds = [k for k in get_args(hint) if k is not type(None)] if get_args(hint) else [hint]
    optional = type(None) in get_args(hint)
    if optional and isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
        return None
    kind = kinds[0]
    if kind in (bool, int, float):
        return _coerce(where, value, kind())
    if not isinstance(value, str):  # a Literal: the dataclass checks the choice
        raise ConfigError(f"{where}: {value!r} is not valid; expected a string.")
    return value.strip()


def _engagement(
    current: EngagementSettings, values: Mapping[str, Any], source: str
) -> EngagementSettings:
    """``current`` with the options in ``values`` replaced, validated.

    ``source`` prefixes the option names in errors: ``"engagement."`` (TOML, overrides)
    or ``"CRATEDIG_ENGAGEMENT_"`` (the environment; names upper-cased).
    """

    def where(key: str) -> str:
        return source + (key.upper() if source == _ENV_ENGAGEMENT else key)

    hints = get_type_hints(EngagementSettings)
    changed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(
                f"{where(key)}: unknown engagement option; expected one of: {', '.join(hints)}."
            )
        changed[key] = _engagement_value(value, hints[key], where(key))
    try:
        return replace(current, **changed)
    except ValidationError as exc:
        raise ConfigError(
            f"{where(exc.field)}: {exc.value!r} is not valid; expected {exc.expected}."
        ) from None


def _engagement_env(env: Mapping[str, str]) -> dict[str, str]:
    """The ``CRATEDIG_ENGAGEMENT_*`` variables, by option name."""
    return {
        key[len(_ENV_ENGAGEMENT) :].lower(): value
        for key, value in env.items()
        if key.startswith(_ENV_ENGAGEMENT) and value != ""
    }


#: Settings that must be positive numbers, and the smallest value each accepts.
_MINIMUMS = {
    "future_tolerance_seconds": 0.0,
    "import_chunk_rows": 1,
    "online_attribution_days": 1,
    "session_gap_minutes": 0.0,
    "promotion_margin": 0.0,
    "session_max_age_seconds": 1,
    "max_request_bytes": 1,
    "trusted_proxies": 0,
    "stream_claim_idle_seconds": 0.0,
}


def _check(settings: Settings) -> Settings:
    if settings.ingest_mode not in INGEST_MODES:
        raise ConfigError(
            f"ingest_mode: {settings.ingest_mode!r} is not valid; expected one of "
            + ", ".join(INGEST_MODES)
            + "."
        )
    if settings.ingest_mode == "stream" and not (settings.stream_url or settings.redis_url):
        raise ConfigError(
            "stream_url: None is not valid with ingest_mode = 'stream'; expected a "
            "redis:// (or kafka://) URL in stream_url or redis_url."
        )
    for name in ("stream_name", "stream_group"):
        if not getattr(settings, name).strip():
            raise ConfigError(f"{name}: '' is not valid; expected a non-empty name.")
    if not 1 <= settings.max_k <= MAX_K:
        raise ConfigError(
            f"max_k: {settings.max_k!r} is not valid; expected a whole number in 1..{MAX_K}."
        )
    for name, minimum in _MINIMUMS.items():
        value = getattr(settings, name)
        if value < minimum or (name == "session_gap_minutes" and value == 0):
            bound = "> 0" if name == "session_gap_minutes" else f">= {minimum}"
            raise ConfigError(f"{name}: {value!r} is not valid; expected a number {bound}.")
    return settings


#: Settings read as TOML tables rather than single values (not from one variable).
_TABLES = ("weights", "engagement")


def _value(name: str, value: Any, default: Any, engagement: EngagementSettings) -> Any:
    """One setting from the TOML file or an override, coerced and checked.

    An ``engagement`` table replaces single options of ``engagement``.
    """
    if name == "weights":
        if not isinstance(value, Mapping):
            raise ConfigError(f"weights: {value!r} is not valid; expected a table of numbers.")
        return _merge_weights(value)
    if name == "engagement":
        if isinstance(value, EngagementSettings):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"engagement: {value!r} is not valid; expected a table.")
        return _engagement(engagement, value, "engagement.")
    return _coerce(name, value, default)


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment and overrides.

    Parameters
    ----------
    config_file
        A TOML file; defaults to ``$CRATEDIG_CONFIG`` or ``./cratedig.toml`` if present.
    env
        The environment to read ``CRATEDIG_*`` variables from (``os.environ`` by default).
    **overrides
        Final values (from command-line options), ignored when ``None``.
    """
    env = os.environ if env is None else env
    defaults = Settings()
    values: dict[str, Any] = {}
    path = config_file or env.get("CRATEDIG_CONFIG")
    if path is None and Path("cratedig.toml").exists():
        path = "cratedig.toml"
    known = {f.name: getattr(defaults, f.name) for f in fields(Settings)}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
        for key, value in data.items():
            if key not in known:
                raise ConfigError(
                    f"{key}: unknown setting in {path}; expected one of {sorted(known)}."
                )
            values[key] = _value(key, value, known[key], defaults.engagement)
    for name, default in known.items():
        if name in _TABLES:
            continue
        env_value = env.get("CRATEDIG_" + name.upper())
        if env_value is not None and env_value != "":
            values[name] = _coerce("CRATEDIG_" + name.upper(), env_value, default)
    engagement_env = _engagement_env(env)
    if engagement_env:
        current = values.get("engagement", defaults.engagement)
        values["engagement"] = _engagement(current, engagement_env, _ENV_ENGAGEMENT)
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(f"{name}: unknown setting; expected one of {sorted(known)}.")
        if value is not None:
            base = values.get("engagement", defaults.engagement)
            values[name] = _value(name, value, known[name], base)
    return _check(replace(defaults, **values))
