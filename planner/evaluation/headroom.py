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

MIP_TIME_LIMIT_S = 5.0
"""Seconds per window's programme; past it the solver's proven bound is used."""
BIN_SLOS = 50.0
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
    """Columns and sparse rows of one window's programme, built from
    arrays: each row block gives, per entry, its row (within the block),
    column and coefficient, and one limit per row."""

    def __init__(self) -> None:
        self.upper: list[FloatArray] = []
        self.integral: list[IntArray] = []
        self.entries: list[tuple[IntArray, IntArray, FloatArray]] = []
        self.limits: list[FloatArray] = []
        self.rows = 0
        self.columns = 0

    def add_columns(self, upper: FloatArray, integral: bool = False) -> IntArray:
        """Columns in ``[0, upper]``; their indices."""
        first = self.columns
        self.columns += upper.size
        self.upper.append(np.asarray(upper, dtype=np.float64))
        self.integral.append(np.full(upper.size, int(integral), dtype=np.int64))
        return np.arange(first, self.columns, dtype=np.int64)

    def add_rows(self, row: IntArray, col: IntArray, value: FloatArray, limit: FloatArray) -> None:
        """``sum value x column <= limit`` for every row of the block."""
        self.entries.append((row + self.rows, col, np.asarray(value, dtype=np.float64)))
        self.limits.append(np.asarray(limit, dtype=np.float64))
        self.rows += limit.size

    def maximise(self, objective_cols: IntArray) -> float:
        """The optimum (or, past the time limit, the proven bound) of the
        sum of ``objective_cols``."""
        if objective_cols.size == 0:
            return 0.0
        cost = np.zeros(self.columns)
        cost[objective_cols] = -1.0
        rows, cols, values = (np.concatenate(parts) for parts in zip(*self.entries, strict=True))
        matrix = coo_matrix((values, (rows, cols)), shape=(self.rows, self.columns)).tocsr()
        upper = np.concatenate(self.upper)
        result = linprog(
            cost,
            A_ub=matrix,
            b_ub=np.concatenate(self.limits),
            bounds=np.stack([np.zeros(self.columns), upper], axis=1),
            method="highs",
            integrality=np.concatenate(self.integral),
            options={"time_limit": MIP_TIME_LIMIT_S},
        )
        if result.status == 0:
            return float(-result.fun)
        dual = getattr(result, "mip_dual_bound", None)
        if result.status == 1 and dual is not None and np.isfinite(dual):
            return float(-dual)  # stopped at the time limit: the proven bound
        raise RuntimeError(f"headroom programme: {result.message}")


def _window_served(
    arrival_s: FloatArray,
    model: IntArray,
    window: tuple[float, float],
    kinds: Sequence[Sequence[ReplicaKind]],
    work_s: FloatArray,
    slo_s: FloatArray,
    cluster: Cluster,
) -> float:
    """The programme's bound for the scored requests (``arrival_s``,
    ``model``) of one window (module docstring)."""
    start_s, end_s = window
    max_slo = float(slo_s.max())
    devices = cluster.num_devices
    tail_s = max(start_s, end_s - max_slo)
    edges = np.unique(np.r_[np.arange(start_s, tail_s, BIN_SLOS * max_slo), tail_s, end_s])
    lengths = np.diff(edges)
    tail = edges.size - 2  # the last bin: [tail_s, end_s)
    count = len(kinds)
    keys, counts = np.unique(
        (np.searchsorted(edges, arrival_s, side="right") - 1) * count + model, return_counts=True
    )
    bins, models = keys // count, keys % count
    hostable = np.array([bool(kinds[m]) for m in range(len(kinds))])
    keep = hostable[models] | (bins == tail)  # else no config meets the SLO
    bins, models, counts = bins[keep], models[keep], counts[keep].astype(np.float64)
    lp = _Programme()
    y = lp.add_columns(counts)
    # device time per bin and over the window
    lp.add_rows(bins, y, work_s[models], devices * (lengths + max_slo))
    lp.add_rows(
        np.zeros_like(y), y, work_s[models], np.array([devices * (end_s - start_s + max_slo)])
    )
    hosted_models = np.unique(models[bins != tail])
    if hosted_models.size:
        x = lp.add_columns(np.ones(hosted_models.size), integral=True)
        x_of = dict(zip(hosted_models.tolist(), x.tolist(), strict=True))
        options = [(m, k) for m in hosted_models.tolist() for k in kinds[m]]
        r = lp.add_columns(np.full(len(options), np.inf))
        owner = np.array([m for m, _ in options])
        nbytes = np.array([k.bytes_total for _, k in options], dtype=np.float64)
        throughput = np.array([k.throughput_rps for _, k in options])
        # memory; hosting needs a replica: x[m] - sum_c r[m, c] <= 0
        lp.add_rows(np.zeros_like(r), r, nbytes, np.array([devices * cluster.device_mem_bytes]))
        link = np.searchsorted(hosted_models, owner)
        lp.add_rows(
            np.r_[np.arange(x.size), link],
            np.r_[x, r],
            np.r_[np.ones(x.size), -np.ones(r.size)],
            np.zeros(x.size),
        )
        core = np.flatnonzero(bins != tail)
        cy, cm, cb = y[core], models[core], bins[core]
        cx = np.array([x_of[m] for m in cm.tolist()], dtype=np.int64)
        # hosting: y[m, b] - n[m, b] x[m] <= 0
        rows = np.arange(core.size)
        lp.add_rows(
            np.r_[rows, rows],
            np.r_[cy, cx],
            np.r_[np.ones(core.size), -counts[core]],
            np.zeros(core.size),
        )
        # replica throughput per bin: y[m, b] - sum_c thr x (len(b) + slo) r[m, c] <= 0
        per_option = [np.flatnonzero(owner == m) for m in cm.tolist()]
        sizes = np.array([o.size for o in per_option])
        option_cols = np.concatenate(per_option)
        span = np.repeat(lengths[cb] + slo_s[cm], sizes)
        lp.add_rows(
            np.r_[rows, np.repeat(rows, sizes)],
            np.r_[cy, r[option_cols]],
            np.r_[np.ones(core.size), -throughput[option_cols] * span],
            np.zeros(core.size),
        )
        # and over the window's core
        whole = tail_s - start_s + slo_s[owner]
        lp.add_rows(
            np.r_[np.searchsorted(hosted_models, cm), link],
            np.r_[cy, r],
            np.r_[np.ones(core.size), -throughput * whole],
            np.zeros(hosted_models.size),
        )
    return lp.maximise(y)


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
