"""What an experiment is: its variants (a model version or a serving option) and design.

A variant is written ``NAME=SPEC`` on the command line. ``SPEC`` is one of

* a model version id from the registry (``v20261128T230102-1a2b3c``), or ``active``
  (whichever version is active when the list is served);
* a version (or nothing, meaning ``active``) with serving options, comma-separated:
  ``personalise=off`` (the version's precomputed list without re-ranking by recent
  activity), ``holdout`` (the non-personalised popular list: the version's global
  fallback list, served to everyone), ``gems=first|last|off`` (the Hidden Gems
  placement: shown above May Like, below it (the default), or not at all; for
  experiments whose ``--list`` holds ``hidden_gems``);
* ``interleave=VERSION_A,VERSION_B``: team-draft interleaving of two versions' lists
  (:mod:`cratedig.experiments.interleaving`); the impression records the team of each
  position.

The impressions of a user in an experiment carry ``variant = "<experiment>:<variant>"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cratedig.exceptions import ValidationError
from cratedig.experiments.assignment import ExperimentDesign

ACTIVE = "active"
LIST_SCOPES: dict[str, tuple[str, ...]] = {
    "may_like": ("may_like",),
    "hidden_gems": ("hidden_gems",),
    "all": ("may_like", "hidden_gems"),
}
STATES = ("draft", "running", "stopped", "concluded")
#: Where an arm shows the Hidden Gems list: above May Like, below it, or not at all.
GEMS_PLACEMENTS = ("first", "last", "off")


@dataclass(frozen=True)
class Variant:
    """One arm: what it serves.

    Attributes
    ----------
    name
        The arm's name (``control``, ``treatment``).
    spec
        The text it was written as.
    version_id
        The version served (``"active"``: the active one); for interleaving, team A's.
    personalise
        Whether lists are re-ranked by recent activity.
    holdout
        Serve the version's global popular list to everyone.
    interleave_with
        Team B's version when the arm interleaves two versions.
    gems
        The Hidden Gems placement (:data:`GEMS_PLACEMENTS`); ``None``: the default
        (``last``, below May Like).
    """

    name: str
    spec: str
    version_id: str = ACTIVE
    personalise: bool = True
    holdout: bool = False
    interleave_with: str | None = None
    gems: str | None = None

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version id the arm reads."""
        return (self.version_id,) + ((self.interleave_with,) if self.interleave_with else ())


def parse_variant(text: str) -> Variant:
    """A :class:`Variant` from ``NAME=SPEC`` (see the module's docstring).

    Raises
    ------
    ValidationError
        Naming ``--variant``, for a missing name or an unknown option.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec or ":" in name or len(name) > 24:
        raise ValidationError(
            "--variant", text, "NAME=SPEC with a name of at most 24 characters and no ':'"
        )
    if spec.startswith("interleave="):
        pair = [p.strip() for p in spec.removeprefix("interleave=").split(",")]
        if len(pair) != 2 or not all(pair):
            raise ValidationError("--variant", text, "interleave=VERSION_A,VERSION_B")
        return Variant(name, spec, version_id=pair[0], interleave_with=pair[1])
    version, personalise, holdout, gems = ACTIVE, True, False, None
    versions_named = 0
    for token in (t.strip() for t in spec.split(",")):
        if token in ("personalise=off", "personalize=off"):
            personalise = False
        elif token in ("personalise=on", "personalize=on"):
            personalise = True
        elif token == "holdout":
            holdout, personalise = True, False
        elif token.startswith("gems=") and token.removeprefix("gems=") in GEMS_PLACEMENTS:
            gems = token.removeprefix("gems=")
        elif token and "=" not in token:
            version, versions_named = token, versions_named + 1
        else:
            raise ValidationError(
                "--variant",
                text,
                "a version id, 'active', 'personalise=off', 'holdout', "
                "'gems=first|last|off' or 'interleave=A,B'",
            )
    if versions_named > 1:
        raise ValidationError("--variant", text, "at most one version id")
    return Variant(name, spec, version, personalise, holdout, gems=gems)


@dataclass(frozen=True)
class Experiment:
    """An experiment as stored (see :mod:`cratedig.store.schema.experiments`)."""

    name: str
    salt: str
    state: str
    layer: str
    layer_share: float
    list_scope: str
    variants: tuple[Variant, ...]
    weights: tuple[float, ...]
    ramp: float
    primary: str
    guardrails: tuple[str, ...]
    created_at_ms: int
    layer_range: tuple[int, int] | None = None
    started_at_ms: int | None = None
    stopped_at_ms: int | None = None
    concluded_at_ms: int | None = None
    conclusion: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Experiment:
        """From a stored row (JSON columns decoded)."""
        variants = tuple(
            parse_variant(f"{v['name']}={v['spec']}") for v in json.loads(row["variants"])
        )
        start, stop = row.get("layer_start"), row.get("layer_stop")
        return cls(
            name=row["name"],
            salt=row["salt"],
            state=row["state"],
            layer=row["layer"],
            layer_share=float(row["layer_share"]),
            list_scope=row["list_scope"],
            variants=variants,
            weights=tuple(float(w) for w in json.loads(row["weights"])),
            ramp=float(row["ramp"]),
            primary=row["primary_metric"],
            guardrails=tuple(json.loads(row["guardrails"])),
            created_at_ms=int(row["created_at_ms"]),
            layer_range=None if start is None else (int(start), int(stop or 0)),
            started_at_ms=row.get("started_at_ms"),
            stopped_at_ms=row.get("stopped_at_ms"),
            concluded_at_ms=row.get("concluded_at_ms"),
            conclusion=json.loads(row["conclusion"]) if row.get("conclusion") else None,
        )

    @property
    def design(self) -> ExperimentDesign:
        """The assignment design (salt, variant names, weights, ramp)."""
        return ExperimentDesign(
            self.salt, tuple(v.name for v in self.variants), self.weights, self.ramp
        )

    @property
    def list_types(self) -> tuple[str, ...]:
        """The list types the experiment changes."""
        return LIST_SCOPES[self.list_scope]

    def label(self, variant: str) -> str:
        """The impression's ``variant`` value of one arm."""
        return f"{self.name}:{variant}"

    @property
    def labels(self) -> tuple[str, ...]:
        """Every arm's impression label, control first."""
        return tuple(self.label(v.name) for v in self.variants)

    def variant(self, name: str) -> Variant:
        """One arm by name."""
        for v in self.variants:
            if v.name == name:
                return v
        raise ValidationError("variant", name, "one of " + ", ".join(v.name for v in self.variants))

    @property
    def is_interleaving(self) -> bool:
        """Whether an arm interleaves two versions."""
        return any(v.interleave_with for v in self.variants)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "name": self.name,
            "state": self.state,
            "list": self.list_scope,
            "layer": self.layer,
            "layer_share": self.layer_share,
            "variants": [{"name": v.name, "spec": v.spec} for v in self.variants],
            "weights": list(self.weights),
            "ramp": self.ramp,
            "primary": self.primary,
            "guardrails": list(self.guardrails),
            "created_at_ms": self.created_at_ms,
            "started_at_ms": self.started_at_ms,
            "stopped_at_ms": self.stopped_at_ms,
            "concluded_at_ms": self.concluded_at_ms,
            "conclusion": self.conclusion,
        }
