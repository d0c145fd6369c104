"""Assignment: determinism, uniformity, ramp stickiness, layer exclusivity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from cratedig.exceptions import ValidationError
from cratedig.experiments.assignment import (
    N_BUCKETS,
    NOT_ENROLLED,
    ExperimentDesign,
    Layer,
    assign,
    assign_in_layer,
    assign_many,
    bucket,
    bucket_ranges,
    buckets,
)

IDS = [f"user-{i}" for i in range(40_000)]


def test_bucket_is_a_known_stable_value() -> None:
    # sha256("exp:alice")[:8] big-endian mod 10,000, computed once; must never change
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"exp:alice").digest()[:8], "big") % N_BUCKETS
    assert bucket("exp", "alice") == expected
    assert buckets("exp", ["alice", "bob"]).tolist() == [expected, bucket("exp", "bob")]


def test_same_buckets_in_another_process() -> None:
    code = (
        "from cratedig.experiments.assignment import buckets;"
        "print(','.join(map(str, buckets('salt-1', [f'user-{i}' for i in range(500)]))))"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PYTHONHASHSEED": "123"},
    ).stdout.strip()
    assert out == ",".join(map(str, buckets("salt-1", IDS[:500])))


def test_buckets_are_uniform() -> None:
    counts = np.bincount(buckets("uniform", IDS), minlength=N_BUCKETS)
    # 4 buckets per bucket on average is too few for a chi-square; group into 100 bins
    grouped = counts.reshape(100, -1).sum(axis=1)
    assert stats.chisquare(grouped).pvalue > 0.001


def test_weights_split_users() -> None:
    design = ExperimentDesign("split", ("control", "treatment"), (0.2, 0.8))
    share = np.mean(assign_many(design, IDS) == 1)
    assert share == pytest.approx(0.8, abs=0.01)


def test_ramp_up_never_reassigns() -> None:
    low = ExperimentDesign("ramp", ("c", "t"), (0.5, 0.5), ramp=0.1)
    high = ExperimentDesign("ramp", ("c", "t"), (0.5, 0.5), ramp=0.5)
    a, b = assign_many(low, IDS), assign_many(high, IDS)
    enrolled = a != NOT_ENROLLED
    assert np.mean(enrolled) == pytest.approx(0.1, abs=0.01)
    assert np.mean(b != NOT_ENROLLED) == pytest.approx(0.5, abs=0.01)
    assert np.array_equal(a[enrolled], b[enrolled])
    # the designed split holds at every ramp
    assert np.mean(a[enrolled] == 1) == pytest.approx(0.5, abs=0.03)


def test_ranges_nest_as_the_ramp_grows() -> None:
    for r1, r2 in [(0.0, 0.1), (0.1, 0.37), (0.37, 1.0)]:
        for (lo1, hi1), (lo2, hi2) in zip(
            bucket_ranges([1, 2, 3], r1), bucket_ranges([1, 2, 3], r2), strict=True
        ):
            assert lo1 == lo2 and hi1 <= hi2
    assert bucket_ranges([1, 1], 1.0) == [(0, 5000), (5000, 10000)]


def test_experiments_are_independent() -> None:
    a = assign_many(ExperimentDesign("exp-a", ("c", "t"), (0.5, 0.5)), IDS)
    b = assign_many(ExperimentDesign("exp-b", ("c", "t"), (0.5, 0.5)), IDS)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02


def test_layer_experiments_are_mutually_exclusive() -> None:
    layer = Layer("layer-lists", (("e1", 0.5), ("e2", 0.3)))
    designs = {
        "e1": ExperimentDesign("e1", ("c", "t"), (0.5, 0.5)),
        "e2": ExperimentDesign("e2", ("c", "t"), (0.5, 0.5)),
    }
    got = [assign_in_layer(layer, designs, u) for u in IDS]
    names = [g[0] if g else None for g in got]
    assert names.count("e1") / len(IDS) == pytest.approx(0.5, abs=0.01)
    assert names.count("e2") / len(IDS) == pytest.approx(0.3, abs=0.01)
    assert names.count(None) / len(IDS) == pytest.approx(0.2, abs=0.01)
    # appending an experiment does not move anyone already placed
    bigger = Layer("layer-lists", (("e1", 0.5), ("e2", 0.3), ("e3", 0.2)))
    assert all(bigger.experiment_of(u) == n for u, n in zip(IDS[:2000], names, strict=False) if n)


def test_assign_single_matches_many() -> None:
    design = ExperimentDesign("x", ("c", "t", "holdout"), (0.45, 0.45, 0.1), ramp=0.6)
    many = assign_many(design, IDS[:300])
    for uid, idx in zip(IDS[:300], many, strict=True):
        assert assign(design, uid) == (None if idx < 0 else design.variants[idx])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"weights": (1.0,), "variants": ("c",)}, "weights"),
        ({"weights": (0.5, -0.5)}, "weights"),
        ({"ramp": 1.5}, "ramp"),
        ({"variants": ("c", "c")}, "variants"),
        ({"salt": ""}, "salt"),
    ],
)
def test_bad_designs_name_the_field(kwargs: dict, field: str) -> None:
    base = {"salt": "s", "variants": ("c", "t"), "weights": (0.5, 0.5)}
    with pytest.raises(ValidationError) as err:
        ExperimentDesign(**(base | kwargs))
    assert err.value.field == field


def test_layer_over_allocated() -> None:
    with pytest.raises(ValidationError):
        Layer("l", (("a", 0.7), ("b", 0.4)))
