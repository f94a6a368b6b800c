"""Seeded renewal arrival processes: Poisson(rate) and Gamma(rate, cv).

A Gamma(rate, cv) process has independent inter-arrival gaps drawn from a
Gamma distribution with shape ``1 / cv**2`` and scale ``cv**2 / rate``: the
mean gap is ``1 / rate`` seconds and the gaps' coefficient of variation is
``cv``. ``cv = 1`` is the Poisson process; ``cv = 0`` (any cv below
:data:`MIN_CV`) is the deterministic process with gaps of exactly
``1 / rate``. A process started at ``start_s`` has its first arrival one gap
after ``start_s``. Rates so small that a gap overflows draw nothing. A
process's CV is at most :data:`MAX_CV`.

Every function takes an explicit seed or ``numpy.random.Generator``; the same
seed gives the same arrivals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from planner.domain import Workload

MIN_CV = 1e-9
MAX_CV = 100.0
"""The largest CV of a process: beyond it almost every gap is 0 and the
draw batches, sized by the CV, grow without bound."""

Seed = int | np.random.Generator
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def as_generator(seed: Seed) -> np.random.Generator:
    """A Generator from a seed (``int``) or the Generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer or a Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def seed_meta(seed: Seed) -> int | None:
    """The seed to record in a workload's meta (None for a Generator)."""
    return None if isinstance(seed, np.random.Generator) else int(seed)


