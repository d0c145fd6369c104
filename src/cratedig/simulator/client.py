"""The small client the traffic simulator talks through: HTTP, or Flask's test client.

The simulator never imports :mod:`cratedig.serving`; it only needs something with
``get(path, params)`` and ``post(path, body)`` answering a :class:`Reply`, and,
optionally, ``set_time(ms)``, called with the simulated time of each request. Two are
here: :class:`HttpClient` (``requests`` with a keep-alive session, against a running
service, which keeps its own clock) and :class:`TestClientAdapter` (around any object
shaped like Flask's test client, which the command layer builds with
``cratedig.serving.create_app``): in process, it sets cratedig's clock
(:func:`cratedig.clock.set_simulated_ms`) to the simulated time of each request, so
the service stamps the lists it serves (impressions) and the feedback it stores with
the same simulated times as the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cratedig.clock import set_simulated_ms
from cratedig.exceptions import CratedigError


class ServiceError(CratedigError):
    """The service answered a request the simulator cannot go on without with an error.

    Parameters
    ----------
    method, path
        The request.
    status
        The HTTP status answered (0 when the service could not be reached).
    detail
        The answer's error message, or why the service was unreachable.
    """

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        self.method, self.path, self.status, self.detail = method, path, status, detail
        super().__init__(
            f"{method} {path}: the service answered {status} ({detail}); expected a 2xx answer."
        )


@dataclass(frozen=True)
class Reply:
    """A service's answer: the HTTP status and the decoded JSON body (``None`` if none)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_message(self) -> str:
        """The message of cratedig's error envelope, or the body as text."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message", ""))
        return str(self.body)[:200]


class TrafficClient(Protocol):
    """What the simulator needs of a client (paths are absolute, e.g. ``/api/v1/events``)."""

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply: ...

    def post(self, path: str, body: Any) -> Reply: ...


def set_time(client: Any, ms: int | None) -> None:
    """Tell ``client`` the simulated time of its next requests, when it wants to know
    (its ``set_time``; clients without one are left alone)."""
    setter = getattr(client, "set_time", None)
    if setter is not None:
        setter(ms)


class HttpClient:
    """A client of a running cratedig service over HTTP.

    Parameters
    ----------
    base_url
        The service's root, e.g. ``http://127.0.0.1:8000``.
    api_key
        Sent as ``X-API-Key`` on every request (writes need one; reads may).
    timeout
        Seconds to wait for each answer.
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._requests = requests
        self._session = requests.Session()
        if api_key:
            self._session.headers["X-API-Key"] = api_key

    def _reply(self, method: str, path: str, **kwargs: Any) -> Reply:
        try:
            response = self._session.request(
                method, self.base_url + path, timeout=self.timeout, **kwargs
            )
        except self._requests.RequestException as exc:
            raise ServiceError(method, path, 0, f"unreachable: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Reply(response.status_code, body)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self._reply("GET", path, params=dict(params or {}))

    def post(self, path: str, body: Any) -> Reply:
        return self._reply("POST", path, json=body)

    def set_time(self, ms: int | None) -> None:
        """Nothing: a service over HTTP stamps what it stores with its own clock."""

    def close(self) -> None:
        """Close the keep-alive connections."""
        self._session.close()


class TestClientAdapter:
    """Wraps Flask's test client (or anything with its ``get``/``post``) as a client.

    Parameters
    ----------
    test_client
        ``app.test_client()``; its responses need ``status_code`` and ``get_json()``.
    api_key
        Sent as ``X-API-Key`` on every request.
    drive_clock
        Set cratedig's clock (for the whole process) to the simulated time of each
        request (:meth:`set_time`), so that impressions and feedback carry simulated
        times; the simulator puts the wall clock back at the end of a run.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self, test_client: Any, api_key: str | None = None, drive_clock: bool = True
    ) -> None:
        self.test_client = test_client
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.drive_clock = drive_clock

    def set_time(self, ms: int | None) -> None:
        """The simulated time of the next requests (``None``: the wall clock again)."""
        if self.drive_clock:
            set_simulated_ms(ms)

    @staticmethod
    def _reply(response: Any) -> Reply:
        return Reply(int(response.status_code), response.get_json(silent=True))

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self._reply(
            self.test_client.get(path, query_string=dict(params or {}), headers=self.headers)
        )

    def post(self, path: str, body: Any) -> Reply:
        return self._reply(self.test_client.post(path, json=body, headers=self.headers))
