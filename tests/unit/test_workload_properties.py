"""Invariants of every workload maker, checked with hypothesis: arrivals
sorted inside ``[0, duration_s)``, model ids valid, windows partitioning
the requests."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Workload
from planner.workloads import (
    ProcessSpec,
    process_workload,
    redraw,
    scale_rate,
    split_windows,
    window_stats,
    windowed_workload,
)
from planner.workloads.windows import window_bounds

SETTINGS = settings(max_examples=40, deadline=None)

specs = st.lists(
    st.builds(
        ProcessSpec,
        rate_rps=st.floats(0.0, 40.0),
        cv=st.one_of(st.just(0.0), st.floats(0.05, 5.0)),
    ),
    min_size=1,
    max_size=4,
)
durations = st.floats(0.5, 30.0)
seeds = st.integers(0, 2**32 - 1)


def _check(workload: Workload, num_models: int, duration_s: float) -> None:
    times = workload.arrivals_s
    assert workload.duration_s == duration_s
    assert len(workload.model_names) == num_models
    assert np.all(np.diff(times) >= 0)
    if times.size:
        assert times[0] >= 0.0 and times[-1] < duration_s
        assert workload.model_ids.min() >= 0 and workload.model_ids.max() < num_models


@SETTINGS
@given(specs, durations, seeds)
def test_process_workloads_are_sorted_and_inside_the_horizon(
    processes: list[ProcessSpec], duration_s: float, seed: int
) -> None:
    named = {f"m{i}": spec for i, spec in enumerate(processes)}
    workload = process_workload(named, duration_s, seed)
    _check(workload, len(processes), duration_s)
    again = process_workload(named, duration_s, seed)
    np.testing.assert_array_equal(workload.arrivals_s, again.arrivals_s)


@SETTINGS
@given(
    st.integers(1, 3),
    durations,
    st.floats(0.3, 12.0),
    st.floats(0.0, 30.0),
    st.floats(0.0, 4.0),
    seeds,
)
def test_windowed_workloads_stay_inside_their_windows(
    num_models: int, duration_s: float, window_s: float, peak_rps: float, cv: float, seed: int
) -> None:
    starts, ends = window_bounds(duration_s, window_s)
    rates = np.random.default_rng(seed).uniform(0, peak_rps, (num_models, starts.size))
    names = tuple(f"m{i}" for i in range(num_models))
    workload = windowed_workload(rates, cv, starts, ends, names, seed, {})
    _check(workload, num_models, float(ends[-1]))
    assert ends[-1] == duration_s


@SETTINGS
@given(specs, durations, st.floats(0.3, 12.0), seeds)
def test_windows_partition_the_requests(
    processes: list[ProcessSpec], duration_s: float, window_s: float, seed: int
) -> None:
    workload = process_workload({f"m{i}": s for i, s in enumerate(processes)}, duration_s, seed)
    parts = split_windows(workload, window_s)
    rebuilt = np.concatenate([p.arrivals_s + p.meta["window"]["start_s"] for p in parts])
    np.testing.assert_array_equal(rebuilt, workload.arrivals_s)
    for part in parts:
        _check(part, len(processes), part.duration_s)
    per_window = np.array([w.requests for w in window_stats(workload, window_s)])
    expected = np.bincount(workload.model_ids, minlength=len(processes))
    np.testing.assert_array_equal(per_window.sum(axis=0), expected)


@SETTINGS
@given(specs, durations, st.floats(0.0, 3.5), st.floats(0.0, 3.0), st.floats(0.0, 2.0), seeds)
def test_scaled_and_redrawn_workloads_keep_the_invariants(
    processes: list[ProcessSpec],
    duration_s: float,
    factor: float,
    rate_scale: float,
    cv_scale: float,
    seed: int,
) -> None:
    workload = process_workload({f"m{i}": s for i, s in enumerate(processes)}, duration_s, seed)
    scaled = scale_rate(workload, factor, seed)
    _check(scaled, len(processes), duration_s)
    assert np.all(np.isin(scaled.arrivals_s, workload.arrivals_s))
    again = redraw(workload, max(duration_s / 3, 0.1), seed, rate_scale, cv_scale)
    _check(again, len(processes), duration_s)
