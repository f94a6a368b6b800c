"""The partition master: the exact model that chooses the group partition,
each group's parallel config and its replicas at once.

Indices: ``k`` a column (:class:`planner.placement.columns.Column`: a
config and the models a group of it hosts), ``m`` a model, ``w`` a demand
window (:func:`planner.placement.proxy.demand_windows`), ``j`` a segment of
``m``'s served-fraction curve (:mod:`planner.placement.calibration`).

- ``n[k]`` (integer ``0..devices // size``): how many identical groups of
  column ``k``; identical groups are one count, so the model has no
  symmetry between groups. ``sum_k size[k] * n[k] <= devices``.
- ``x[m, k, w]`` (integer): requests of ``m`` the ``n[k]`` groups serve in
  window ``w``; per window ``sum_m cost[m, c_k] * x[m, k, w] <= window *
  n[k]`` (a group's bottleneck-stage time, shared by its busy models) and
  ``sum_k x[m, k, w] <= demand[w, m]``.
- ``s[m]`` (integer, weighted requests): ``s[m] <= base[m] + sum_w
  weight[w] * sum_k x[m, k, w]`` (the windowed fluid model) and, for every
  curve segment, ``SCALE * s[m] <= intercept[m, j] + sum_k slope[m, j,
  c_k] * n[k]`` (the calibrated curve of the model's replica capacity).
- objective: maximise ``sum_m s[m]``.

Memory is exact in the columns (every column fits), and tensor-parallel
stages stay within a node because group sizes divide a node or are whole
nodes and groups are laid largest first on consecutive devices
(:func:`place`); the validator checks every decoded plan regardless.

For large-neighbourhood search the master is built on a subset of the
devices with the other groups fixed (``fixed``): their service is
subtracted from the windows' demand and counted in ``base``, and their
replicas' capacity in the curves' intercepts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner.domain import ParallelConfig
from planner.placement.calibration import ServedCurve, rate_rps
from planner.placement.columns import Column
from planner.placement.formulation import Backend
from planner.placement.scoring import Layout, Scorer

SCALE = 1000
"""Fixed-point scale of the curve constraints."""


@dataclass(frozen=True)
class MasterData:
    """Everything the master needs, in integers (module docstring).
    ``objective_models`` are the models with an ``s`` variable."""

    columns: tuple[Column, ...]
    devices: int
    cost_us: Mapping[tuple[int, ParallelConfig], int]
    window_us: int
    demand: tuple[tuple[int, ...], ...]
    window_weight: tuple[int, ...]
    objective_models: tuple[int, ...]
    model_demand: Mapping[int, int]
    base: Mapping[int, int]
    intercept: Mapping[int, tuple[int, ...]]
    slope: Mapping[tuple[int, ParallelConfig], tuple[int, ...]]

    @functools.cached_property
    def hosting(self) -> dict[int, tuple[int, ...]]:
        """Model → the columns hosting it."""
        found: dict[int, list[int]] = {m: [] for m in self.objective_models}
        for k, column in enumerate(self.columns):
            for m in column.models:
                found[m].append(k)
        return {m: tuple(ks) for m, ks in found.items()}

    def max_count(self, k: int) -> int:
        return self.devices // self.columns[k].config.size

    @property
    def weighted_demand(self) -> int:
        """Sum of the objective models' weighted demand (an objective of
        this serves every request)."""
        return sum(self.model_demand[m] for m in self.objective_models)


@dataclass(frozen=True)
class MasterVars:
    """The variables of one built master (never returned by a solver)."""

    count: tuple[Any, ...]
    served: dict[tuple[int, int, int], Any]
    model: dict[int, Any]
    objective: Any


def window_service(
    cost_us: Mapping[tuple[int, ParallelConfig], int],
    window_us: int,
    demand: Sequence[int],
    groups: Iterable[tuple[ParallelConfig, Sequence[int], int]],
) -> tuple[list[int], dict[tuple[int, int], int]]:
    """A feasible service in one window: ``groups`` (config, models,
    copies) in order serve their models' remaining demand, models in order,
    within ``copies * window_us``. Returns the remaining demand and the
    amount per ``(model, group index)``."""
    remaining = list(demand)
    served: dict[tuple[int, int], int] = {}
    for g, (config, models, copies) in enumerate(groups):
        budget = copies * window_us
        for m in models:
            cost = cost_us.get((m, config))
            if cost is None or remaining[m] == 0 or budget < cost:
                continue
            amount = min(remaining[m], budget // cost)
            served[m, g] = amount
            remaining[m] -= amount
            budget -= amount * cost
    return remaining, served


@dataclass(frozen=True)
class Windows:
    """The proxy's demand windows: per window the scored requests per model,
    the windows each stands for, and the window length in microseconds."""

    demand: tuple[tuple[int, ...], ...]
    weight: tuple[int, ...]
    window_us: int


def master_data(
    scorer: Scorer,
    columns: Sequence[Column],
    devices: int,
    curves: Mapping[int, ServedCurve],
    windows: Windows,
    cost_us: Mapping[tuple[int, ParallelConfig], int],
    fixed: Layout | None = None,
) -> MasterData:
    """The master on ``devices`` devices over ``columns`` (module
    docstring), with the groups of ``fixed`` (if any) kept as they are."""
    groups = [] if fixed is None else list(zip(fixed.configs, fixed.hosted, strict=True))
    base_rho: dict[int, float] = {}
    for config, hosted in groups:
        for m in hosted:
            if (m, config) in cost_us:
                ratio = thr_ratio(scorer, cost_us, m, config)
                base_rho[m] = base_rho.get(m, 0.0) + ratio
    residual = []
    base: dict[int, int] = {}
    for weight, demand in zip(windows.weight, windows.demand, strict=True):
        remaining, _ = window_service(
            cost_us, windows.window_us, demand, ((c, h, 1) for c, h in groups)
        )
        residual.append(tuple(remaining))
        for m, (before, after) in enumerate(zip(demand, remaining, strict=True)):
            if before > after:
                base[m] = base.get(m, 0) + weight * (before - after)
    models = sorted({m for column in columns for m in column.models})
    model_demand = {
        m: sum(w * d[m] for w, d in zip(windows.weight, windows.demand, strict=True))
        for m in models
    }
    intercept: dict[int, tuple[int, ...]] = {}
    slope: dict[tuple[int, ParallelConfig], tuple[int, ...]] = {}
    configs = {column.config for column in columns}
    for m in models:
        curve = curves[m]
        total = SCALE * model_demand[m]
        intercept[m] = tuple(
            math.floor(total * (a + b * base_rho.get(m, 0.0))) for a, b in curve.segments
        )
        for config in configs:
            if (m, config) in cost_us:
                ratio = thr_ratio(scorer, cost_us, m, config)
                slope[m, config] = tuple(math.floor(total * b * ratio) for _, b in curve.segments)
    return MasterData(
        columns=tuple(columns),
        devices=devices,
        cost_us=cost_us,
        window_us=windows.window_us,
        demand=tuple(residual),
        window_weight=windows.weight,
        objective_models=tuple(models),
        model_demand=model_demand,
        base={m: base.get(m, 0) for m in models},
        intercept=intercept,
        slope=slope,
    )


def thr_ratio(
    scorer: Scorer, cost_us: Mapping[tuple[int, ParallelConfig], int], m: int, c: ParallelConfig
) -> float:
    """One replica's throughput of ``m`` under ``c`` over ``m``'s rate."""
    return 1e6 / cost_us[m, c] / rate_rps(scorer, m)


def build(backend: Backend, data: MasterData) -> MasterVars:
    """The whole master (module docstring)."""
    count = tuple(backend.int_var(0, data.max_count(k), f"n_{k}") for k in range(len(data.columns)))
    backend.add(
        backend.total(column.config.size * n for column, n in zip(data.columns, count, strict=True))
        <= data.devices
    )
    x: dict[tuple[int, int, int], Any] = {}
    weighted: dict[int, list[Any]] = {m: [] for m in data.objective_models}
    for w, demand in enumerate(data.demand):
        per_window: dict[int, list[Any]] = {}
        for k, column in enumerate(data.columns):
            terms = []
            for m in column.models:
                if demand[m] == 0:
                    continue
                var = backend.int_var(0, demand[m], f"x_{m}_{k}_{w}")
                x[m, k, w] = var
                terms.append(data.cost_us[m, column.config] * var)
                per_window.setdefault(m, []).append(var)
                weighted[m].append(data.window_weight[w] * var)
            if terms:
                backend.add(backend.total(terms) <= data.window_us * count[k])
        for m, vars_ in per_window.items():
            if len(vars_) > 1:
                backend.add(backend.total(vars_) <= demand[m])
    served: dict[int, Any] = {}
    for m in data.objective_models:
        s = backend.int_var(0, data.model_demand[m], f"s_{m}")
        served[m] = s
        backend.add(s <= data.base[m] + backend.total(weighted[m]))
        for j, intercept in enumerate(data.intercept[m]):
            capacity = backend.total(
                data.slope[m, data.columns[k].config][j] * count[k] for k in data.hosting[m]
            )
            backend.add(SCALE * s <= intercept + capacity)
    objective = backend.total(served.values())
    backend.maximize(objective)
    return MasterVars(count, x, served, objective)


@dataclass(frozen=True)
class Evaluation:
    """A feasible solution of the master for given column counts."""

    objective: int
    served: dict[tuple[int, int, int], int]
    model: dict[int, int]


def evaluate(data: MasterData, counts: Sequence[int]) -> Evaluation:
    """A feasible solution with these column counts (service by
    :func:`window_service`, columns in order): a lower bound on the
    master's optimum with the counts fixed, and the proxy value the solvers
    report for a plan they visit."""
    x: dict[tuple[int, int, int], int] = {}
    fluid = {m: data.base[m] for m in data.objective_models}
    groups = [(c.config, c.models, n) for c, n in zip(data.columns, counts, strict=True)]
    for w, demand in enumerate(data.demand):
        _, served = window_service(data.cost_us, data.window_us, demand, groups)
        for (m, k), amount in served.items():
            x[m, k, w] = amount
            fluid[m] += data.window_weight[w] * amount
    model: dict[int, int] = {}
    for m in data.objective_models:
        hosting = [(data.columns[k].config, counts[k]) for k in data.hosting[m]]
        curve = min(
            (a + sum(data.slope[m, c][j] * n for c, n in hosting)) // SCALE
            for j, a in enumerate(data.intercept[m])
        )
        model[m] = max(0, min(fluid[m], curve, data.model_demand[m]))
    return Evaluation(sum(model.values()), x, model)


def hint(data: MasterData, variables: MasterVars, counts: Sequence[int]) -> dict[Any, int]:
    """Values for every variable: the counts and :func:`evaluate`'s service."""
    found = evaluate(data, counts)
    values: dict[Any, int] = dict(zip(variables.count, counts, strict=True))
    for key, var in variables.served.items():
        values[var] = found.served.get(key, 0)
    for m, var in variables.model.items():
        values[var] = found.model[m]
    return values


