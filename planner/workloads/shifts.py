"""Traffic families whose popular set really moves, each from stated
parameters, and their rendering as Azure Functions trace files (the 2019
per-minute counts and the 2021 invocation log).

The Azure trace papers (Shahrad et al., ATC'20; Zhang et al., SOSP'21)
describe three kinds of shift; each is one family. There are
``num_models`` functions (function ``m`` becomes model ``m`` when the file
is replayed with one function per model), the trace lasts ``trace_s``
seconds, and ``total_rate_rps`` is its mean total rate. In minute ``k``
(midpoint ``t``) function ``m`` has the rate ``rate(m, t)``:

- ``diurnal``: every function follows a daily cycle, with phases spread
  evenly (time zones): ``rate(m, t) = R / M x (1 + amplitude x
  sin(2 pi t / period_s + 2 pi m / M))``; the total stays ``R``.
- ``onoff``: function ``m`` is on for ``on_s`` seconds, then off for
  ``off_s``, repeating, its cycle shifted by ``m / M`` of a period; on, its
  rate is ``R / (M x duty)`` with ``duty = on_s / (on_s + off_s)``; off, 0.
- ``rotating``: a hot set of ``hot_count = max(1, round(hot_fraction x M))``
  functions carries ``hot_share`` of the traffic (evenly); the rest share
  the remainder. The set moves every ``rotate_every_s`` seconds: in epoch
  ``e = floor(t / rotate_every_s)`` the hot functions are ``(e x hot_count +
  i) mod M`` for ``i < hot_count``.

``R`` is ``total_rate_rps`` and ``M`` is ``num_models``. Durations must be
whole minutes (the 2019 format counts per minute). :func:`minute_counts`
draws each minute's count from a Poisson law of that rate;
:func:`azure2019_lines` writes them as a 2019 file, :func:`azure2021_lines`
spreads each minute's invocations uniformly over the minute as a 2021 log
(duration 0, so arrival = end timestamp).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.workloads.arrivals import Seed, as_generator, non_negative

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FAMILIES = ("diurnal", "onoff", "rotating")
MINUTE_S = 60.0
FAMILY_DEFAULTS: dict[str, dict[str, float]] = {
    "diurnal": {"trace_s": 86400.0, "period_s": 86400.0, "amplitude": 0.9},
    "onoff": {"trace_s": 43200.0, "on_s": 7200.0, "off_s": 14400.0},
    "rotating": {
        "trace_s": 3600.0,
        "rotate_every_s": 480.0,
        "hot_fraction": 0.25,
        "hot_share": 0.8,
    },
}
"""The experiment's stated parameters per family: a day of diurnal cycles
(amplitude 0.9); 12 hours of functions on for 2 hours and off for 4; an
hour in which a quarter of the functions carries 80 % of the traffic and
the hot set moves every 8 minutes."""


@dataclass(frozen=True)
class ShiftConfig:
    """One traffic family's parameters (module docstring); seconds and
    requests per second of trace time."""

    family: str
    num_models: int = 64
    trace_s: float = 86400.0
    total_rate_rps: float = 1.0
    period_s: float = 86400.0
    amplitude: float = 0.9
    on_s: float = 7200.0
    off_s: float = 14400.0
    hot_fraction: float = 0.25
    hot_share: float = 0.8
    rotate_every_s: float = 480.0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family: must be one of {', '.join(FAMILIES)}; got {self.family!r}")
        if isinstance(self.num_models, bool) or not isinstance(self.num_models, int):
            raise ValueError(f"num_models: must be an integer, got {self.num_models!r}")
        if self.num_models < 1:
            raise ValueError(f"num_models: must be >= 1, got {self.num_models}")
        for name in ("trace_s", "total_rate_rps", "period_s", "on_s", "off_s", "rotate_every_s"):
            if non_negative(name, getattr(self, name)) == 0:
                raise ValueError(f"{name}: must be > 0")
        for name in ("trace_s", "on_s", "off_s", "rotate_every_s"):
            if getattr(self, name) % MINUTE_S:
                raise ValueError(f"{name}: must be whole minutes, got {getattr(self, name)!r}")
        for name in ("amplitude", "hot_fraction", "hot_share"):
            value = non_negative(name, getattr(self, name))
            if value > 1:
                raise ValueError(f"{name}: must be in [0, 1], got {value!r}")

    @property
    def minutes(self) -> int:
        return round(self.trace_s / MINUTE_S)

    @property
    def hot_count(self) -> int:
        return max(1, round(self.hot_fraction * self.num_models))

    @property
    def duty(self) -> float:
        """The fraction of time an ``onoff`` function is on."""
        return self.on_s / (self.on_s + self.off_s)


def family_config(family: str, num_models: int, total_requests: float) -> ShiftConfig:
    """``family`` with :data:`FAMILY_DEFAULTS` for ``num_models`` functions,
    its rate set so that the trace holds ``total_requests`` on average."""
    defaults = FAMILY_DEFAULTS.get(family, {})
    trace_s = defaults.get("trace_s", ShiftConfig.trace_s)
    return ShiftConfig(
        family,
        num_models=num_models,
        total_rate_rps=total_requests / trace_s,
        **defaults,
    )


def minute_rates(config: ShiftConfig) -> FloatArray:
    """``rate(m, t)`` (requests/s) at every minute's midpoint, shape
    ``(num_models, minutes)`` (module docstring)."""
    count, m = config.num_models, np.arange(config.num_models)[:, None]
    t = (np.arange(config.minutes) + 0.5)[None, :] * MINUTE_S
    mean = config.total_rate_rps / count
    if config.family == "diurnal":
        phase = 2 * np.pi * t / config.period_s + 2 * np.pi * m / count
        return mean * (1 + config.amplitude * np.sin(phase))
    if config.family == "onoff":
        cycle_s = config.on_s + config.off_s
        position = (t - cycle_s * m / count) % cycle_s
        return np.where(position < config.on_s, mean / config.duty, 0.0)
    hot = config.hot_count
    epoch = np.floor(t / config.rotate_every_s).astype(np.int64)
    rank = (m - epoch * hot) % count  # rank < hot: in the hot set
    cold = count - hot
    hot_rate = config.total_rate_rps * (config.hot_share if cold else 1.0) / hot
    cold_rate = config.total_rate_rps * (1 - config.hot_share) / cold if cold else 0.0
    return np.where(rank < hot, hot_rate, cold_rate)


def minute_counts(config: ShiftConfig, seed: Seed) -> IntArray:
    """Poisson draws of every function's invocations in every minute."""
    return as_generator(seed).poisson(minute_rates(config) * MINUTE_S).astype(np.int64)


