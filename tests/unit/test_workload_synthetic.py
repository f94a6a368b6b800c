"""The synthetic Azure-like generator: Zipf shares, rank rotation, daily
trend and bursts computed by hand, reproducibility and validation."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from planner.workloads import AzureLikeConfig, azure_like_rates, azure_like_workload
from planner.workloads.synthetic import zipf_shares

CALM = AzureLikeConfig(diurnal_amplitude=0.0, bursts_per_hour=0.0, shift_every_s=None)


def test_zipf_shares_by_hand() -> None:
    np.testing.assert_allclose(zipf_shares(3, 1.0), [6 / 11, 3 / 11, 2 / 11])
    np.testing.assert_allclose(zipf_shares(4, 0.0), [0.25] * 4)


def test_calm_rates_are_the_zipf_shares_of_the_total() -> None:
    config = replace(CALM, num_models=3, duration_s=300, total_rate_rps=11.0)
    starts, _, rates = azure_like_rates(config, seed=4)
    np.testing.assert_array_equal(starts, [0, 60, 120, 180, 240])
    # Every window has the same rates: a permutation of 11 * (6, 3, 2) / 11.
    np.testing.assert_allclose(np.sort(rates[:, 0])[::-1], [6.0, 3.0, 2.0])
    np.testing.assert_allclose(rates, np.repeat(rates[:, :1], 5, axis=1))


def test_ranks_rotate_by_one_every_shift_period() -> None:
    config = replace(CALM, num_models=4, duration_s=480, total_rate_rps=1.0, shift_every_s=120.0)
    _, _, rates = azure_like_rates(config, seed=1)
    shares = zipf_shares(4, 1.0)
    first_rank = [int(np.argmin(np.abs(shares - r))) for r in rates[:, 0]]
    for window in range(8):  # window k has its midpoint in epoch k // 2
        expected = [shares[(r + window // 2) % 4] for r in first_rank]
        np.testing.assert_allclose(rates[:, window], expected)


def test_daily_trend_scales_the_total_at_window_midpoints() -> None:
    config = replace(
        CALM,
        num_models=2,
        duration_s=240,
        total_rate_rps=10.0,
        diurnal_amplitude=0.5,
        diurnal_period_s=240.0,
    )
    _, _, rates = azure_like_rates(config, seed=0)
    middles = np.array([30.0, 90.0, 150.0, 210.0])
    np.testing.assert_allclose(rates.sum(axis=0), 10.0 * (1 + 0.5 * np.sin(np.pi * middles / 120)))


def test_bursts_multiply_rates_for_whole_burst_lengths() -> None:
    always = replace(CALM, num_models=2, duration_s=600, bursts_per_hour=60.0, burst_factor=3.0)
    calm = replace(CALM, num_models=2, duration_s=600)
    _, _, bursting = azure_like_rates(always, seed=2)
    _, _, base = azure_like_rates(calm, seed=2)
    np.testing.assert_allclose(bursting, 3.0 * base)

    some = replace(
        CALM,
        num_models=8,
        duration_s=3600,
        bursts_per_hour=4.0,
        burst_factor=5.0,
        burst_duration_s=150.0,  # three 60 s windows
    )
    _, _, rates = azure_like_rates(some, seed=3)
    _, _, plain = azure_like_rates(replace(CALM, num_models=8, duration_s=3600), seed=3)
    ratio = rates / plain
    assert set(np.round(np.unique(ratio), 9)) == {1.0, 5.0}
    for row in ratio == 5.0:
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(int), [0]))))
        runs = edges[1::2] - edges[::2]
        ends_at_horizon = edges[1::2] == row.size
        assert np.all((runs >= 3) | ends_at_horizon)


def test_workload_is_seeded_and_follows_its_rates() -> None:
    config = AzureLikeConfig(num_models=5, duration_s=1200, total_rate_rps=40.0)
    first = azure_like_workload(config, seed=7)
    again = azure_like_workload(config, seed=7)
    np.testing.assert_array_equal(first.arrivals_s, again.arrivals_s)
    np.testing.assert_array_equal(first.model_ids, again.model_ids)
    assert not np.array_equal(first.arrivals_s, azure_like_workload(config, seed=8).arrivals_s)
    _, _, rates = azure_like_rates(config, np.random.default_rng(7))
    expected = float(rates.sum() * 60.0)
    assert first.num_requests == pytest.approx(expected, rel=0.1)
    assert first.model_names == ("m0", "m1", "m2", "m3", "m4")
    assert first.meta["kind"] == "azure-synthetic" and first.meta["seed"] == 7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_models": 0}, "num_models: must be > 0, got 0"),
        ({"duration_s": 0.0}, "duration_s: must be > 0, got 0.0"),
        ({"cv": -1.0}, "cv: must be finite and >= 0, got -1.0"),
        ({"shift_every_s": 0.0}, "shift_every_s: must be > 0 (None: never), got 0.0"),
        ({"diurnal_amplitude": 1.5}, "diurnal_amplitude: must be in [0, 1], got 1.5"),
        ({"burst_factor": 0.5}, "burst_factor: must be finite and >= 1, got 0.5"),
        ({"window_s": math.inf}, "window_s: must be finite and >= 0, got inf"),
    ],
)
def test_bad_config_names_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        AzureLikeConfig(**changes)  # type: ignore[arg-type]


def test_model_names_must_match_num_models() -> None:
    with pytest.raises(ValueError, match=r"^model_names: 1 names for num_models=2"):
        azure_like_workload(AzureLikeConfig(num_models=2), 0, ("only",))
