"""Experiments over HTTP: ``GET /api/v1/experiments``, ``GET /api/v1/experiments/<name>``
(the report as JSON) and the admin page ``/admin/experiments`` (live state).

Reads follow the API's one policy (:func:`cratedig.serving.auth.requires_key`). An
analysis reads the store's impressions and events, so each experiment's report is kept
for ``REPORT_TTL_SECONDS`` per worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from flask import Blueprint, current_app, render_template

from cratedig.experiments import manage
from cratedig.experiments.analysis import analyse
from cratedig.experiments.report import to_json
from cratedig.serving.auth import requires_key
from cratedig.serving.http import check_id, service

bp = Blueprint("experiments", __name__)

REPORT_TTL_SECONDS = 30.0
_reports: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def _report_json(name: str) -> str:
    now = time.monotonic()
    cached = _reports.get(name)
    if cached is not None and now - cached[0] < REPORT_TTL_SECONDS:
        return cached[1]
    engine = service().engine
    exp = manage.load(engine, name)  # NotFoundError -> 404 envelope
    if exp.started_at_ms is None:
        text = orjson.dumps({"experiment": exp.as_dict(), "decision": None}).decode()
    else:
        # no bootstrap intervals in a request: at 50,000 users per arm each costs about
        # 5 CPU seconds (`cratedig experiment report` computes them)
        text = to_json(analyse(engine, exp, bootstrap_resamples=0))
    with _lock:
        _reports[name] = (now, text)
    return text


@bp.get("/api/v1/experiments")
@requires_key(write=False)
def experiments_list() -> Any:
    """Every experiment's design and state, newest first."""
    exps = manage.load_all(service().engine)
    body = orjson.dumps({"experiments": [e.as_dict() for e in exps]})
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/api/v1/experiments/<name>")
@requires_key(write=False)
def experiment_report(name: str) -> Any:
    """One experiment's report: SRM, metrics, lifts, sequential path, decision."""
    text = _report_json(check_id("name", name))
    return current_app.response_class(text, mimetype="application/json")


@bp.get("/admin/experiments")
@requires_key(write=False)
def admin_experiments() -> Any:
    """The experiments with their live state (running ones with their users so far)."""
    rows = []
    for exp in manage.load_all(service().engine):
        users = None
        decision = (exp.conclusion or {}).get("text")
        if exp.state == "running":
            report = orjson.loads(_report_json(exp.name))
            users = report.get("users")
            decision = (report.get("decision") or {}).get("text")
        rows.append({"exp": exp, "users": users, "decision": decision})
    return render_template("experiments.html", rows=rows)
