"""The placement proxy as a mixed-integer program, written once against a
small :class:`Backend` protocol that CP-SAT (:mod:`planner.placement.cpsat`) and PuLP
(:mod:`planner.placement.milp`) implement.

Indices: ``m`` model, ``g`` group, ``c`` a config the group may run, ``w``
a demand window (see :mod:`planner.placement.proxy` for the data).

- ``y[g, c]`` (bool): group ``g`` runs config ``c``; exactly one per group.
- ``z[m, g, c]`` (bool): a replica of ``m`` on ``g`` under ``c``; only for
  usable pairs; ``z <= y``.
- memory: on every stage ``s`` of ``c``,
  ``sum_m weight[m, c, s] * z[m, g, c] + A[g, c] <= memory * y[g, c]`` with
  the workspace ``A[g, c] >= workspace[m, c] * z[m, g, c]`` (the
  validator's memory model).
- serving: ``x[m, g, c, w] <= demand[w, m] * z[m, g, c]``; the budget
  ``sum_m cost[m, c] * x[m, g, c, w] <= window * y[g, c]``; and a model's
  requests are served once: ``sum_{g, c} x[m, g, c, w] <= demand[w, m]``.
- objective: maximise ``sum weight[w] * x[m, g, c, w]`` (requests served
  within SLO, weighted by how many windows each sample stands for).

Each ``add_*`` function is one module, tested alone. Solver variables never
leave :mod:`planner.placement.cpsat` / :mod:`planner.placement.milp`: they decode a solution
into a :class:`planner.placement.scoring.Layout` with :func:`decode`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from planner.domain import ParallelConfig
from planner.placement.proxy import ProxyData
from planner.placement.scoring import Layout


class Backend(Protocol):
    """What a formulation needs from a modelling library."""

    def bool_var(self, name: str) -> Any: ...

    def int_var(self, low: int, high: int, name: str) -> Any: ...

    def add(self, constraint: Any) -> None: ...

    def total(self, terms: Iterable[Any]) -> Any: ...

    def maximize(self, objective: Any) -> None: ...


ConfigKey = tuple[int, ParallelConfig]
ReplicaKey = tuple[int, int, ParallelConfig]
ServeKey = tuple[int, int, ParallelConfig, int]


@dataclass(frozen=True)
class ProxyVars:
    """The variables of one built model (never returned by a solver)."""

    config: dict[ConfigKey, Any]
    replica: dict[ReplicaKey, Any]
    served: dict[ServeKey, Any]
    objective: Any


def add_config_choice(backend: Backend, data: ProxyData) -> dict[ConfigKey, Any]:
    """``y[g, c]`` with exactly one config per group."""
    y = {}
    for g, group in enumerate(data.groups):
        for c in group.configs:
            y[g, c] = backend.bool_var(f"y_{g}_{c}")
        backend.add(backend.total(y[g, c] for c in group.configs) == 1)
    return y


def add_replicas(
    backend: Backend, data: ProxyData, y: dict[ConfigKey, Any]
) -> dict[ReplicaKey, Any]:
    """``z[m, g, c] <= y[g, c]`` for usable (model, config) pairs."""
    z = {}
    for g, group in enumerate(data.groups):
        for c in group.configs:
            for m in range(data.num_models):
                if data.usable(m, c):
                    z[m, g, c] = backend.bool_var(f"z_{m}_{g}_{c}")
                    backend.add(z[m, g, c] <= y[g, c])
    return z


def add_memory(
    backend: Backend, data: ProxyData, y: dict[ConfigKey, Any], z: dict[ReplicaKey, Any]
) -> None:
    """Per-device memory of every stage of every group (module docstring)."""
    for g, group in enumerate(data.groups):
        for c in group.configs:
            hosted = [m for m in range(data.num_models) if (m, g, c) in z]
            if not hosted:
                continue
            reserve = max(data.workspace_units[m, c] for m in hosted)
            workspace: Any = 0
            if reserve:
                workspace = backend.int_var(0, reserve, f"ws_{g}_{c}")
                for m in hosted:
                    backend.add(workspace >= data.workspace_units[m, c] * z[m, g, c])
            for s in range(c.pp):
                used = backend.total(data.weight_units[m, c][s] * z[m, g, c] for m in hosted)
                backend.add(used + workspace <= data.memory_units * y[g, c])


def add_serving(
    backend: Backend, data: ProxyData, y: dict[ConfigKey, Any], z: dict[ReplicaKey, Any]
) -> dict[ServeKey, Any]:
    """Served requests per (model, group, config, window) under each group's
    budget and each model's demand (module docstring)."""
    x: dict[ServeKey, Any] = {}
    for w, demand in enumerate(data.demand):
        flows: list[list[Any]] = [[] for _ in range(data.num_models)]
        for g, group in enumerate(data.groups):
            for c in group.configs:
                terms = []
                for m in range(data.num_models):
                    if (m, g, c) not in z or demand[m] == 0:
                        continue
                    x[m, g, c, w] = backend.int_var(0, demand[m], f"x_{m}_{g}_{c}_{w}")
                    backend.add(x[m, g, c, w] <= demand[m] * z[m, g, c])
                    terms.append(data.cost_us[m, c] * x[m, g, c, w])
                    flows[m].append(x[m, g, c, w])
                if terms:
                    backend.add(backend.total(terms) <= data.window_us * y[g, c])
        for m, model_flows in enumerate(flows):
            if len(model_flows) > 1:
                backend.add(backend.total(model_flows) <= demand[m])
    return x