def function_name(m: int) -> str:
    return f"f{m:04d}"


def azure2019_lines(counts: IntArray) -> Iterator[str]:
    """A 2019 trace file (one day of minute columns; minutes past the
    counts' end count 0) holding ``counts`` (functions x minutes)."""
    minutes = counts.shape[1]
    if minutes > 1440:
        raise ValueError(f"counts: a 2019 file holds one day (1440 minutes), got {minutes}")
    columns = ",".join(str(k) for k in range(1, 1441))
    yield f"HashOwner,HashApp,HashFunction,Trigger,{columns}"
    padding = ",0" * (1440 - minutes)
    for m, row in enumerate(counts.tolist()):
        name = function_name(m)
        yield f"owner,app-{name},{name},http," + ",".join(map(str, row)) + padding


def azure2021_lines(counts: IntArray, seed: Seed) -> Iterator[str]:
    """A 2021 invocation log holding ``counts`` (functions x minutes): each
    minute's invocations at uniform instants of the minute, duration 0,
    ordered by end timestamp as the published file is."""
    rng = as_generator(seed)
    functions, minutes = np.nonzero(counts)
    repeats = counts[functions, minutes]
    ids = np.repeat(functions, repeats)
    times = (np.repeat(minutes, repeats) + rng.random(ids.size)) * MINUTE_S
    order = np.argsort(times, kind="stable")
    yield "app,func,end_timestamp,duration"
    for m, at in zip(ids[order].tolist(), times[order].tolist(), strict=True):
        name = function_name(m)
        yield f"app-{name},{name},{at:.6f},0"
