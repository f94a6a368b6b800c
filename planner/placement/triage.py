"""Examine an enumeration block without simulating it: a fluid *estimate*
of the requests its greedy plan will serve (to rank blocks) and an *upper
bound* on what any plan of the block can serve (to prune blocks exactly).

A block is ``G`` identical groups of one config ``(op, pp)`` for the models
of one bucket (:class:`planner.placement.enumeration.Block`). Only the
block's *usable* models count: profiled for the config, batch-1 latency
within the SLO, and fitting a group alone (the greedy places no other).

The workload is cut into windows of ``window_s`` seconds (the median SLO of
the instance's models); ``counts[w, m]`` is the number of scored requests of
model ``m`` arriving in window ``w``.

**Estimate** (a windowed fluid model, like the CP-SAT proxy in
:mod:`planner.placement.proxy`). Replicas are handed out as the greedy
would: one per model in order of demand while memory lasts, then the rest
of the memory in proportion to each model's load (requests x seconds per
request), at most ``G`` per model; a replica of model ``m`` holds ``1 / k_m``
of a group's memory, ``k_m`` being how many such replicas fit one group.
In a window a model serves at most its requests and at most ``replicas x
window_s / cost`` (``cost``: bottleneck-stage seconds per request at the
best batch whose idle latency meets the SLO); all models together use at
most ``G x window_s`` group-seconds, scaled down pro rata beyond that.

**Upper bound** (valid for every placement of the block, so a block whose
bound is below a plan already found for the same bucket and device share
cannot win, and need not be simulated): the least of

- *memory*: a group hosts at most ``n`` models, ``n`` the most usable models
  whose summed per-device stage weights fit ``pp`` devices' memory, so at
  most ``G x n`` models are served at all: the requests of the ``G x n``
  most requested usable models;
- *device time*, as in :mod:`planner.placement.bound` but on the block's
  ``D = G x op x pp`` devices and its config: a request keeps devices busy
  at least ``op x (sum of stage latencies at b) / b`` device-seconds, and
  those arriving in a bin ``[a, b)`` that meet their SLO run inside
  ``[a, b + max SLO)``, so at most the cheapest of them that fit ``D x (b -
  a + max SLO)`` device-seconds are served; bins of 1 and 10 windows and one
  bin over the whole workload.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import ParallelConfig
from planner.placement.feasibility import alone_bytes, workspace_bytes
from planner.placement.proxy import request_cost_s
from planner.placement.scoring import Scorer

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

BOUND_BINS_IN_WINDOWS = (1, 10)
"""Bin widths of the device-time bound, in windows (plus the whole span)."""


@dataclass(frozen=True)
class Triage:
    """A block's fluid ``estimate`` and ``bound`` (scored requests served)."""

    estimate: float
    bound: int


@dataclass(frozen=True)
class _ConfigTable:
    """Per model under one config: usable, bottleneck seconds per request
    (``cost_s``), least device-seconds per request (``work_s``), replicas
    of it that fit one group alone (``per_group``) and summed stage weights
    per device (``stage_bytes``)."""

    usable: npt.NDArray[np.bool_]
    cost_s: Floats
    work_s: Floats
    per_group: Ints
    stage_bytes: Ints


def _work_s(stage_latency_s: Sequence[Sequence[float]], op: int, max_batch: int) -> float:
    """Least device-seconds per request over batch sizes up to ``max_batch``."""
    return min(
        op * sum(stage_latency_s[b - 1]) / b
        for b in range(1, min(max_batch, len(stage_latency_s)) + 1)
    )


