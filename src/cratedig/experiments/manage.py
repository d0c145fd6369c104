"""The life of an experiment in the store: create, start, ramp, stop, conclude.

States: ``draft`` (created) -> ``running`` (serving assigns users) -> ``stopped``
(serving no longer assigns; the data stays) -> ``concluded`` (the decision recorded,
and with ``promote_winner`` the winning version promoted through the registry).

Layers: experiments in one layer never share a user. When an experiment starts it takes
the first free range of ``layer_share`` of its layer's 10,000 buckets (ranges of running
experiments are taken; stopped ones free theirs); experiments in different layers are
independent. By default every experiment is in the layer ``default``, so two
experiments on the same list are mutually exclusive unless placed in different layers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from sqlalchemy import Engine

from cratedig.clock import now_ms
from cratedig.exceptions import NotFoundError, ValidationError
from cratedig.experiments.assignment import N_BUCKETS, bucket_ranges
from cratedig.experiments.spec import LIST_SCOPES, Experiment, Variant, parse_variant
from cratedig.pipeline import registry
from cratedig.store import experiments as sql

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
METRICS = ("ctr", "follow_through", "listening", "rating", "retention", "subscription")


def load(engine: Engine, name: str) -> Experiment:
    """One experiment.

    Raises
    ------
    NotFoundError
        When no experiment has that name.
    """
    with engine.connect() as conn:
        row = sql.get_experiment(conn, name)
    if row is None:
        raise NotFoundError("experiment", name)
    return Experiment.from_row(row)


def load_all(engine: Engine, states: Sequence[str] | None = None) -> list[Experiment]:
    """Every experiment (or those in ``states``), newest first."""
    with engine.connect() as conn:
        return [Experiment.from_row(r) for r in sql.list_experiments(conn, states)]


def _check_versions(engine: Engine, variants: Sequence[Variant]) -> None:
    for v in variants:
        for version_id in v.versions:
            if version_id == "active":
                continue
            version = registry.get_version(engine, version_id)  # NotFoundError names it
            if version.status not in ("ready", "rejected"):
                raise ValidationError(
                    "--variant", v.spec, f"a ready version ({version_id} is {version.status})"
                )


def create(
    engine: Engine,
    name: str,
    variants: Sequence[str],
    weights: Sequence[float] | None = None,
    list_scope: str = "may_like",
    primary: str = "ctr",
    guardrails: Sequence[str] = (),
    layer: str = "default",
    layer_share: float = 1.0,
    salt: str | None = None,
) -> Experiment:
    """Store a new experiment in ``draft`` (``salt`` defaults to the name and the time).

    Raises
    ------
    ValidationError
        For a bad name, variant, weight, list, metric or an existing name.
    NotFoundError
        For a variant naming an unknown version.
    """
    if not NAME_PATTERN.match(name or ""):
        raise ValidationError("name", name, "1-48 letters, digits, '_', '.' or '-'")
    parsed = [parse_variant(v) for v in variants]
    if len(parsed) < 2 or len({v.name for v in parsed}) != len(parsed):
        raise ValidationError("--variant", list(variants), "two or more distinct variant names")
    w = [1.0] * len(parsed) if not weights else [float(x) for x in weights]
    if len(w) != len(parsed) or any(x <= 0 for x in w):
        raise ValidationError("--weights", list(w), f"{len(parsed)} positive numbers")
    if list_scope not in LIST_SCOPES:
        raise ValidationError("--list", list_scope, "one of " + ", ".join(LIST_SCOPES))
    for metric in (primary, *guardrails):
        if metric not in METRICS:
            raise ValidationError("metric", metric, "one of " + ", ".join(METRICS))
    if not 0 < layer_share <= 1:
        raise ValidationError("--layer-share", layer_share, "a number in (0, 1]")
    if any(v.gems for v in parsed) and "hidden_gems" not in LIST_SCOPES[list_scope]:
        raise ValidationError(
            "--list", list_scope, "hidden_gems or all (a variant sets the Hidden Gems placement)"
        )
    if any(v.interleave_with for v in parsed) and len(parsed) != 2:
        raise ValidationError("--variant", list(variants), "an interleaving arm and one other arm")
    _check_versions(engine, parsed)
    at = now_ms()
    with engine.begin() as conn:
        if sql.get_experiment(conn, name) is not None:
            raise ValidationError("name", name, "a name no experiment has yet")
        sql.insert_experiment(
            conn,
            {
                "name": name,
                "salt": salt or f"{name}:{at}",
                "state": "draft",
                "layer": layer,
                "layer_share": layer_share,
                "list_scope": list_scope,
                "variants": json.dumps([{"name": v.name, "spec": v.spec} for v in parsed]),
                "weights": json.dumps(w),
                "ramp": 1.0,
                "primary_metric": primary,
                "guardrails": json.dumps(list(guardrails)),
                "created_at_ms": at,
            },
        )
    return load(engine, name)


def _free_range(taken: list[tuple[int, int]], width: int) -> tuple[int, int] | None:
    cursor = 0
    for lo, hi in sorted(taken):
        if lo - cursor >= width:
            return cursor, cursor + width
        cursor = max(cursor, hi)
    return (cursor, cursor + width) if N_BUCKETS - cursor >= width else None


def _require(exp: Experiment, states: Sequence[str], action: str) -> None:
    if exp.state not in states:
        raise ValidationError(
            "state", exp.state, f"{' or '.join(states)} to {action} experiment {exp.name!r}"
        )


def start(
    engine: Engine, name: str, ramp: float | None = None, at_ms: int | None = None
) -> Experiment:
    """Start assigning users (from ``draft`` only: a restart would need a new salt).

    ``at_ms`` is the recorded start (default now; a simulation passes its own clock).
    """
    exp = load(engine, name)
    _require(exp, ["draft"], "start")
    if ramp is not None:
        bucket_ranges(exp.weights, ramp)  # validates the ramp
    width = round(exp.layer_share * N_BUCKETS)
    with engine.begin() as conn:
        taken = [
            (int(r["layer_start"]), int(r["layer_stop"]))
            for r in sql.list_experiments(conn, ["running"])
            if r["layer"] == exp.layer and r["layer_start"] is not None
        ]
        free = _free_range(taken, width)
        if free is None:
            raise ValidationError(
                "--layer",
                exp.layer,
                f"a layer with {exp.layer_share:.0%} of its users free (running experiments "
                "take them): stop one, or create the experiment in another layer",
            )
        values: dict[str, object] = {"state": "running"}
        values["started_at_ms"] = now_ms() if at_ms is None else at_ms
        values.update(layer_start=free[0], layer_stop=free[1])
        if ramp is not None:
            values["ramp"] = ramp
        sql.update_experiment(conn, name, **values)
    return load(engine, name)


def ramp(engine: Engine, name: str, percent: float) -> Experiment:
    """Set the share of each arm's slot enrolled; raising it never reassigns anyone."""
    exp = load(engine, name)
    _require(exp, ["draft", "running"], "ramp")
    fraction = percent / 100.0
    bucket_ranges(exp.weights, fraction)  # raises naming "ramp"
    if exp.state == "running" and fraction < exp.ramp:
        raise ValidationError(
            "PERCENT", percent, f"at least {exp.ramp * 100:g} (ramping down un-enrols users)"
        )
    with engine.begin() as conn:
        sql.update_experiment(conn, name, ramp=fraction)
    return load(engine, name)


