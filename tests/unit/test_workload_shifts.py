"""The shifting traffic families reproduce their stated parameters (rates
per window, on/off durations, rotation period) within sampling error, in
both trace formats after replay."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from planner.evaluation.traffic import family_traffic
from planner.workloads.shifts import (
    ShiftConfig,
    azure2019_lines,
    azure2021_lines,
    family_config,
    minute_counts,
    minute_rates,
)

NAMES = tuple(f"m{i}" for i in range(16))


def runs(active: npt.NDArray[np.bool_]) -> tuple[list[int], list[int]]:
    """Lengths of the inner runs of True and of False (runs touching an
    end may be cut by the trace's edge)."""
    changes = np.flatnonzero(np.diff(active.astype(np.int8))) + 1
    bounds = np.r_[0, changes, active.size]
    on, off = [], []
    for start, stop in itertools.pairwise(bounds[1:-1]):
        (on if active[start] else off).append(int(stop - start))
    return on, off


def within_sampling_error(
    counts: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]
) -> bool:
    """Every Poisson count within 5 standard deviations of its mean."""
    return bool(np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected) + 1))


def test_diurnal_rates_follow_the_stated_cycle() -> None:
    config = ShiftConfig(
        "diurnal", num_models=16, trace_s=86400.0, total_rate_rps=16.0, amplitude=0.8
    )
    counts = minute_counts(config, 3)
    hourly = counts.reshape(16, 24, 60).sum(axis=2)
    t = (np.arange(24) + 0.5) * 3600.0
    m = np.arange(16)[:, None]
    expected = 3600.0 * (1 + 0.8 * np.sin(2 * np.pi * t / 86400.0 + 2 * np.pi * m / 16))
    assert within_sampling_error(hourly.astype(np.float64), expected)
    # the total stays R (phases spread evenly)
    assert abs(counts.sum() / 86400.0 - 16.0) < 5 * np.sqrt(16.0 * 86400.0) / 86400.0
    # function 4 (a quarter period ahead) peaks about 6 hours before function 0
    assert abs(int(np.argmax(hourly[0])) - int(np.argmax(hourly[4])) - 6) <= 1


def test_onoff_functions_are_on_and_off_for_the_stated_durations() -> None:
    config = ShiftConfig(
        "onoff", num_models=16, trace_s=43200.0, total_rate_rps=16.0, on_s=7200.0, off_s=14400.0
    )
    counts = minute_counts(config, 5)
    on_rate = 16.0 / 16 / config.duty
    for function in counts:
        on, off = runs(function > 0)  # 180 per minute while on: never 0
        assert set(on) <= {120} and set(off) <= {240} and on + off
        assert within_sampling_error(
            function[function > 0].astype(np.float64), np.full((function > 0).sum(), on_rate * 60)
        )
    # shifted by 1/16 of the 6-hour cycle: function 1 turns off 22.5 minutes after function 0
    first_off = [int(np.flatnonzero(np.diff((f > 0).astype(np.int8)) == -1)[0]) for f in counts[:2]]
    assert first_off == [119, 141]  # last minutes on: [0, 120) and [22.5, 142.5) min


def test_rotating_hot_set_moves_at_the_stated_period_with_its_share() -> None:
    config = family_config("rotating", 16, total_requests=3600 * 40.0)
    assert (config.hot_count, config.rotate_every_s, config.hot_share) == (4, 480.0, 0.8)
    counts = minute_counts(config, 7)
    hot = np.argsort(-counts, axis=0, kind="stable")[:4]  # per minute, the top 4
    sets = [frozenset(hot[:, k].tolist()) for k in range(counts.shape[1])]
    changes = [k for k in range(1, len(sets)) if sets[k] != sets[k - 1]]
    assert changes == list(range(8, 60, 8))  # every 480 s
    assert sets[8] == frozenset({4, 5, 6, 7})  # the next block of hot_count functions
    share = counts[hot, np.arange(counts.shape[1])].sum() / counts.sum()
    assert abs(share - 0.8) < 0.01


@pytest.mark.parametrize("trace_format", ["2019", "2021"])
@pytest.mark.parametrize("family", ["diurnal", "onoff", "rotating"])
def test_replayed_traces_keep_the_rates_per_window(family: str, trace_format: str) -> None:
    config = family_config(family, len(NAMES), total_requests=200_000)
    traffic = family_traffic(config, trace_format, NAMES, 600.0, 10, 1.0, 11)
    # expected per window: the stated rates summed over the window's minutes
    minutes = minute_rates(config).reshape(len(NAMES), 10, -1).sum(axis=2)
    expected = minutes / minutes.sum() * 600.0  # requests at a mean of 1 rps
    drawn = traffic.rates_rps * 60.0  # per 60 s window at 1 rps
    scale = 200_000 / 600.0  # the trace's requests per drawn one
    if trace_format == "2021":
        # functions are dealt in order of first arrival: model i has the
        # i-th function to show up in the log (sorted by time)
        order: dict[str, None] = {}
        for line in azure2021_lines(minute_counts(config, 11), 11):
            order.setdefault(line.split(",")[1], None)
        expected = expected[[int(name[1:]) for name in list(order)[1:]]]
    assert within_sampling_error(drawn * scale, expected * scale)
    assert traffic.name == f"{family}-{trace_format}"


def test_trace_formats_and_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^family: must be one of diurnal, onoff, rotating"):
        ShiftConfig("bursty")
    with pytest.raises(ValueError, match=r"^on_s: must be whole minutes"):
        ShiftConfig("onoff", on_s=90.0)
    with pytest.raises(ValueError, match=r"^hot_share: must be in \[0, 1\]"):
        ShiftConfig("rotating", hot_share=1.5)
    with pytest.raises(ValueError, match=r"^counts: a 2019 file holds one day"):
        list(azure2019_lines(np.zeros((1, 1441), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"^trace_format: must be 2019 or 2021"):
        family_traffic(family_config("onoff", 2, 100.0), "2020", ("a", "b"), 60.0, 1, 1.0, 0)
