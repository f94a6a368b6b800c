"""The phase-shift trace of the live demo: each phase heats its own models,
at the stated rates, and bad parameters are refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from planner.workloads import PhaseShift, rotating_hot_sets

NAMES = ("a", "b", "c", "d")


def test_hot_sets_rotate_through_the_models_wrapping_around() -> None:
    assert rotating_hot_sets(NAMES, 3, 3) == (("a", "b", "c"), ("d", "a", "b"), ("c", "d", "a"))
    with pytest.raises(ValueError, match="size"):
        rotating_hot_sets(NAMES, 2, 5)


def test_each_phase_serves_its_hot_set_at_the_hot_rate() -> None:
    shift = PhaseShift(
        NAMES, (("a",), ("c", "d")), phase_s=200.0, hot_rps=5.0, cold_rps=0.5, off_rps=0.25
    )
    # b is in no hot set (background); a, c, d are off outside their phase
    assert shift.rates_rps().tolist() == [[5.0, 0.25], [0.5, 0.5], [0.25, 5.0], [0.25, 5.0]]
    workload = shift.workload(seed=3)
    assert workload.duration_s == 400.0
    rates = shift.rates_rps()
    for k in range(len(shift.hot_sets)):
        inside = (workload.arrivals_s >= 200.0 * k) & (workload.arrivals_s < 200.0 * (k + 1))
        for m, name in enumerate(NAMES):
            count = int(np.count_nonzero(inside & (workload.model_ids == m)))
            expected = 200.0 * rates[m, k]
            assert abs(count - expected) <= 4 * np.sqrt(expected), (k, name, count)
    assert shift.workload(seed=3).arrivals_s.tolist() == workload.arrivals_s.tolist()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hot_sets": ()}, "hot_sets"),
        ({"hot_sets": (("a",), ("z",))}, r"hot_sets\[1\]: z not in models"),
        ({"phase_s": 0.0}, "phase_s"),
        ({"cold_rps": 6.0}, "cold_rps"),
        ({"cold_rps": -1.0}, "cold_rps"),
        ({"off_rps": 5.5}, "off_rps"),
    ],
)
def test_bad_parameters_name_the_field(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "models": NAMES,
        "hot_sets": (("a",),),
        "phase_s": 10.0,
        "hot_rps": 5.0,
        "cold_rps": 1.0,
    }
    with pytest.raises(ValueError, match=field):
        PhaseShift(**{**values, **changes})  # type: ignore[arg-type]
