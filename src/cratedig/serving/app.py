"""The Flask application factory (``create_app``, as in the Flask tutorial).

``gunicorn "cratedig.serving:create_app()"`` serves the store named by
``CRATEDIG_DATABASE_URL`` (or the TOML config). Tests pass a mapping::

    create_app({"DATABASE_URL": url, "API_KEYS": ("k1",), "TESTING": True})

Recognised keys: ``SETTINGS`` (a whole :class:`~cratedig.config.Settings`),
``DATABASE_URL``, ``REDIS_URL``, ``API_KEYS``, ``READ_REQUIRES_KEY``, ``ENGINE`` (an
existing engine), ``CACHE_TTL_SECONDS`` and ``SECRET_KEY`` (signs the page tokens;
default ``$CRATEDIG_SECRET_KEY``, else derived from the settings so that every
worker agrees). Any other key goes to ``app.config``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface

from cratedig.config import Settings, load_settings
from cratedig.serving.errors import register_error_handlers
from cratedig.serving.service import Service
from cratedig.store import ensure_schema, make_engine

_SETTING_KEYS = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "API_KEYS": "api_keys",
    "READ_REQUIRES_KEY": "read_requires_key",
    "ARTIFACTS_DIR": "artifacts_dir",
}


def _settings(config: Mapping[str, Any]) -> Settings:
    if config.get("SETTINGS") is not None:
        return config["SETTINGS"]
    overrides = {field: config[key] for key, field in _SETTING_KEYS.items() if key in config}
    return load_settings(**overrides)


class NoSessions(SecureCookieSessionInterface):
    """cratedig keeps no Flask session (page actions carry their own HMAC token).

    With a secret key set, Flask would build a signing serializer for the session
    cookie on every request (~40 us); a null session costs nothing.
    """

    def open_session(self, app: Flask, request: Request) -> None:
        return None


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, store, caches, blueprints and error envelope."""
    from cratedig.serving import api, experiment_views, pages

    config = dict(test_config or {})
    settings = _settings(config)
    engine = config.pop("ENGINE", None) or make_engine(settings.database_url)
    ensure_schema(engine)  # refuses an outdated store, naming `cratedig db upgrade`
    app = Flask(__name__)
    secret = (
        config.pop("SECRET_KEY", None)
        or os.environ.get("CRATEDIG_SECRET_KEY")
        or hashlib.sha256(
            (
                "cratedig-ui\x1f" + settings.database_url + "\x1f" + ",".join(settings.api_keys)
            ).encode("utf-8")
        ).hexdigest()
    )
    app.config.from_mapping(SECRET_KEY=secret, JSON_SORT_KEYS=False)
    ttl = float(config.pop("CACHE_TTL_SECONDS", 60.0))
    for key in ("SETTINGS", *_SETTING_KEYS):
        config.pop(key, None)
    app.config.update(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = NoSessions()
    app.extensions["cratedig"] = Service(engine, settings, cache_ttl_seconds=ttl)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(experiment_views.bp)
    register_error_handlers(app)

    @app.get("/openapi.json")
    def openapi_alias() -> Any:
        return api.openapi()

    return app
