"""The max-rate bisection on functions whose answer is known."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from planner.evaluation.capacity import Probe, max_rate_scale


def step_at(threshold: float) -> tuple[list[float], Callable[[float], float]]:
    seen: list[float] = []

    def evaluate(scale: float) -> float:
        seen.append(scale)
        return 1.0 if scale <= threshold else 0.5

    return seen, evaluate


def test_doubles_then_bisects_geometrically() -> None:
    seen, evaluate = step_at(3.7)
    found = max_rate_scale(evaluate, start=1.0, rel_tol=0.01)
    assert seen[:4] == [1.0, 2.0, 4.0, math.sqrt(8.0)]
    assert found.scale <= 3.7 < found.failing_scale <= found.scale * 1.01
    assert [p.scale for p in found.probes] == seen
    assert found.attainment == 1.0
    assert found.probes[2] == Probe(4.0, 0.5)


def test_halves_when_the_start_fails() -> None:
    seen, evaluate = step_at(0.3)
    found = max_rate_scale(evaluate, start=1.0, rel_tol=0.1)
    assert seen[:3] == [1.0, 0.5, 0.25]
    assert found.scale <= 0.3 < found.failing_scale <= found.scale * 1.1


def test_a_smaller_factor_brackets_near_a_good_start() -> None:
    seen, evaluate = step_at(1.3)
    found = max_rate_scale(evaluate, start=1.0, rel_tol=0.05, factor=1.25)
    assert seen[:3] == [1.0, 1.25, 1.5625]
    assert found.scale <= 1.3 < found.failing_scale <= found.scale * 1.05


def test_nothing_passes_or_everything_passes() -> None:
    _, never = step_at(-1.0)
    found = max_rate_scale(never, start=1.0, min_scale=0.1)
    # nothing passed: "below the lowest scale tried", a value apart from any scale
    assert (found.scale, found.failing_scale, found.attainment) == (None, 0.1, None)
    assert found.lowest_tried == 0.1 and found.to_json()["scale"] is None
    _, always = step_at(math.inf)
    found = max_rate_scale(always, start=1.0, max_scale=5.0)
    assert (found.scale, found.failing_scale, found.lowest_tried) == (5.0, math.inf, 1.0)
    assert [p.scale for p in found.probes] == [1.0, 2.0, 4.0, 5.0]
    assert found.to_json()["failing_scale"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0.0}, r"target: must be in \(0, 1\]"),
        ({"start": 0.0}, "start: must satisfy 0 < min_scale <= start <= max_scale"),
        ({"rel_tol": 0.0}, "rel_tol: must be > 0"),
        ({"factor": 1.0}, "factor: must be > 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        max_rate_scale(lambda s: 1.0, **kwargs)
