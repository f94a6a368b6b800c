"""A memory-aware upper bound on goodput: what any plan whose placement
changes only at window starts, with switches that cost nothing, could
serve within SLO on a workload. The *headroom* of a row is this bound over
the static plan's goodput.

:mod:`planner.placement.bound` ignores memory, so in the memory-bound
regime (more model bytes than device memory) it says nothing. Here each
window ``[s, e)`` of ``window_s`` seconds is bounded by a linear programme
whose optimum is at least the scored requests arriving in it that any
per-window placement serves within SLO:

- ``r[m, c] >= 0`` replicas of model ``m`` in parallel config ``c``
  (configs whose weights fit a device and whose batch-1 latency meets the
  SLO), ``x[m] in [0, 1]`` whether ``m`` is hosted (``x[m] <= sum_c
  r[m, c]``), ``y[m, b] in [0, n[m, b]]`` the served requests of ``m``
  among the ``n[m, b]`` arriving in bin ``b``;
- **memory**: ``sum r[m, c] x bytes(c) <= devices x device memory``, where
  ``bytes(c)`` is the replica's weight bytes over all its devices;
- **hosting**: ``y[m, b] <= n[m, b] x x[m]``;
- **replica throughput**: the requests of a bin run inside ``[a, b +
  slo)``, and a replica's bottleneck stage passes at most ``thr(c)`` requests
  per second (the best ``batch / slowest stage`` over batches within
  ``max_batch`` that meet the SLO), so ``y[m, b] <= sum_c r[m, c] x thr(c)
  x (len(b) + slo)``, per bin and over the whole window;
- **device time**: each served request keeps devices busy for
  :func:`planner.placement.bound.request_work_s`, so ``sum_m work(m) x
  y[m, b] <= devices x (len(b) + max slo)``, per bin and over the window.

Bins are ``BIN_SLOS`` times the largest SLO wide. A request that arrives in
a window's last ``max slo`` seconds may be served after the next window's
placement took over, so that *tail* bin is bound by device time only. The
LP relaxes integrality (fractional replicas and hosting: a fractional
knapsack over model bytes), so it stays an upper bound; solved with HiGHS.
Queueing, activation memory and per-device packing are ignored, so plans
stay below it. Reactions inside a window (``react_after``) change a
placement between window starts and lie outside the bound's class of
plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from planner.domain import Cluster, ModelSpec
from planner.placement.bound import request_work_s
from planner.sim import Instance, compile_workload
from planner.workloads.windows import window_bounds

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BIN_SLOS = 10.0
"""Bin width inside a window, in multiples of the largest SLO."""


@dataclass(frozen=True)
class ReplicaKind:
    """One way to host a model: ``bytes_total`` of weights over all the
    replica's devices and ``throughput_rps``, the most requests per second
    its bottleneck stage passes."""

    bytes_total: int
    throughput_rps: float


def replica_kinds(model: ModelSpec, cluster: Cluster, max_batch: int = 1) -> list[ReplicaKind]:
    """The configs of ``model`` that fit ``cluster`` and meet the SLO alone
    at batch 1, as :class:`ReplicaKind` (module docstring)."""
    kinds = []
    for config, stage in model.profile.by_config.items():
        if config.size > cluster.num_devices or stage.weight_bytes > cluster.device_mem_bytes:
            continue
        batches = [
            b
            for b in range(1, min(max_batch, stage.max_batch) + 1)
            if stage.latency(b) <= model.slo_s
        ]
        if not batches:
            continue
        throughput = max(b / max(stage.latency_s[b - 1]) for b in batches)
        kinds.append(ReplicaKind(config.op * sum(stage.stage_weight_bytes), throughput))
    return kinds


@dataclass(frozen=True)
class WindowBound:
    """One window ``[start_s, end_s)``: its scored requests and at most how
    many of them any plan serves within SLO."""

    start_s: float
    end_s: float
    scored: int
    served: float


@dataclass(frozen=True)
class HeadroomBound:
    """The bound over a whole workload: per window, and in total as
    ``served`` requests and ``goodput_rps`` (served over the scored span)."""

    windows: tuple[WindowBound, ...]
    scored: int
    scored_span_s: float

    @property
    def served(self) -> float:
        return sum(w.served for w in self.windows)

    @property
    def goodput_rps(self) -> float:
        return self.served / self.scored_span_s if self.scored_span_s > 0 else 0.0

    @property
    def attainment(self) -> float:
        return min(1.0, self.served / self.scored) if self.scored else 1.0


class _Programme:
    """Columns and sparse rows of one window's LP (module docstring)."""

    def __init__(self) -> None:
        self.columns = 0
        self.upper: list[float] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.values: list[float] = []
        self.limits: list[float] = []

    def add_columns(self, count: int, upper: Sequence[float] | float) -> IntArray:
        first = self.columns
        self.columns += count
        self.upper.extend(np.broadcast_to(np.asarray(upper, dtype=np.float64), (count,)).tolist())
        return np.arange(first, first + count, dtype=np.int64)

    def add_row(self, cols: Sequence[int], values: Sequence[float], limit: float) -> None:
        """``sum values x columns <= limit``."""
        row = len(self.limits)
        self.rows.extend([row] * len(cols))
        self.cols.extend(int(c) for c in cols)
        self.values.extend(float(v) for v in values)
        self.limits.append(limit)

    def maximise(self, objective_cols: IntArray) -> float:
        """The LP's optimum of the sum of ``objective_cols``."""
        if objective_cols.size == 0:
            return 0.0
        cost = np.zeros(self.columns)
        cost[objective_cols] = -1.0
        matrix = coo_matrix(
            (self.values, (self.rows, self.cols)), shape=(len(self.limits), self.columns)
        ).tocsr()
        result = linprog(
            cost,
            A_ub=matrix if self.limits else None,
            b_ub=np.array(self.limits) if self.limits else None,
            bounds=list(zip([0.0] * self.columns, self.upper, strict=True)),
            method="highs",
        )
        if result.status != 0:
            raise RuntimeError(f"headroom LP: {result.message}")
        return float(-result.fun)