def add_objective(backend: Backend, data: ProxyData, x: dict[ServeKey, Any]) -> Any:
    """Maximise weighted served requests; returns the objective expression."""
    objective = backend.total(data.window_weight[key[3]] * var for key, var in x.items())
    backend.maximize(objective)
    return objective


def build(backend: Backend, data: ProxyData) -> ProxyVars:
    """The whole formulation."""
    y = add_config_choice(backend, data)
    z = add_replicas(backend, data, y)
    add_memory(backend, data, y, z)
    x = add_serving(backend, data, y, z)
    return ProxyVars(y, z, x, add_objective(backend, data, x))


def decode(data: ProxyData, variables: ProxyVars, value: Callable[[Any], float]) -> Layout:
    """The layout a solution describes (``value`` reads a variable; a value
    above one half counts as 1, the caller guarantees integrality)."""
    configs = []
    hosted = []
    for g, group in enumerate(data.groups):
        chosen = [c for c in group.configs if value(variables.config[g, c]) > 0.5]
        config = chosen[0] if chosen else group.configs[0]
        configs.append(config)
        hosted.append(
            tuple(
                m
                for m in range(data.num_models)
                if (m, g, config) in variables.replica
                and value(variables.replica[m, g, config]) > 0.5
            )
        )
    return Layout(tuple(configs), tuple(hosted))


def fill(data: ProxyData, layout: Layout) -> dict[ServeKey, int]:
    """A feasible assignment of served requests for a fixed layout: per
    window, groups in order serve their models' remaining demand, models in
    index order, within the group's budget. Used for solver hints and to
    score a layout by the proxy (a lower bound on its proxy optimum)."""
    served: dict[ServeKey, int] = {}
    for w, demand in enumerate(data.demand):
        remaining = list(demand)
        for g, (config, models) in enumerate(zip(layout.configs, layout.hosted, strict=True)):
            budget = data.window_us
            for m in models:
                if not data.usable(m, config) or remaining[m] == 0:
                    continue
                amount = min(remaining[m], budget // data.cost_us[m, config])
                if amount:
                    served[m, g, config, w] = amount
                    remaining[m] -= amount
                    budget -= amount * data.cost_us[m, config]
    return served


def proxy_value(data: ProxyData, served: dict[ServeKey, int]) -> int:
    """Objective value of served requests."""
    return sum(data.window_weight[key[3]] * amount for key, amount in served.items())


def hint(data: ProxyData, variables: ProxyVars, layout: Layout) -> dict[Any, int]:
    """Values for every variable describing ``layout`` (served by
    :func:`fill`); replicas unusable in the proxy are left out."""
    values: dict[Any, int] = {}
    for (g, c), var in variables.config.items():
        values[var] = int(layout.configs[g] == c)
    for (m, g, c), var in variables.replica.items():
        values[var] = int(layout.configs[g] == c and m in layout.hosted[g])
    served = fill(data, layout)
    for key, var in variables.served.items():
        values[var] = served.get(key, 0)
    return values
