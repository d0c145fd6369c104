"""The Flask application factory (``create_app``, as in the Flask tutorial).

``gunicorn "cratedig.serving:create_app()"`` serves the store named by
``CRATEDIG_DATABASE_URL`` (or the TOML config). Tests pass a mapping::

    create_app({"DATABASE_URL": url, "API_KEYS": ("k1",), "TESTING": True})

Recognised keys: ``SETTINGS`` (a whole :class:`~cratedig.config.Settings`),
``DATABASE_URL``, ``REDIS_URL``, ``API_KEYS``, ``READ_REQUIRES_KEY``, ``ENGINE`` (an
existing engine), ``CACHE_TTL_SECONDS``, ``HOT_PATH`` (``False`` turns off the
cached lists' fast path, :mod:`cratedig.serving.hot_path`) and ``SECRET_KEY`` (signs
the page sessions; default ``Settings.secret_key`` (``$CRATEDIG_SECRET_KEY``), else
the random secret ``cratedig init-db`` keeps in the store, generated here if it is
missing). Any other key goes to ``app.config``.

Every response carries the security headers of :data:`SECURITY_HEADERS` (and a
Content-Security-Policy that fits the pages: nothing but this site's own scripts,
styles and requests), added by the :class:`SecurityHeaders` middleware; request
bodies over ``Settings.max_request_bytes`` get 413 before they are read.
``docs/security.md`` describes the whole policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from cratedig.config import Settings, load_settings
from cratedig.serving.errors import register_error_handlers
from cratedig.serving.hot_path import HotLists
from cratedig.serving.http import IdConverter
from cratedig.serving.limits import Guard
from cratedig.serving.service import Service
from cratedig.store import ensure_schema, make_engine
from cratedig.store.secrets import stored_secret

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


#: Headers on every response.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: The pages load only this site's own script, stylesheet and JSON endpoints.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
#: The analytics report is one self-contained file: inline styles, data: images, no script.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


#: The analytics report's path: it gets :data:`REPORT_CSP` instead of :data:`PAGE_CSP`.
REPORT_PATH = "/admin/report"


class SecurityHeaders:
    """WSGI middleware: :data:`SECURITY_HEADERS` and a Content-Security-Policy
    (:data:`REPORT_CSP` on :data:`REPORT_PATH`, else :data:`PAGE_CSP`) on every response,
    where the response does not set the header itself.

    Added to the header list at ``start_response`` (a list extend per request):
    werkzeug's ``Headers.setdefault`` in an ``after_request`` hook validated and scanned
    the headers four times, ~35 us of a ~150 us list request.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers = self._keyed(PAGE_CSP)
        self.report_headers = self._keyed(REPORT_CSP)

    @staticmethod
    def _keyed(csp: str) -> list[tuple[str, tuple[str, str]]]:
        """The headers with their lower-cased names (compared case-blind), once."""
        found = [*SECURITY_HEADERS.items(), ("Content-Security-Policy", csp)]
        return [(name.lower(), (name, value)) for name, value in found]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        extra = self.report_headers if environ.get("PATH_INFO") == REPORT_PATH else self.headers

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(h for lower, h in extra if lower not in present)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class NoSessions(SecureCookieSessionInterface):
    """cratedig keeps no Flask session (page actions carry their own HMAC token).

    With a secret key set, Flask would build a signing serializer for the session
    cookie on every request (~40 us); a null session costs nothing.
    """

    def open_session(self, app: Flask, request: Request) -> None:
        return None


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, store, caches, blueprints and error envelope."""
    from cratedig.serving import api, experiment_views, online_views, pages, quality_views

    config = dict(test_config or {})
    settings = _settings(config)
    engine = config.pop("ENGINE", None) or make_engine(settings.database_url)
    ensure_schema(engine)  # refuses an outdated store, naming `cratedig db upgrade`
    app = Flask(__name__)
    secret = config.pop("SECRET_KEY", None) or settings.secret_key or stored_secret(engine)
    app.config.from_mapping(
        SECRET_KEY=secret, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=settings.max_request_bytes
    )
    ttl = float(config.pop("CACHE_TTL_SECONDS", 60.0))
    hot_path = bool(config.pop("HOT_PATH", True))
    for key in ("SETTINGS", *_SETTING_KEYS):
        config.pop(key, None)
    app.config.update(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = NoSessions()
    app.extensions["cratedig"] = Service(engine, settings, cache_ttl_seconds=ttl)
    app.extensions["cratedig_guard"] = Guard(settings)
    if hot_path:
        hot = HotLists(app.wsgi_app, app.extensions["cratedig"])
        app.wsgi_app = hot  # type: ignore[method-assign]
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.url_map.converters["id"] = IdConverter
    app.url_map.merge_slashes = False  # "a//b" is an id of its own
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(online_views.bp)
    app.register_blueprint(quality_views.bp)
    app.register_blueprint(experiment_views.bp)
    register_error_handlers(app)

    @app.get("/openapi.json")
    def openapi_alias() -> Any:
        return api.openapi()

    return app