class BlockTriage:
    """Estimates and bounds of blocks on one scorer's instance (module
    docstring); tables are built once per config."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        instance = scorer.instance
        self.memory_bytes = instance.cluster.device_mem_bytes
        self.window_s = float(np.median([m.slo_s for m in instance.models]))
        work = scorer.case.work
        windows = max(1, math.ceil(work.duration_s / self.window_s))
        index = np.minimum((work.arrival_s // self.window_s).astype(np.int64), windows - 1)
        counts = np.zeros((windows, scorer.num_models), dtype=np.int64)
        np.add.at(counts, (index[work.scored], work.model[work.scored]), 1)
        self.counts = counts
        self.span_s = work.duration_s
        self.slo_s = np.array([m.slo_s for m in instance.models])
        self._tables: dict[ParallelConfig, _ConfigTable] = {}
        self._binned: dict[tuple[int, ...], tuple[Ints, ...]] = {}
        self._window_floats: dict[tuple[int, ...], Floats] = {}

    def _table(self, config: ParallelConfig) -> _ConfigTable:
        found = self._tables.get(config)
        if found is not None:
            return found
        size = self.scorer.num_models
        usable = np.zeros(size, dtype=bool)
        cost_s = np.full(size, np.inf)
        work_s = np.full(size, np.inf)
        per_group = np.zeros(size, dtype=np.int64)
        stage_bytes = np.zeros(size, dtype=np.int64)
        max_batch = self.scorer.instance.options.max_batch
        same: dict[tuple[int, float], int] = {}  # models sharing a profile and SLO
        for j, model in enumerate(self.scorer.instance.models):
            twin = same.setdefault((id(model.profile), model.slo_s), j)
            if twin != j:
                for column in (usable, cost_s, work_s, per_group, stage_bytes):
                    column[j] = column[twin]
                continue
            if config not in model.profile:
                continue
            stage = model.profile[config]
            cost = request_cost_s(self.scorer, j, config)
            if cost is None or alone_bytes(stage) > self.memory_bytes:
                continue
            usable[j] = True
            cost_s[j] = cost
            work_s[j] = _work_s(stage.latency_s, config.op, max_batch)
            heaviest = max(stage.stage_weight_bytes)
            free = self.memory_bytes - workspace_bytes(stage)
            per_group[j] = free // heaviest if heaviest else size
            stage_bytes[j] = sum(stage.stage_weight_bytes)
        found = _ConfigTable(usable, cost_s, work_s, per_group, stage_bytes)
        self._tables[config] = found
        return found

    def examine(self, models: Sequence[int], num_groups: int, config: ParallelConfig) -> Triage:
        """Estimate and bound of ``num_groups`` groups of ``config`` for
        ``models`` (indices into the model set)."""
        table = self._table(config)
        chosen = np.array(sorted(models), dtype=np.int64)
        chosen = chosen[table.usable[chosen] & (self.scorer.demand[chosen] > 0)]
        if not chosen.size:
            return Triage(0.0, 0)
        binned = self._bins(chosen)
        estimate = self._estimate(table, chosen, self._window_counts(chosen), num_groups)
        bound = min(
            self._memory_bound(table, chosen, num_groups, config),
            self._time_bound(table, chosen, binned, num_groups * config.size),
        )
        return Triage(estimate, bound)

    def _window_counts(self, chosen: Ints) -> Floats:
        """``counts[:, chosen]`` as floats (remembered per set of models)."""
        key = tuple(int(j) for j in chosen)
        found = self._window_floats.get(key)
        if found is None:
            found = self.counts[:, chosen].astype(np.float64)
            self._window_floats[key] = found
        return found

    def _bins(self, chosen: Ints) -> tuple[Ints, ...]:
        """Counts of the ``chosen`` models' requests per bin, one matrix per
        width of :data:`BOUND_BINS_IN_WINDOWS` and one for the whole span
        (remembered per set of models: blocks of a bucket share them)."""
        key = tuple(int(j) for j in chosen)
        found = self._binned.get(key)
        if found is None:
            counts = self.counts[:, chosen]
            windows = counts.shape[0]
            found = (
                *(
                    counts
                    if width == 1
                    else np.add.reduceat(counts, np.arange(0, windows, width), axis=0)
                    for width in BOUND_BINS_IN_WINDOWS
                ),
                counts.sum(axis=0, keepdims=True),
            )
            self._binned[key] = found
        return found

    def _estimate(
        self, table: _ConfigTable, chosen: Ints, counts: Floats, num_groups: int
    ) -> float:
        demand = self.scorer.demand[chosen].astype(np.float64)
        share = 1.0 / np.maximum(table.per_group[chosen], 1)
        cost = table.cost_s[chosen]
        order = np.argsort(-demand, kind="stable")
        first = np.cumsum(share[order]) <= num_groups
        replicas = np.zeros(chosen.size)
        replicas[order[first]] = 1.0
        left = num_groups - float(share[order[first]].sum())
        load = demand * cost * replicas
        if left > 0 and load.sum() > 0:
            extra = np.floor(left * load / load.sum() / share)
            replicas = np.minimum(replicas + extra, num_groups)
        per_window = np.minimum(counts, replicas * self.window_s / cost)
        used = per_window @ cost
        budget = num_groups * self.window_s
        scale = np.minimum(1.0, budget / np.maximum(used, 1e-300))
        return float((per_window.sum(axis=1) * scale).sum())

    def _memory_bound(
        self, table: _ConfigTable, chosen: Ints, num_groups: int, config: ParallelConfig
    ) -> int:
        lightest = np.sort(table.stage_bytes[chosen])
        per_group = int(np.count_nonzero(np.cumsum(lightest) <= config.pp * self.memory_bytes))
        hosted = min(chosen.size, num_groups * max(per_group, 1))
        demand = np.sort(self.scorer.demand[chosen])[::-1]
        return int(demand[:hosted].sum())

    def _time_bound(
        self, table: _ConfigTable, chosen: Ints, binned: tuple[Ints, ...], devices: int
    ) -> int:
        # models of equal work are one column (cheapest-first cannot tell them apart)
        order = np.argsort(table.work_s[chosen], kind="stable")
        work = table.work_s[chosen][order]
        starts = np.flatnonzero(np.r_[True, work[1:] != work[:-1]])
        slack_s = float(self.slo_s[chosen].max())
        widths = [w * self.window_s for w in BOUND_BINS_IN_WINDOWS] + [self.span_s]
        return min(
            _cheapest_first(
                np.add.reduceat(bins[:, order], starts, axis=1),
                work[starts],
                devices * (width + slack_s),
            )
            for bins, width in zip(binned, widths, strict=True)
        )


def _cheapest_first(bins: Ints, work_s: Floats, budget_s: float) -> int:
    """Requests served when each bin (row: counts per model, models by
    ascending ``work_s``) spends at most ``budget_s`` device-seconds on its
    cheapest requests first."""
    budget = budget_s * (1 + 1e-12)
    spent = np.cumsum(bins * work_s, axis=1)
    whole = spent <= budget
    served = np.where(whole, bins, 0).sum(axis=1)
    full = whole.sum(axis=1)
    partial = full < bins.shape[1]
    rows = np.flatnonzero(partial)
    before = np.where(full[rows] > 0, spent[rows, full[rows] - 1], 0.0)
    extra = np.floor((budget - before) / work_s[full[rows]])
    served[rows] += np.minimum(extra.astype(np.int64), bins[rows, full[rows]])
    return int(served.sum())
