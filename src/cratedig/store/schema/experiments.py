"""Tables of A/B experiments: their design, state and conclusion.

Revision ``0006_experiments`` added ``experiments`` and the ``teams`` column of
``impressions`` (the team of each position of an interleaved list).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from cratedig.store.schema.base import metadata

#: One row per experiment. ``variants`` is a JSON array of ``{"name", "spec"}`` (spec:
#: a version id, ``personalise=off``, ``holdout`` or ``interleave=A,B``), ``weights``
#: a JSON array of designed shares, ``guardrails`` a JSON array of metric names.
#: ``state``: ``draft`` -> ``running`` -> ``stopped`` -> ``concluded``.
#: ``layer_start``/``layer_stop``: the experiment's bucket range within its layer,
#: fixed when it starts, so experiments of one layer never share a user.
experiments = Table(
    "experiments",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("salt", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("layer", String(64), nullable=False),
    Column("layer_share", Float, nullable=False),
    Column("layer_start", Integer),
    Column("layer_stop", Integer),
    Column("list_scope", String(32), nullable=False),
    Column("variants", Text, nullable=False),
    Column("weights", Text, nullable=False),
    Column("ramp", Float, nullable=False),
    Column("primary_metric", String(32), nullable=False),
    Column("guardrails", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("started_at_ms", BigInteger),
    Column("stopped_at_ms", BigInteger),
    Column("concluded_at_ms", BigInteger),
    Column("conclusion", Text),
)