def stop(engine: Engine, name: str, at_ms: int | None = None) -> Experiment:
    """Stop assigning users; its layer range is freed (``at_ms``: as in :func:`start`)."""
    exp = load(engine, name)
    _require(exp, ["running"], "stop")
    with engine.begin() as conn:
        sql.update_experiment(
            conn, name, state="stopped", stopped_at_ms=now_ms() if at_ms is None else at_ms
        )
    return load(engine, name)


def winner_version(engine: Engine, exp: Experiment, winner: str) -> str | None:
    """The version id a winning arm serves (``None`` when it serves a serving option)."""
    v = exp.variant(winner)
    if v.holdout or not v.personalise:
        return None
    if v.version_id == "active":
        active = registry.active_version(engine)
        return None if active is None else active.version_id
    return v.version_id


def record_conclusion(
    engine: Engine, name: str, conclusion: dict[str, object], promote_winner: bool
) -> tuple[Experiment, registry.ModelVersion | None]:
    """Store the conclusion; with ``promote_winner`` promote the winner's version.

    ``conclusion["winner"]`` names the winning arm (``None``: no winner). A running
    experiment is stopped first.
    """
    exp = load(engine, name)
    _require(exp, ["running", "stopped"], "conclude")
    promoted = None
    winner = conclusion.get("winner")
    if promote_winner and isinstance(conclusion.get("winner_version"), str):
        version_id = str(conclusion["winner_version"])  # an interleaving's winning team
        promoted = registry.promote(engine, version_id)
        conclusion = {**conclusion, "promoted": version_id}
    elif promote_winner and isinstance(winner, str):
        winning = winner_version(engine, exp, winner)
        if winning is None:
            raise ValidationError(
                "--promote-winner", winner, "a winning arm that serves a model version"
            )
        promoted = registry.promote(engine, winning)
        conclusion = {**conclusion, "promoted": winning}
    at = now_ms()
    with engine.begin() as conn:
        values: dict[str, object] = {
            "state": "concluded",
            "concluded_at_ms": at,
            "conclusion": json.dumps(conclusion),
        }
        if exp.stopped_at_ms is None:
            values["stopped_at_ms"] = at
        sql.update_experiment(conn, name, **values)
    return load(engine, name), promoted