def decode(data: MasterData, variables: MasterVars, value: Callable[[Any], float]) -> list[int]:
    """Column counts of a solution (``value`` reads a variable; the caller
    guarantees integrality)."""
    return [round(value(n)) for n in variables.count]


def place(
    data: MasterData, counts: Sequence[int], devices: Sequence[int]
) -> tuple[list[tuple[int, ...]], Layout]:
    """The groups of ``counts`` on ``devices`` (sorted; consecutive runs,
    largest groups first): per group its devices, and the layout."""
    groups = sorted(
        (column for column, n in zip(data.columns, counts, strict=True) for _ in range(n)),
        key=lambda column: (-column.config.size, column),
    )
    ordered = sorted(devices)
    placed: list[tuple[int, ...]] = []
    start = 0
    for column in groups:
        placed.append(tuple(ordered[start : start + column.config.size]))
        start += column.config.size
    layout = Layout(tuple(c.config for c in groups), tuple(c.models for c in groups))
    return placed, layout


def counts_of(data: MasterData, layout: Layout) -> list[int]:
    """Column counts describing ``layout``'s non-empty groups (every one
    must be a column)."""
    index = {column: k for k, column in enumerate(data.columns)}
    counts = [0] * len(data.columns)
    for config, hosted in zip(layout.configs, layout.hosted, strict=True):
        if hosted:
            counts[index[Column(config, hosted)]] += 1
    return counts