def non_negative(field: str, value: object) -> float:
    """``value`` as a float; ValueError naming ``field`` unless finite and >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{field}: must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field}: must be finite and >= 0, got {value!r}")
    return float(value)


def process_cv(value: object) -> float:
    """``value`` as a process's CV; ValueError naming ``cv`` unless finite and
    in ``[0, MAX_CV]``."""
    cv = non_negative("cv", value)
    if cv > MAX_CV:
        raise ValueError(f"cv: must be at most {MAX_CV:g}, got {cv!r}")
    return cv


def default_model_names(count: int) -> tuple[str, ...]:
    """``("m0", "m1", ...)``: names for ``count`` anonymous models."""
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise ValueError(f"models: must be a positive integer, got {count!r}")
    return tuple(f"m{i}" for i in range(count))


@dataclass(frozen=True)
class ProcessSpec:
    """One model's arrival process: mean rate (requests/s) and the CV of
    its inter-arrival gaps (1 = Poisson)."""

    rate_rps: float
    cv: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_rps", non_negative("rate_rps", self.rate_rps))
        object.__setattr__(self, "cv", process_cv(self.cv))


def _gamma_gaps(rate_rps: FloatArray, cv: FloatArray, rng: np.random.Generator) -> FloatArray:
    """One gap (s) per entry: Gamma(shape 1/cv², scale cv²/rate), or exactly
    1/rate where cv < :data:`MIN_CV`. Rates must be > 0."""
    deterministic = cv < MIN_CV
    square = np.where(deterministic, 1.0, cv * cv)
    draws = rng.gamma(1.0 / square, square / rate_rps)
    return np.where(deterministic, 1.0 / rate_rps, draws)


def renewal_cells(
    rates_rps: FloatArray,
    cvs: FloatArray,
    starts_s: FloatArray,
    ends_s: FloatArray,
    rng: np.random.Generator,
) -> tuple[FloatArray, IntArray]:
    """Draw an independent Gamma renewal process for every cell ``c`` (all
    arguments are 1-d arrays of one entry per cell): rate ``rates_rps[c]``,
    CV ``cvs[c]``, started at ``starts_s[c]``, arrivals kept in
    ``[starts_s[c], ends_s[c])``. Cells with rate 0 get nothing.

    Returns ``(times_s, cell)``: every arrival and the index of its cell,
    grouped by draw round (not globally sorted). Gaps are drawn in batches
    sized to the expected count, so the work is vectorised over cells.
    """
    rates = np.asarray(rates_rps, dtype=np.float64)
    cv_all = np.asarray(cvs, dtype=np.float64)
    starts = np.asarray(starts_s, dtype=np.float64)
    ends = np.asarray(ends_s, dtype=np.float64)
    active = np.flatnonzero((rates > 0) & (ends > starts))
    clock = starts[active]
    times: list[FloatArray] = []
    cells: list[IntArray] = []
    while active.size:
        rate, cv, end = rates[active], cv_all[active], ends[active]
        expected = rate * (end - clock)
        batch = np.ceil(expected + 4.0 * np.sqrt(expected) * np.maximum(cv, 1.0) + 4.0)
        batch = batch.astype(np.int64)
        owner = np.repeat(np.arange(active.size), batch)
        with np.errstate(over="ignore", divide="ignore"):
            gaps = _gamma_gaps(rate[owner], cv[owner], rng)
        # A gap longer than the cell's remaining span ends the cell whatever
        # its length, so gaps are capped there: the running sum over all
        # cells stays small (precise) and finite even for tiny rates.
        total = np.cumsum(np.minimum(gaps, (end - clock)[owner] + 1.0))
        last = np.cumsum(batch) - 1
        before = np.concatenate(([0.0], total[last[:-1]]))
        drawn = clock[owner] + (total - before[owner])
        keep = drawn < end[owner]
        times.append(drawn[keep])
        cells.append(active[owner[keep]])
        unfinished = drawn[last] < end
        clock = drawn[last][unfinished]
        active = active[unfinished]
    if not times:
        return np.empty(0), np.empty(0, dtype=np.int64)
    return np.concatenate(times), np.concatenate(cells)


def assemble(
    times_s: FloatArray,
    model_ids: npt.ArrayLike,
    model_names: Sequence[str],
    duration_s: float,
    meta: Mapping[str, Any],
) -> Workload:
    """A Workload from unsorted arrivals; ties are ordered by model id."""
    ids = np.asarray(model_ids, dtype=np.int32)
    order = np.lexsort((ids, times_s))
    return Workload(times_s[order], ids[order], tuple(model_names), duration_s, meta)


class ArrivalBudgetError(ValueError):
    """A generator would draw more arrivals than its caller allows: the
    expected count (rates times window lengths) exceeds ``limit``."""

    def __init__(self, expected: float, limit: int) -> None:
        super().__init__(f"would generate about {expected:.3g} arrivals, more than {limit}")
        self.expected = expected
        self.limit = limit


def windowed_workload(
    rates_rps: npt.ArrayLike,
    cvs: npt.ArrayLike,
    starts_s: FloatArray,
    ends_s: FloatArray,
    model_names: Sequence[str],
    seed: Seed,
    meta: Mapping[str, Any],
    max_arrivals: int | None = None,
) -> Workload:
    """A Workload over ``[0, ends_s[-1])`` in which model ``m`` follows a
    Gamma(``rates_rps[m, k]``, ``cvs[m, k]``) process restarted at the start
    of every window ``k = [starts_s[k], ends_s[k])``. ``cvs`` may be a scalar
    or broadcast to the rates' shape ``(num_models, num_windows)``. With
    ``max_arrivals``, :class:`ArrivalBudgetError` is raised before anything
    is drawn when the expected count exceeds it."""
    rates = np.asarray(rates_rps, dtype=np.float64)
    windows = starts_s.size
    if rates.shape != (len(model_names), windows):
        raise ValueError(
            f"rates_rps: shape {rates.shape} is not (models, windows) = "
            f"({len(model_names)}, {windows})"
        )
    if max_arrivals is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            expected = float(np.sum(rates * (ends_s - starts_s)))
        if not expected <= max_arrivals:
            raise ArrivalBudgetError(expected, max_arrivals)
    cv = np.broadcast_to(np.asarray(cvs, dtype=np.float64), rates.shape)
    if not (np.all(np.isfinite(rates)) and np.all(rates >= 0)):
        raise ValueError("rates_rps: must be finite and >= 0")
    if not (np.all(np.isfinite(cv)) and np.all(cv >= 0)):
        raise ValueError("cvs: must be finite and >= 0")
    times, cell = renewal_cells(
        rates.ravel(),
        cv.ravel(),
        np.tile(starts_s, len(model_names)),
        np.tile(ends_s, len(model_names)),
        as_generator(seed),
    )
    return assemble(times, cell // windows, model_names, float(ends_s[-1]), meta)


def gamma_arrivals(
    rate_rps: float, cv: float, duration_s: float, seed: Seed, start_s: float = 0.0
) -> FloatArray:
    """Sorted arrival times (s) of a Gamma(rate_rps, cv) process in
    ``[start_s, start_s + duration_s)``."""
    non_negative("rate_rps", rate_rps)
    process_cv(cv)
    if not duration_s > 0:
        raise ValueError(f"duration_s: must be > 0, got {duration_s!r}")
    times, _ = renewal_cells(
        np.array([rate_rps], dtype=np.float64),
        np.array([cv], dtype=np.float64),
        np.array([start_s], dtype=np.float64),
        np.array([start_s + duration_s], dtype=np.float64),
        as_generator(seed),
    )
    return times


def poisson_arrivals(
    rate_rps: float, duration_s: float, seed: Seed, start_s: float = 0.0
) -> FloatArray:
    """Sorted arrival times (s) of a Poisson(rate_rps) process in
    ``[start_s, start_s + duration_s)``."""
    return gamma_arrivals(rate_rps, 1.0, duration_s, seed, start_s)


def process_workload(specs: Mapping[str, ProcessSpec], duration_s: float, seed: Seed) -> Workload:
    """A multi-model Workload over ``[0, duration_s)``: model ``name`` gets
    arrivals from ``specs[name]``. Each model draws from its own child
    stream of ``seed`` (``Generator.spawn``), so a model's arrivals do not
    change when another model's rate does."""
    if not specs:
        raise ValueError("specs: needs at least one model")
    children = as_generator(seed).spawn(len(specs))
    per_model = [
        gamma_arrivals(spec.rate_rps, spec.cv, duration_s, child)
        for spec, child in zip(specs.values(), children, strict=True)
    ]
    ids = np.repeat(np.arange(len(per_model)), [t.size for t in per_model])
    meta = {
        "kind": "process",
        "seed": seed_meta(seed),
        "processes": {
            name: {"rate_rps": spec.rate_rps, "cv": spec.cv} for name, spec in specs.items()
        },
    }
    return assemble(np.concatenate(per_model), ids, tuple(specs), duration_s, meta)
