"""The engagement rules as data: one definition, rendered for each engine.

The weight of one stored event row (``count * weight * play_factor * decay``, see
:mod:`cratedig.matrix.weights`) is written here once, as a tiny expression tree built
from an :class:`~cratedig.matrix.weights.EngagementConfig`. Renderers turn the tree into
an engine's own expressions:

* :func:`to_sql` gives SQLAlchemy Core (SQLite, PostgreSQL; the matrix, recent activity
  and the analytics profile use it through :mod:`cratedig.matrix.weights`);
* ``cratedig.spark.render.to_column`` gives a PySpark ``Column``.

A renderer only maps node kinds (a column, a number, a comparison, ``CASE``, arithmetic,
a power) to the engine's; it knows nothing of plays, skips or decay, so the two engines
cannot drift apart. :func:`aggregation_plan` is the same idea for the unfollow policy:
which event types are summed directly, whether follows count only after the pair's last
unfollow, and whether the follow state is read at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cratedig.events import EventType

if TYPE_CHECKING:
    from cratedig.matrix.weights import EngagementConfig


# ---------------------------------------------------------------------------- the nodes
@dataclass(frozen=True)
class Col:
    """A column of ``user_events`` by name."""

    name: str


@dataclass(frozen=True)
class Num:
    """A float literal."""

    value: float


@dataclass(frozen=True)
class Text:
    """A string literal (compared with ``event_type``)."""

    value: str


@dataclass(frozen=True)
class IsNull:
    arg: Expr


@dataclass(frozen=True)
class Cmp:
    """A comparison: ``op`` is one of ``"=="``, ``"<"``, ``">="``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Arith:
    """Binary arithmetic: ``op`` is one of ``"*"``, ``"/"``, ``"-"``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class ToFloat:
    """Cast to a double."""

    arg: Expr


@dataclass(frozen=True)
class Pow:
    base: Expr
    exponent: Expr


@dataclass(frozen=True)
class Case:
    """The first ``(condition, value)`` whose condition holds, else ``otherwise``."""

    whens: tuple[tuple[Expr, Expr], ...]
    otherwise: Expr


Expr = Col | Num | Text | IsNull | Cmp | Arith | ToFloat | Pow | Case

# ---------------------------------------------------------------------------- the rules


def play_factor(config: EngagementConfig) -> Expr:
    """How much of a full play one ``play_track`` row is, from its ``duration_ms``.

    No duration: a full play; shorter than ``skip_ms``: ``skip_fraction``; at least
    ``full_play_ms``: 1; otherwise ``duration_ms / full_play_ms``.
    """
    duration = Col("duration_ms")
    return Case(
        (
            (IsNull(duration), Num(1.0)),
            (Cmp("<", duration, Num(config.skip_ms)), Num(config.skip_fraction)),
            (Cmp(">=", duration, Num(config.full_play_ms)), Num(1.0)),
        ),
        Arith("/", ToFloat(duration), Num(float(config.full_play_ms))),
    )


def type_weight(config: EngagementConfig, event_types: list[str]) -> Expr:
    """The per-event weight (``weight * play_factor``) for rows of the given types."""
    whens: list[tuple[Expr, Expr]] = []
    for event_type in event_types:
        is_type = Cmp("==", Col("event_type"), Text(event_type))
        weight: Expr = Num(config.weight(event_type))
        if event_type == EventType.PLAY_TRACK:
            weight = Arith("*", weight, play_factor(config))
        whens.append((is_type, weight))
    return Case(tuple(whens), Num(0.0))


def decay(config: EngagementConfig, now_ms: int) -> Expr | None:
    """``0.5 ** (age_days / half_life_days)``, or ``None`` without a half-life."""
    from cratedig.matrix.weights import DAY_MS

    if config.half_life_days is None:
        return None
    age_days = Arith(
        "/", ToFloat(Arith("-", Num(float(now_ms)), Col("occurred_at_ms"))), Num(float(DAY_MS))
    )
    return Pow(Num(0.5), Arith("/", age_days, Num(float(config.half_life_days))))


def row_weight(config: EngagementConfig, event_types: list[str], now_ms: int) -> Expr:
    """The full weight of one stored row: ``count * weight * play_factor * decay``."""
    expr: Expr = Arith("*", ToFloat(Col("count")), type_weight(config, event_types))
    factor = decay(config, now_ms)
    return expr if factor is None else Arith("*", expr, factor)


@dataclass(frozen=True)
class AggregationPlan:
    """What the unfollow policy asks of an aggregation.

    Attributes
    ----------
    summed_types
        Types whose weighted rows are summed per pair as they are.
    follows_after_unfollow
        Also sum the follows made after the pair's last unfollow (policy ``"remove"``).
    read_state
        Read each pair's last follow and last unfollow (for blocking).
    """

    summed_types: tuple[str, ...]
    follows_after_unfollow: bool
    read_state: bool


def aggregation_plan(config: EngagementConfig) -> AggregationPlan:
    """The :class:`AggregationPlan` of a configuration."""
    from cratedig.matrix.weights import weighted_types

    types = weighted_types(config)
    if config.unfollow_policy != "negative":
        types = [t for t in types if t != EventType.UNFOLLOW_ARTIST]
    if config.unfollow_policy == "remove":
        types = [t for t in types if t != EventType.FOLLOW_ARTIST]
    return AggregationPlan(
        summed_types=tuple(types),
        follows_after_unfollow=config.unfollow_policy == "remove"
        and config.weight(EventType.FOLLOW_ARTIST) != 0.0,
        read_state=config.unfollow_policy != "ignore",
    )


# ---------------------------------------------------------------------------- SQL renderer


def to_sql(expr: Expr, table: Any = None) -> Any:
    """Render an expression as SQLAlchemy Core over ``table`` (default ``user_events``).

    Numbers are rendered as typed literals (no bound parameters) so that PostgreSQL
    knows their types inside ``CASE``.
    """
    from sqlalchemy import Float, case, cast, func, literal, literal_column

    if table is None:
        from cratedig.store.schema import user_events

        table = user_events

    def render(node: Expr) -> Any:
        if isinstance(node, Col):
            return table.c[node.name]
        if isinstance(node, Num):
            return literal_column(repr(float(node.value)), Float)
        if isinstance(node, Text):
            return literal(node.value)
        if isinstance(node, IsNull):
            return render(node.arg).is_(None)
        if isinstance(node, Cmp):
            left, right = render(node.left), render(node.right)
            return {"==": left == right, "<": left < right, ">=": left >= right}[node.op]
        if isinstance(node, Arith):
            left, right = render(node.left), render(node.right)
            return {"*": left * right, "/": left / right, "-": left - right}[node.op]
        if isinstance(node, ToFloat):
            return cast(render(node.arg), Float)
        if isinstance(node, Pow):
            return func.power(render(node.base), render(node.exponent))
        if isinstance(node, Case):
            whens = [(render(c), render(v)) for c, v in node.whens]
            return case(*whens, else_=render(node.otherwise))
        raise TypeError(f"expr: {node!r} is not a rules node")

    return render(expr)
