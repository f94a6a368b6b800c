"""The data of the linear attainment proxy shared by CP-SAT and the MILP.

The proxy is a *windowed fluid model* of serving. The training workload is
cut into windows of ``window_s`` seconds (default: the median SLO, the time
scale on which a burst must be absorbed); ``proxy_windows`` windows are
kept, one from each stratum of windows ranked by total demand, weighted by
the stratum's size, so that quiet and bursty moments are both represented
with each model's own burst pattern. In a window a group serves requests of
the models it hosts with a budget of ``window_s`` seconds on its bottleneck
stage; a request of model ``m`` under config ``c`` costs ``cost_us[m, c]``,
the bottleneck-stage time per request at the best batch size whose idle
latency meets the SLO. A group's budget is shared by whichever hosted models
are busy in that window: that is the statistical multiplexing that model
parallelism buys, and it is linear.

All quantities are integers so that CP-SAT can use them directly: time in
microseconds, memory in units of ``device_mem_bytes >> 20`` bytes (at
least 1; about a million units per device), weights rounded up and device
memory rounded down, so a plan feasible in units fits in bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from planner.domain import Cluster, ParallelConfig
from planner.placement.feasibility import alone_bytes, workspace_bytes
from planner.placement.scoring import Scorer


@dataclass(frozen=True)
class ProxyGroup:
    """A fixed set of devices and the configs it may run."""

    devices: tuple[int, ...]
    configs: tuple[ParallelConfig, ...]


@dataclass(frozen=True)
class ProxyData:
    """Everything the formulation needs, in integers (module docstring).
    Keys ``(m, c)`` exist in ``cost_us`` only for usable pairs: profiled,
    idle latency within SLO and fitting alone on a device."""

    groups: tuple[ProxyGroup, ...]
    num_models: int
    memory_units: int
    weight_units: dict[tuple[int, ParallelConfig], tuple[int, ...]]
    workspace_units: dict[tuple[int, ParallelConfig], int]
    cost_us: dict[tuple[int, ParallelConfig], int]
    window_us: int
    demand: tuple[tuple[int, ...], ...]
    window_weight: tuple[int, ...]

    def usable(self, model: int, config: ParallelConfig) -> bool:
        return (model, config) in self.cost_us

    @property
    def weighted_demand(self) -> int:
        """Proxy objective of a plan serving every request."""
        return sum(w * sum(d) for w, d in zip(self.window_weight, self.demand, strict=True))


def memory_unit(cluster: Cluster) -> int:
    """Bytes per memory unit of the proxy (module docstring)."""
    return max(1, cluster.device_mem_bytes >> 20)


def request_cost_s(scorer: Scorer, model: int, config: ParallelConfig) -> float | None:
    """Bottleneck-stage seconds per request of ``model`` under ``config`` at
    the best batch size (up to the simulator's max batch) whose idle latency
    meets the SLO; None when no batch size does."""
    spec = scorer.instance.models[model]
    stage = spec.profile[config]
    best = None
    for batch in range(1, min(scorer.instance.options.max_batch, stage.max_batch) + 1):
        if stage.latency(batch) > spec.slo_s:
            break
        cost = max(stage.latency_s[batch - 1]) / batch
        best = cost if best is None else min(best, cost)
    return best


def demand_windows(
    scorer: Scorer, window_s: float, count: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """Per-model scored request counts of ``count`` representative windows
    and their weights (module docstring). Weights sum to the number of
    windows of the workload."""
    work = scorer.case.work
    total = max(1, math.ceil(work.duration_s / window_s))
    index = np.minimum((work.arrival_s // window_s).astype(np.int64), total - 1)
    counts = np.zeros((total, scorer.num_models), dtype=np.int64)
    np.add.at(counts, (index[work.scored], work.model[work.scored]), 1)
    order = np.argsort(counts.sum(axis=1), kind="stable")
    strata = np.array_split(order, min(count, total))
    demand = tuple(tuple(int(x) for x in counts[s[len(s) // 2]]) for s in strata)
    return demand, tuple(len(s) for s in strata)


def build_proxy(
    scorer: Scorer,
    groups: Sequence[ProxyGroup],
    *,
    window_s: float | None,
    windows: int,
) -> ProxyData:
    """Proxy data for ``groups`` on the scorer's models and workload."""
    cluster: Cluster = scorer.instance.cluster
    window_s = default_window_s(scorer, window_s)
    weights, workspace, cost = pair_tables(scorer, {c for g in groups for c in g.configs})
    demand, weight = demand_windows(scorer, window_s, windows)
    return ProxyData(
        groups=tuple(groups),
        num_models=scorer.num_models,
        memory_units=cluster.device_mem_bytes // memory_unit(cluster),
        weight_units=weights,
        workspace_units=workspace,
        cost_us=cost,
        window_us=max(1, round(window_s * 1e6)),
        demand=demand,
        window_weight=weight,
    )


def default_window_s(scorer: Scorer, window_s: float | None) -> float:
    """``window_s``, or by default the median SLO of the models (seconds)."""
    if window_s is None:
        return float(np.median([m.slo_s for m in scorer.instance.models]))
    return window_s


PairTables = tuple[
    dict[tuple[int, ParallelConfig], tuple[int, ...]],
    dict[tuple[int, ParallelConfig], int],
    dict[tuple[int, ParallelConfig], int],
]


def pair_tables(scorer: Scorer, configs: Iterable[ParallelConfig]) -> PairTables:
    """Per usable ``(model, config)`` pair: stage weights and workspace in
    memory units, and ``cost_us`` (module docstring)."""
    cluster: Cluster = scorer.instance.cluster
    unit = memory_unit(cluster)
    weights: dict[tuple[int, ParallelConfig], tuple[int, ...]] = {}
    workspace: dict[tuple[int, ParallelConfig], int] = {}
    cost: dict[tuple[int, ParallelConfig], int] = {}
    for j, model in enumerate(scorer.instance.models):
        for config in set(configs):
            if config not in model.profile:
                continue
            stage = model.profile[config]
            seconds = request_cost_s(scorer, j, config)
            if seconds is None or alone_bytes(stage) > cluster.device_mem_bytes:
                continue
            weights[j, config] = tuple(-(-b // unit) for b in stage.stage_weight_bytes)
            workspace[j, config] = -(-workspace_bytes(stage) // unit)
            cost[j, config] = max(1, round(seconds * 1e6))
    return weights, workspace, cost