def _window_served(
    arrival_s: FloatArray,
    model: IntArray,
    window: tuple[float, float],
    kinds: Sequence[Sequence[ReplicaKind]],
    work_s: FloatArray,
    slo_s: FloatArray,
    cluster: Cluster,
) -> float:
    """The LP bound for the scored requests (``arrival_s``, ``model``) of
    one window (module docstring)."""
    start_s, end_s = window
    max_slo = float(slo_s.max())
    devices = cluster.num_devices
    tail_s = max(start_s, end_s - max_slo)
    width = BIN_SLOS * max_slo
    edges = [*np.arange(start_s, tail_s, width).tolist(), tail_s, end_s]
    edges = sorted(set(edges))
    bins = np.searchsorted(np.asarray(edges), arrival_s, side="right") - 1
    lp = _Programme()
    replicas: dict[int, tuple[IntArray, list[ReplicaKind]]] = {}
    hosted: dict[int, int] = {}
    memory_cols: list[int] = []
    memory_values: list[float] = []
    for m in np.unique(model).tolist():
        if kinds[m]:
            cols = lp.add_columns(len(kinds[m]), np.inf)
            replicas[m] = cols, list(kinds[m])
            memory_cols.extend(cols.tolist())
            memory_values.extend(k.bytes_total for k in kinds[m])
            hosted[m] = int(lp.add_columns(1, 1.0)[0])
            lp.add_row([hosted[m], *cols.tolist()], [1.0, *([-1.0] * cols.size)], 0.0)
    if memory_cols:
        lp.add_row(memory_cols, memory_values, float(devices * cluster.device_mem_bytes))
    served_cols: list[int] = []
    per_bin: dict[int, tuple[list[int], list[float]]] = {}
    per_model: dict[int, list[int]] = {}
    pairs, counts = np.unique(np.stack([bins, model]), axis=1, return_counts=True)
    tail = len(edges) - 2
    for (b, m), n in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        is_tail = b == tail and tail_s < end_s
        if m not in replicas and not is_tail:
            continue  # no config of m can serve it within SLO
        y = int(lp.add_columns(1, float(n))[0])
        served_cols.append(y)
        cols, values = per_bin.setdefault(b, ([], []))
        cols.append(y)
        values.append(float(work_s[m]))
        if is_tail:
            continue
        per_model.setdefault(m, []).append(y)
        lp.add_row([y, hosted[m]], [1.0, -float(n)], 0.0)
        span_s = edges[b + 1] - edges[b] + float(slo_s[m])
        r_cols, r_kinds = replicas[m]
        lp.add_row(
            [y, *r_cols.tolist()], [1.0, *(-k.throughput_rps * span_s for k in r_kinds)], 0.0
        )
    for b, (cols, values) in per_bin.items():
        lp.add_row(cols, values, devices * (edges[b + 1] - edges[b] + max_slo))
    if served_cols:
        all_cols = [c for cols, _ in per_bin.values() for c in cols]
        all_values = [v for _, values in per_bin.values() for v in values]
        lp.add_row(all_cols, all_values, devices * (end_s - start_s + max_slo))
    for m, cols in per_model.items():
        span_s = tail_s - start_s + float(slo_s[m])
        r_cols, r_kinds = replicas[m]
        lp.add_row(
            [*cols, *r_cols.tolist()],
            [*([1.0] * len(cols)), *(-k.throughput_rps * span_s for k in r_kinds)],
            0.0,
        )
    return lp.maximise(np.array(served_cols, dtype=np.int64))


def headroom_bound(instance: Instance, window_s: float) -> HeadroomBound:
    """Upper bound on the scored requests served within SLO by any plan of
    the instance's models on its cluster whose placement changes only at
    multiples of ``window_s`` seconds, switching for free (module
    docstring); scored as the simulator scores (warm-up, cool-down)."""
    cluster, models, options = instance.cluster, instance.models, instance.options
    work = compile_workload(instance)
    kinds = [replica_kinds(m, cluster, options.max_batch) for m in models]
    work_s = np.array([request_work_s(m, options.max_batch) for m in models])
    slo_s = np.array([m.slo_s for m in models])
    starts, ends = window_bounds(work.duration_s, window_s)
    windows = []
    for start_s, end_s in zip(starts.tolist(), ends.tolist(), strict=True):
        mine = work.scored & (work.arrival_s >= start_s) & (work.arrival_s < end_s)
        count = int(mine.sum())
        served = 0.0
        if count:
            served = _window_served(
                work.arrival_s[mine],
                work.model[mine].astype(np.int64),
                (start_s, end_s),
                kinds,
                work_s,
                slo_s,
                cluster,
            )
        windows.append(WindowBound(start_s, end_s, count, min(float(count), served)))
    return HeadroomBound(tuple(windows), int(work.scored.sum()), work.scored_span_s)
