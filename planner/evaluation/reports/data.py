"""What a solver comparison found, as plain frozen values.

A :class:`CompareReport` holds one :class:`SolverRow` per solver (the
table), :class:`Sweep` curves of attainment against one varied input (the
figures), and per row the :class:`DeviceUse` of every device (the placement
picture). Attainments are fractions in [0, 1], times in seconds, memory in
bytes. JSON forms come from :mod:`planner.codec`; nothing here plots or
does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.domain import Placement, TimedPlan

SWEEP_AXES = ("rate_scale", "cv_scale", "slo_scale", "num_devices")
"""What a sweep varies: the workload's rate or burstiness (CV) by a factor,
every model's SLO as a multiple of its reference latency, or the number of
devices of the cluster."""


@dataclass(frozen=True)
class DeviceUse:
    """What one device holds under a placement.

    ``group`` is the index of its group (-1 when the device is in no group),
    ``config`` the group's parallel config (``"op2xpp1"``; empty when idle)
    and ``stage`` the pipeline stage the device runs. ``weights`` lists
    ``(model, bytes)`` for every model whose stage weights sit on the device;
    ``workspace_bytes`` is the activation workspace reserved next to them."""

    device: int
    group: int
    config: str
    stage: int
    weights: tuple[tuple[str, int], ...]
    workspace_bytes: int

    @property
    def used_bytes(self) -> int:
        return sum(size for _, size in self.weights) + self.workspace_bytes


@dataclass(frozen=True)
class SolverRow:
    """One solver's plan on the report's workload, scored by the simulator.

    ``attainment``, ``goodput_rps`` and the latency percentiles come from one
    simulation of the plan on the real cluster (switches of a timed plan
    cost their load time); ``solver_attainment`` is what the solver itself
    reported (Clockwork++ scores its plan with free switching, so the two
    differ for it). ``solve_s`` is the solver's wall time, ``gap`` its
    relative optimality gap on its proxy objective (None for heuristics).
    ``upper_bound`` is the certified upper bound on the attainment of any
    static placement on the instance and ``gap_points`` ``100 x
    (upper_bound - solver_attainment)``: how far from optimal the plan may
    be (None where the solve gave no bound). ``proxy_rank_correlation`` is
    the exact solver's rank correlation between its proxy and the simulator
    over the plans it visited (None when it does not measure it).
    ``memory_used_bytes`` sums :attr:`DeviceUse.used_bytes` over the devices
    of the first placement. ``switches`` counts plan changes (0 for a static
    plan)."""

    label: str
    solver: str
    status: str
    attainment: float
    solver_attainment: float
    goodput_rps: float
    latency_p50_s: float | None
    latency_p99_s: float | None
    solve_s: float
    gap: float | None
    num_groups: int
    replicas: int
    memory_used_bytes: int
    memory_total_bytes: int
    switches: int
    placement: Placement
    devices: tuple[DeviceUse, ...]
    timed_plan: TimedPlan | None = None
    per_model_attainment: Mapping[str, float] = field(default_factory=dict)
    upper_bound: float | None = None
    gap_points: float | None = None
    proxy_rank_correlation: float | None = None

    def __post_init__(self) -> None:
        for name in ("attainment", "solver_attainment"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {value!r}")
        object.__setattr__(self, "per_model_attainment", dict(self.per_model_attainment))

    @property
    def memory_fraction(self) -> float:
        """Used share of the cluster's device memory."""
        return self.memory_used_bytes / self.memory_total_bytes


@dataclass(frozen=True)
class Sweep:
    """Attainment of every solver as one input varies.

    ``values[i]`` is the i-th setting of ``axis`` (one of
    :data:`SWEEP_AXES`); ``attainment[label][i]`` the simulated attainment
    of that solver's plan, re-solved for that setting (the requests of
    models that fit no group there count as misses), or None when the
    setting admits no placement (e.g. too few devices for every model).
    ``note`` says how the setting was applied. Per label and point, as
    ``attainment``: ``status`` the solve's status (``"infeasible"`` or
    ``"no_solution"`` where it found no placement; a solver that hit its
    time limit says ``timeout`` or ``seed_only``, so a cut-short solve is
    told from a worse plan), ``gap_points`` its certified gap to the bound
    (points) and ``solve_s`` its wall time (s); empty mappings in reports
    made before they were recorded."""

    axis: str
    values: tuple[float, ...]
    attainment: Mapping[str, tuple[float | None, ...]]
    note: str = ""
    status: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    gap_points: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)
    solve_s: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.axis not in SWEEP_AXES:
            raise ValueError(f"axis: must be one of {', '.join(SWEEP_AXES)}; got {self.axis!r}")
        if not self.values:
            raise ValueError("values: needs at least one setting")
        for name in ("attainment", "status", "gap_points", "solve_s"):
            for label, series in getattr(self, name).items():
                if len(series) != len(self.values):
                    raise ValueError(
                        f"{name}.{label}: has {len(series)} points for {len(self.values)} values"
                    )
            object.__setattr__(self, name, dict(getattr(self, name)))


@dataclass(frozen=True)
class CompareReport:
    """Solvers compared on one cluster, model set and workload.

    ``inputs`` describes what was compared (cluster, models, workload and
    settings) as JSON data for the report's header."""

    title: str
    inputs: Mapping[str, Any]
    rows: tuple[SolverRow, ...]
    sweeps: tuple[Sweep, ...] = ()
    kind: str = "compare"

    def __post_init__(self) -> None:
        if self.kind != "compare":
            raise ValueError(f"kind: must be 'compare', got {self.kind!r}")
        labels = [row.label for row in self.rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"rows: labels must be unique, got {labels}")
        object.__setattr__(self, "inputs", dict(self.inputs))

    def row(self, label: str) -> SolverRow:
        """The row of solver ``label`` (KeyError when absent)."""
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    @property
    def best(self) -> SolverRow:
        """The row with the highest attainment (first on ties)."""
        return max(self.rows, key=lambda row: row.attainment)
