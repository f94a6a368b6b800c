"""Time ranges, windows and per-window statistics on hand-made workloads,
and the method-of-moments fits with their fallbacks."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from planner.domain import Workload
from planner.workloads import (
    TimeRange,
    fit_windows,
    parse_trace_time,
    split_windows,
    window_stats,
    workload_stats,
)
from planner.workloads.windows import window_workload


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0.0.0", 0), ("0.1.0", 3600), ("1.2.3", 86400 + 7200 + 180), ("13.23.60", 14 * 86400)],
)
def test_trace_times_parse_to_seconds(text: str, seconds: int) -> None:
    assert parse_trace_time(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.1", "start: expected 'day.hour.minute'"),
        ("a.b.c", "start: expected 'day.hour.minute'"),
        ("-1.0.0", "start: expected 'day.hour.minute'"),
        ("0.24.0", "start: hour must be 0..23, got 24"),
        ("0.0.61", "start: minute must be 0..60, got 61"),
    ],
)
def test_bad_trace_times_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        parse_trace_time(text, "start")


def test_time_range_parse_and_validation() -> None:
    span = TimeRange.parse("0.0.30", "0.1.0")
    assert (span.start_s, span.end_s, span.duration_s) == (1800.0, 3600.0, 1800.0)
    with pytest.raises(ValueError, match=r"^end: '0\.0\.30' must be after start '0\.1\.0'"):
        TimeRange.parse("0.1.0", "0.0.30")
    with pytest.raises(ValueError, match=r"^start_s: must be finite and >= 0, got -1"):
        TimeRange(-1, 5)
    with pytest.raises(ValueError, match=r"^end_s: must be after start_s=5, got 5"):
        TimeRange(5, 5)


def _hand_made() -> Workload:
    # Model a: 1, 2, 4 | 11, 12, 13.5 (W = 10, D = 15); model b: 3 | 14.
    per_model = {"a": [1.0, 2.0, 4.0, 11.0, 12.0, 13.5], "b": [3.0, 14.0]}
    return Workload.merge(per_model, 15.0)


def test_window_stats_count_rate_and_cv_per_model() -> None:
    first, last = window_stats(_hand_made(), 10.0)
    assert (first.index, first.start_s, first.duration_s) == (0, 0.0, 10.0)
    assert (last.index, last.start_s, last.duration_s) == (1, 10.0, 5.0)
    assert first.requests == (3, 1) and last.requests == (3, 1)
    assert first.rate_rps == (0.3, 0.1) and last.rate_rps == (0.6, 0.2)
    # a in window 0: gaps 1, 2 -> mean 1.5, std 0.5; window 1: gaps 1, 1.5
    # -> mean 1.25, std 0.25. The gap 4 -> 11 crosses windows and counts in neither.
    assert first.cv[0] == pytest.approx(1 / 3)
    assert last.cv[0] == pytest.approx(0.2)
    assert math.isnan(first.cv[1]) and math.isnan(last.cv[1])
    assert first.total_requests == 4 and last.total_rate_rps == pytest.approx(0.8)


def test_workload_stats_treat_the_whole_horizon_as_one_window() -> None:
    overall = workload_stats(_hand_made())
    assert overall.requests == (6, 2)
    assert overall.rate_rps == (0.4, pytest.approx(2 / 15))
    gaps = np.array([1.0, 2.0, 7.0, 1.0, 1.5])
    assert overall.cv[0] == pytest.approx(gaps.std() / gaps.mean())


def test_split_windows_rebases_times_and_keeps_meta() -> None:
    workload = _hand_made()
    parts = split_windows(workload, 10.0)
    assert [p.duration_s for p in parts] == [10.0, 5.0]
    np.testing.assert_array_equal(parts[0].arrivals_s, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(parts[0].model_ids, [0, 0, 1, 0])
    np.testing.assert_array_equal(parts[1].arrivals_s, [1.0, 2.0, 3.5, 4.0])
    np.testing.assert_array_equal(parts[1].model_ids, [0, 0, 0, 1])
    assert parts[1].meta["window"] == {"index": 1, "start_s": 10.0}
    assert parts[1].model_names == ("a", "b")


def test_window_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"^window_s: must be a finite number > 0, got 0"):
        window_stats(_hand_made(), 0)


def test_fits_follow_the_method_of_moments_and_its_fallbacks() -> None:
    per_model = {
        "moments": [0.0, 1.0, 3.0],  # gaps 1, 2: rate 1/1.5, CV 1/3
        "two": [2.0, 7.0],  # too few gaps: empirical 2/10, Poisson
        "bunched": [0.0, 0.25, 0.5, 0.75],  # 1/mean = 4 > 5 * 0.4: empirical, CV 0
        "same_instant": [5.0, 5.0, 5.0],  # mean gap 0: empirical 3/10, Poisson
        "empty": [],
    }
    table, rates, cvs = fit_windows(Workload.merge(per_model, 10.0), 10.0)
    np.testing.assert_allclose(rates[:, 0], [1 / 1.5, 0.2, 0.4, 0.3, 0.0])
    np.testing.assert_allclose(cvs[:, 0], [1 / 3, 1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(table.counts[:, 0], [3, 2, 4, 3, 0])


def test_a_window_keeps_an_arrival_that_rounding_shifts_onto_its_end() -> None:
    start, end = 13.509650502241122, 85.68633568762988
    last = float(np.nextafter(end, 0.0))
    assert last - start == end - start  # float rounding carries the shifted arrival onto the end
    part = window_workload(Workload.merge({"a": [start, last]}, 100.0), start, end)
    assert part.num_requests == 2 and part.duration_s == end - start
    assert part.arrivals_s[0] == 0.0 and part.arrivals_s[1] < part.duration_s
