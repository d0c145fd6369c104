"""One typed settings object: defaults < TOML file < ``CRATEDIG_*`` environment variables.

The TOML file is ``$CRATEDIG_CONFIG`` when set, else ``./cratedig.toml`` when it exists.
Its top-level keys are the field names of :class:`Settings`; a ``[weights]`` table
overrides single event weights. Environment variables are the upper-cased field names
with a ``CRATEDIG_`` prefix, for example ``CRATEDIG_DATABASE_URL`` or
``CRATEDIG_API_KEYS`` (comma-separated).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cratedig.events import DEFAULT_WEIGHTS, EVENT_TYPES
from cratedig.exceptions import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///cratedig.sqlite"


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
    """

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    api_keys: tuple[str, ...] = ()
    read_requires_key: bool = False
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    session_gap_minutes: float = 30.0
    import_chunk_rows: int = 50_000
    promotion_margin: float = 0.05
    artifacts_dir: str = "artifacts"
    online_attribution_days: int = 7


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


#: Settings that must be positive numbers, and the smallest value each accepts.
_MINIMUMS = {
    "import_chunk_rows": 1,
    "online_attribution_days": 1,
    "session_gap_minutes": 0.0,
    "promotion_margin": 0.0,
}


def _check(settings: Settings) -> Settings:
    for name, minimum in _MINIMUMS.items():
        value = getattr(settings, name)
        if value < minimum or (name == "session_gap_minutes" and value == 0):
            bound = "> 0" if name == "session_gap_minutes" else f">= {minimum}"
            raise ConfigError(f"{name}: {value!r} is not valid; expected a number {bound}.")
    return settings


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
            values[key] = (
                _merge_weights(value) if key == "weights" else _coerce(key, value, known[key])
            )
    for name, default in known.items():
        if name == "weights":
            continue
        env_value = env.get("CRATEDIG_" + name.upper())
        if env_value is not None and env_value != "":
            values[name] = _coerce("CRATEDIG_" + name.upper(), env_value, default)
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(f"{name}: unknown setting; expected one of {sorted(known)}.")
        if value is not None:
            values[name] = (
                _merge_weights(value) if name == "weights" else _coerce(name, value, known[name])
            )
    return _check(replace(defaults, **values))
