"""A synthetic Azure-like workload for benchmarks, seeded.

The horizon is cut into windows of ``window_s`` seconds. In window ``k``
(midpoint ``t``) model ``m`` has the rate

    total_rate_rps * popularity[m, epoch(t)] * trend(t) * burst[m, k]

and arrivals are drawn from a Gamma process with CV ``cv`` (restarted every
window), where

- popularity is Zipf-like: the model of rank ``r`` (0 = most popular) gets
  the share ``(r + 1) ** -zipf_exponent`` normalised to sum 1. Ranks start
  as a random permutation and rotate every ``shift_every_s`` seconds: at
  epoch ``e = floor(t / shift_every_s)`` the model that started at rank
  ``r`` has rank ``(r + e) mod num_models``, so the least popular model
  becomes the most popular one (``shift_every_s = None`` keeps ranks fixed);
- ``trend(t) = 1 + diurnal_amplitude * sin(2 pi t / diurnal_period_s)`` is
  the daily cycle;
- ``burst[m, k]`` is ``burst_factor`` while a burst of model ``m`` is on and
  1 otherwise; a burst starts in a window with probability
  ``bursts_per_hour * window_s / 3600`` and lasts
  ``ceil(burst_duration_s / window_s)`` windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Workload
from planner.workloads.arrivals import (
    Seed,
    as_generator,
    default_model_names,
    non_negative,
    seed_meta,
    windowed_workload,
)
from planner.workloads.windows import window_bounds

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AzureLikeConfig:
    """Knobs of the synthetic generator (see the module docstring)."""

    num_models: int = 16
    duration_s: float = 3600.0
    total_rate_rps: float = 50.0
    cv: float = 2.0
    zipf_exponent: float = 1.0
    window_s: float = 60.0
    shift_every_s: float | None = 600.0
    diurnal_amplitude: float = 0.5
    diurnal_period_s: float = 86400.0
    bursts_per_hour: float = 1.0
    burst_factor: float = 4.0
    burst_duration_s: float = 120.0

    def __post_init__(self) -> None:
        if isinstance(self.num_models, bool) or not isinstance(self.num_models, int):
            raise ValueError(f"num_models: must be an integer, got {self.num_models!r}")
        if self.num_models <= 0:
            raise ValueError(f"num_models: must be > 0, got {self.num_models}")
        for name in ("duration_s", "window_s", "diurnal_period_s", "burst_duration_s"):
            value = non_negative(name, getattr(self, name))
            if value == 0:
                raise ValueError(f"{name}: must be > 0, got {value}")
        for name in ("total_rate_rps", "cv", "zipf_exponent", "bursts_per_hour"):
            non_negative(name, getattr(self, name))
        if (
            self.shift_every_s is not None
            and non_negative("shift_every_s", self.shift_every_s) == 0
        ):
            raise ValueError(f"shift_every_s: must be > 0 (None: never), got {self.shift_every_s}")
        if not 0 <= self.diurnal_amplitude <= 1:
            raise ValueError(f"diurnal_amplitude: must be in [0, 1], got {self.diurnal_amplitude}")
        if not (math.isfinite(self.burst_factor) and self.burst_factor >= 1):
            raise ValueError(f"burst_factor: must be finite and >= 1, got {self.burst_factor}")


def zipf_shares(num_models: int, exponent: float) -> FloatArray:
    """Share of traffic of rank ``0 .. num_models - 1``; sums to 1."""
    weights = np.arange(1, num_models + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def _burst_multipliers(
    config: AzureLikeConfig, num_windows: int, rng: np.random.Generator
) -> FloatArray:
    chance = min(1.0, config.bursts_per_hour * config.window_s / 3600.0)
    starts = rng.random((config.num_models, num_windows)) < chance
    length = math.ceil(config.burst_duration_s / config.window_s)
    running = np.cumsum(starts, axis=1, dtype=np.int64)
    running[:, length:] -= running[:, :-length].copy()
    return np.where(running > 0, config.burst_factor, 1.0)


def azure_like_rates(
    config: AzureLikeConfig, seed: Seed
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(starts_s, ends_s, rates_rps)``: the windows and the rate of every
    model in every window (shape ``(num_models, num_windows)``)."""
    rng = as_generator(seed)
    starts, ends = window_bounds(config.duration_s, config.window_s)
    middle = (starts + ends) / 2
    first_rank = rng.permutation(config.num_models)
    epoch = np.zeros(starts.size, dtype=np.int64)
    if config.shift_every_s is not None:
        epoch = np.floor(middle / config.shift_every_s).astype(np.int64)
    rank = (first_rank[:, None] + epoch[None, :]) % config.num_models
    popularity = zipf_shares(config.num_models, config.zipf_exponent)[rank]
    trend = 1.0 + config.diurnal_amplitude * np.sin(2 * np.pi * middle / config.diurnal_period_s)
    bursts = _burst_multipliers(config, starts.size, rng)
    return starts, ends, config.total_rate_rps * popularity * trend[None, :] * bursts


def azure_like_workload(
    config: AzureLikeConfig, seed: Seed, model_names: Sequence[str] | None = None
) -> Workload:
    """Draw the synthetic workload over ``[0, config.duration_s)``."""
    names = tuple(model_names) if model_names is not None else None
    if names is None:
        names = default_model_names(config.num_models)
    if len(names) != config.num_models:
        raise ValueError(f"model_names: {len(names)} names for num_models={config.num_models}")
    rng = as_generator(seed)
    starts, ends, rates = azure_like_rates(config, rng)
    meta = {"kind": "azure-synthetic", "config": asdict(config), "seed": seed_meta(seed)}
    return windowed_workload(rates, config.cv, starts, ends, names, rng, meta)
