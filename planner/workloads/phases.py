"""Popularity that shifts: a trace in phases of equal length, each with its
own hot set of models (the live re-placement demo's traffic).

In phase ``k`` (``[k * phase_s, (k + 1) * phase_s)``) every model of
``hot_sets[k]`` follows a Gamma(``hot_rps``, ``cv``) process, every model
of another phase's hot set a Gamma(``off_rps``, ``cv``) one, and every
model in no hot set (the background) a Gamma(``cold_rps``, ``cv``) one,
each restarted at the phase's start
(:func:`planner.workloads.arrivals.windowed_workload`), seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.domain import Workload
from planner.workloads.arrivals import Seed, windowed_workload


@dataclass(frozen=True)
class PhaseShift:
    """The stated parameters of a phase-shift trace (ValueError naming the
    field when they do not make one): model names, the hot set of each
    phase, the phase length (s), the rates (requests/s per model) of a hot
    model, of a background one (in no hot set) and of a model hot in
    another phase, and the arrivals' coefficient of variation."""

    models: tuple[str, ...]
    hot_sets: tuple[tuple[str, ...], ...]
    phase_s: float
    hot_rps: float
    cold_rps: float
    cv: float = 1.0
    off_rps: float = 0.0

    def __post_init__(self) -> None:
        if not self.hot_sets:
            raise ValueError("hot_sets: needs at least one phase")
        for k, hot in enumerate(self.hot_sets):
            unknown = sorted(set(hot) - set(self.models))
            if unknown:
                raise ValueError(f"hot_sets[{k}]: {', '.join(unknown)} not in models")
        if not self.phase_s > 0:
            raise ValueError(f"phase_s: must be > 0, got {self.phase_s}")
        for name in ("cold_rps", "off_rps"):
            value = getattr(self, name)
            if not 0 <= value <= self.hot_rps:
                raise ValueError(f"{name}: must be in [0, hot_rps={self.hot_rps}], got {value}")

    @property
    def duration_s(self) -> float:
        return self.phase_s * len(self.hot_sets)

    def rates_rps(self) -> np.ndarray:
        """Requests/s of model ``m`` (``models`` order) in phase ``k``: ``[m, k]``."""
        ever_hot = {name for hot in self.hot_sets for name in hot}

        def rate(name: str, hot: tuple[str, ...]) -> float:
            if name in hot:
                return self.hot_rps
            return self.off_rps if name in ever_hot else self.cold_rps

        return np.array([[rate(name, hot) for hot in self.hot_sets] for name in self.models])

    def workload(self, seed: Seed) -> Workload:
        phases = len(self.hot_sets)
        starts = np.arange(phases, dtype=np.float64) * self.phase_s
        return windowed_workload(
            self.rates_rps(),
            self.cv,
            starts,
            starts + self.phase_s,
            self.models,
            seed,
            {
                "kind": "phase-shift",
                "phase_s": self.phase_s,
                "hot_sets": [list(h) for h in self.hot_sets],
            },
        )


def rotating_hot_sets(models: Sequence[str], phases: int, size: int) -> tuple[tuple[str, ...], ...]:
    """Hot sets that move through ``models``: phase ``k`` heats the ``size``
    models from index ``k * size`` on (wrapping around)."""
    if not 1 <= size <= len(models):
        raise ValueError(f"size: must be in [1, {len(models)}], got {size}")
    return tuple(
        tuple(models[(k * size + i) % len(models)] for i in range(size)) for k in range(phases)
    )
