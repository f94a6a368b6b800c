"""Upper bounds on SLO attainment, valid for the simulator's semantics
(:mod:`planner.sim`): no plan the bound covers can be scored higher.

Two bounds, both in attainment (a fraction of the scored requests):

- :func:`attainment_bound`: *any* plan, re-placed as often as one likes,
  with weights that load for free. It counts device time only.
- :func:`static_bound`: any *static* placement on the cluster (what
  :func:`planner.placement.solve.solve` returns). It adds memory: which
  models can be hosted at all, how many devices can hold each, and the
  SLO-feasible configs. It is at most :func:`attainment_bound`.

**Device time.** A batch of ``b`` requests on a group of config ``(op,
pp)`` occupies stage ``s`` (``op`` devices) for ``latency_s[b - 1][s]``,
so it keeps ``op x sum_s latency_s[b - 1][s]`` device-seconds busy, and the
stages of one group never run two batches at once. A served request's batch
starts after the request arrives (a joined batch is re-run from the join)
and ends by its deadline ``arrival + slo``; so its whole stage latency is at
most the SLO, and its share of the batch's device time is at least
:func:`request_work_s`: the least ``op x sum of stage latencies / b`` over
the pairs (config, ``b``) a group can run it at within its SLO (``b`` up to
``min(max_batch, profile cap)``, the config realisable on the cluster and
fitting device memory alone). A model with no such pair is never served.
The served requests arriving in a window ``[a, a + T)`` all run inside
``[a, a + T + slo)``: summed over models at most ``D x (T + max SLO)``
device-seconds on ``D`` devices, and for model ``m`` at most ``x_m x (T +
slo_m)``, where ``x_m`` counts the devices of the groups hosting ``m``
(only they run its requests).

**Memory** (:mod:`planner.validation`): a device holds the stage weights of
every model its group hosts, plus a workspace, within
``cluster.device_mem_bytes`` ``M``. A replica of ``m`` under config ``c``
holds :func:`replica_bytes` ``B(m, c) = op x sum of stage weights`` over its
group, so the replicas of all models hold at most ``D x M`` bytes; a hosted
model holds at least ``R_m = min_c B(m, c)`` and, on ``x_m`` devices, at
least ``x_m x min_c B(m, c) / size(c)`` (over its SLO-feasible configs).

**The relaxation.** Cut the scored span into bins of width ``w`` (half the
smallest SLO, doubled until the programme is small enough). For any valid
static placement set ``h_m = 1`` when ``m`` is hosted on a group of an
SLO-feasible config, ``x_m`` the devices of those groups, ``z_m`` the bytes
of those replicas and ``n_{m,k}`` the scored requests of ``m`` arriving in
bin ``k`` that it serves. For every window ``K`` of ``L`` consecutive bins
(:func:`windows`: lengths 1, 2, 4, ..., half-overlapping) they satisfy::

    x_m <= D h_m,  z_m >= R_m h_m,  z_m >= x_m min_c B(m,c)/size(c),  sum_m z_m <= D M
    sum_m sum_{k in K} work_m n_{m,k} <= D (L w + max slo)
    sum_{k in K} work_m n_{m,k} <= x_m (L w + slo_m)
    0 <= n_{m,k} <= requests of m in bin k

so the largest ``sum n`` of this mixed-integer programme (``h`` binary, the
rest continuous) bounds the scored requests any static placement serves.
HiGHS solves its linear relaxation, and the integer programme only when
memory binds (rounding ``h`` up breaks memory); what is reported is the
proven bound (the integer programme's dual bound is valid at a time limit
too), widened by a relative ``1e-6`` for solver tolerances; bytes are in
units of ``M`` there. Without HiGHS (the ``solvers`` extra) the memory part
falls back to a fractional knapsack on ``R_m`` (hosting alone), still
valid. The result is never above :func:`attainment_bound`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Cluster, ModelSpec, ParallelConfig, StageProfile
from planner.placement.feasibility import alone_bytes, config_realisable
from planner.sim import Instance, compile_workload

FloatArray = npt.NDArray[np.float64]

BIN_WIDTHS_IN_SLOS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
"""Bin widths tried, in multiples of the largest SLO (plus one bin over
the whole scored span)."""

MAX_BIN_VARIABLES = 8_000
"""Most (model, bin) variables the static bound's programme takes."""

STATIC_BOUND_TIME_S = 5.0
"""Default time limit (s) of the static bound's HiGHS solve."""

SOLVER_TOLERANCE = 1e-6
"""Relative widening of the solver's dual bound (its feasibility tolerance)."""


def request_work_s(model: ModelSpec, max_batch: int = 1) -> float:
    """Least device-seconds one request of ``model`` keeps devices busy:
    over its profile's configs and batch sizes ``b <= max_batch`` (and the
    profile's own cap), ``op x sum of stage latencies at b / b``."""
    works = []
    for config, stage in model.profile.by_config.items():
        for batch in range(1, min(max_batch, stage.max_batch) + 1):
            works.append(config.op * sum(stage.latency_s[batch - 1]) / batch)
    return min(works)


def fastest_latency_s(model: ModelSpec) -> float:
    """The lowest batch-1 latency (s) of any config of ``model``."""
    return min(stage.latency(1) for stage in model.profile.by_config.values())


def replica_bytes(config: ParallelConfig, stage: StageProfile) -> int:
    """Weight bytes one replica holds over all devices of its group:
    ``op x sum of stage weight bytes`` (the workspace aside)."""
    return config.op * sum(stage.stage_weight_bytes)


@dataclass(frozen=True)
class ModelCapacity:
    """What memory and SLO allow one model on a cluster (module docstring).

    ``work_s``: least device-seconds per served request (inf when no
    config can serve it within its SLO on the cluster: then the model is
    never served); ``replica_bytes``: least weight bytes of one replica
    (``R_m``); ``bytes_per_device``: least weight bytes per device of a
    replica's group (``min B(m, c) / size(c)``). Both over the configs that
    can serve it."""

    work_s: float
    replica_bytes: float
    bytes_per_device: float

    @property
    def servable(self) -> bool:
        return math.isfinite(self.work_s)


def model_capacity(cluster: Cluster, model: ModelSpec, max_batch: int) -> ModelCapacity:
    """The :class:`ModelCapacity` of ``model`` on ``cluster`` when batches
    are capped at ``max_batch``: configs realisable on the cluster that fit
    a device alone, and batch sizes whose stage latencies add up to at most
    the SLO."""
    work, replica, per_device = math.inf, math.inf, math.inf
    for config, stage in model.profile.by_config.items():
        if not config_realisable(cluster, config) or alone_bytes(stage) > cluster.device_mem_bytes:
            continue
        works = [
            config.op * sum(stage.latency_s[b - 1]) / b
            for b in range(1, min(max_batch, stage.max_batch) + 1)
            if sum(stage.latency_s[b - 1]) <= model.slo_s
        ]
        if not works:
            continue
        work = min(work, *works)
        replica = min(replica, replica_bytes(config, stage))
        per_device = min(per_device, replica_bytes(config, stage) / config.size)
    return ModelCapacity(work, replica, per_device)


def served_bound(
    arrival_s: FloatArray, work_s: FloatArray, num_devices: int, bin_s: float, slack_s: float
) -> int:
    """Most of the given requests (arrival times, device-seconds each) that
    ``num_devices`` can serve when those arriving in each bin of ``bin_s``
    seconds must run within the bin plus ``slack_s`` seconds."""
    if arrival_s.size == 0:
        return 0
    bins = np.floor((arrival_s - arrival_s.min()) / bin_s).astype(np.int64)
    order = np.lexsort((work_s, bins))
    bins, cumulative = bins[order], np.cumsum(work_s[order])
    first = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    before = np.r_[0.0, cumulative][first]
    used = cumulative - np.repeat(before, np.diff(np.r_[first, bins.size]))
    return int(np.count_nonzero(used <= num_devices * (bin_s + slack_s) * (1 + 1e-12)))


def bin_widths_s(instance: Instance) -> list[float]:
    """Every bin width (s) the bounds try, narrowest first: multiples of the
    largest SLO, then the whole scored span."""
    max_slo_s = max(m.slo_s for m in instance.models)
    span_s = compile_workload(instance).scored_span_s
    return [w * max_slo_s for w in BIN_WIDTHS_IN_SLOS if w * max_slo_s < span_s] + [
        max(span_s, max_slo_s)
    ]


def attainment_bound(instance: Instance) -> float:
    """Upper bound on the SLO attainment of any plan serving the instance's
    workload on its cluster, re-placed or not, memory ignored (module
    docstring), scored as the simulator scores (the options' warm-up,
    cool-down and ``max_batch``); 1.0 when nothing is scored."""
    cluster, models, options = instance.cluster, instance.models, instance.options
    work = compile_workload(instance)
    total = int(work.scored.sum())
    if total == 0:
        return 1.0
    per_model_work = np.array([request_work_s(m, options.max_batch) for m in models])
    servable = np.array([fastest_latency_s(m) <= m.slo_s for m in models])
    keep = work.scored & servable[work.model]
    arrival_s, work_s = work.arrival_s[keep], per_model_work[work.model[keep]]
    max_slo_s = max(m.slo_s for m in models)
    served = min(
        served_bound(arrival_s, work_s, cluster.num_devices, width, max_slo_s)
        for width in bin_widths_s(instance)
    )
    return served / total


@dataclass(frozen=True)
class StaticBound:
    """The certified upper bound on the attainment of any static placement
    of an instance (:func:`static_bound`).

    ``attainment``: the bound (fraction in [0, 1]); ``device_time``: the
    memory-free :func:`attainment_bound` on its own; ``hostable``: models
    that some SLO-feasible config can host (the rest are never served);
    ``method``: ``"lp"`` (the linear relaxation's optimum), ``"milp"``
    (HiGHS proved the integer programme's optimum), ``"milp-dual"`` (HiGHS
    stopped at its limit; its dual bound is used), ``"knapsack"`` (no
    HiGHS, or it proved nothing in time) or ``"none"`` (nothing scored);
    ``bin_s``: the programme's bin width (None without it); ``wall_s``: time taken."""

    attainment: float
    device_time: float
    hostable: int
    method: str
    bin_s: float | None
    wall_s: float


@dataclass(frozen=True)
class Cells:
    """The scored requests of servable models counted per (bin, model):
    cell ``i`` holds ``count[i]`` requests of model ``model[i]`` arriving in
    bin ``bin[i]``, ``[start + bin x width_s, start + (bin + 1) x width_s)``."""

    width_s: float
    bin: npt.NDArray[np.int64]
    model: npt.NDArray[np.int64]
    count: FloatArray

    @property
    def num_bins(self) -> int:
        return int(self.bin.max()) + 1 if self.bin.size else 0


def request_cells(instance: Instance, servable: npt.NDArray[np.bool_]) -> Cells:
    """The :class:`Cells` of the scored requests of ``servable`` models, in
    bins of half the smallest SLO, or twice, four times... that, the
    narrowest giving at most :data:`MAX_BIN_VARIABLES` cells."""
    work = compile_workload(instance)
    keep = work.scored & servable[work.model]
    arrival_s, model = work.arrival_s[keep], work.model[keep].astype(np.int64)
    start_s = float(arrival_s.min()) if arrival_s.size else 0.0
    num_models = len(instance.models)
    width_s = min(m.slo_s for m in instance.models) / 2
    while True:
        bins = np.floor((arrival_s - start_s) / width_s).astype(np.int64)
        keys, counts = np.unique(bins * num_models + model, return_counts=True)
        if keys.size <= MAX_BIN_VARIABLES or width_s >= work.scored_span_s:
            break
        width_s *= 2
    return Cells(width_s, keys // num_models, keys % num_models, counts.astype(np.float64))


def windows(cells: Cells) -> Iterator[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """The windows of consecutive bins the device-time rows cover: for
    every length ``L`` of 1, 2, 4, ... bins (up to all of them), windows
    starting every ``max(1, L // 2)`` bins. Yields ``(L, cell, window)``:
    each cell with the index of a window (within its length) holding it."""
    length = 1
    while True:
        step = max(1, length // 2)
        for offset in range(length // step):
            window = cells.bin // step - offset
            inside = (window >= 0) & (window * step + length > cells.bin)
            yield length, np.flatnonzero(inside), window[inside]
        if length >= cells.num_bins:
            return
        length *= 2


def knapsack_served(capacities: list[ModelCapacity], requests: FloatArray, budget: float) -> float:
    """Most requests the hostable models can have when each hosted model
    holds at least its ``replica_bytes`` of ``budget`` bytes (``requests[m]``
    scored requests of model ``m``): the fractional knapsack, an upper
    bound on the 0/1 one."""
    order = sorted(
        (i for i, c in enumerate(capacities) if c.servable and requests[i] > 0),
        key=lambda i: capacities[i].replica_bytes / requests[i],
    )
    served = 0.0
    for i in order:
        take = min(1.0, budget / capacities[i].replica_bytes) if budget > 0 else 0.0
        served += take * requests[i]
        budget -= take * capacities[i].replica_bytes
        if take < 1.0:
            break
    return served


class _Rows:
    """Sparse constraint rows ``lower <= sum value * column <= upper``."""

    def __init__(self) -> None:
        self.rows: list[npt.NDArray[np.int64]] = []
        self.cols: list[npt.NDArray[np.int64]] = []
        self.vals: list[FloatArray] = []
        self.upper: list[FloatArray] = []
        self.count = 0

    def add(self, row: npt.ArrayLike, col: npt.ArrayLike, val: npt.ArrayLike) -> None:
        """Entries of rows numbered from the current count (``row`` relative)."""
        row, col = np.asarray(row, np.int64), np.asarray(col, np.int64)
        self.rows.append(self.count + row)
        self.cols.append(col)
        self.vals.append(np.broadcast_to(np.asarray(val, np.float64), row.shape).copy())

    def close(self, upper: npt.ArrayLike) -> None:
        """End a block of rows with these upper bounds (lower: -inf)."""
        upper = np.atleast_1d(np.asarray(upper, np.float64))
        self.upper.append(upper)
        self.count += upper.size


def milp_served(
    instance: Instance, capacities: list[ModelCapacity], cells: Cells, time_limit_s: float
) -> tuple[float, str] | None:
    """The relaxation's largest ``served`` (module docstring) as HiGHS
    proves it: ``(dual bound, "milp" or "milp-dual")``; None when HiGHS is
    not installed or proves nothing in time. The linear relaxation (``h``
    continuous) is solved first; the integer programme only when its
    ``h`` is fractional (memory binds), in the time left."""
    start = time.monotonic()
    try:
        import highspy
    except ImportError:
        return None
    cluster, models = instance.cluster, instance.models
    devices, num_models, num_cells = cluster.num_devices, len(models), cells.count.size
    max_slo_s = max(m.slo_s for m in models)
    work = np.array([c.work_s if c.servable else 0.0 for c in capacities])
    memory = cluster.device_mem_bytes
    replica = np.array([c.replica_bytes / memory if c.servable else 0.0 for c in capacities])
    per_device = np.array([c.bytes_per_device / memory if c.servable else 0.0 for c in capacities])
    servable = np.array([c.servable for c in capacities], np.float64)
    # columns: h (models), x (models), z (models), n (cells); maximise sum n
    h, x, z, n = 0, num_models, 2 * num_models, 3 * num_models
    columns = n + num_cells
    lower = np.zeros(columns)
    upper = np.concatenate([servable, devices * servable, np.full(num_models, np.inf), cells.count])
    cost = np.zeros(columns)
    cost[n:] = 1.0
    models_ = np.arange(num_models)
    rows = _Rows()
    rows.add(models_, x + models_, 1.0)  # x_m <= D h_m
    rows.add(models_, h + models_, -float(devices))
    rows.close(np.zeros(num_models))
    rows.add(models_, h + models_, replica)  # R_m h_m <= z_m
    rows.add(models_, z + models_, -1.0)
    rows.close(np.zeros(num_models))
    rows.add(models_, x + models_, per_device)  # x_m bytes per device <= z_m
    rows.add(models_, z + models_, -1.0)
    rows.close(np.zeros(num_models))
    rows.add(np.zeros(num_models), z + models_, 1.0)  # sum z_m <= D (in units of M)
    rows.close([float(devices)])
    slo = np.array([m.slo_s for m in models])
    for length, cell, window in windows(cells):
        span_s = length * cells.width_s
        # device time of the window's requests, on all devices
        numbers, row = np.unique(window, return_inverse=True)
        rows.add(row, n + cell, work[cells.model[cell]])
        rows.close(np.full(numbers.size, devices * (span_s + max_slo_s)))
        # ... and on each model's own devices
        keys, row = np.unique(window * num_models + cells.model[cell], return_inverse=True)
        rows.add(row, n + cell, work[cells.model[cell]])
        owner = keys % num_models
        rows.add(np.arange(keys.size), x + owner, -(span_s + slo[owner]))
        rows.close(np.zeros(keys.size))
    row = np.concatenate(rows.rows)
    order = np.argsort(row, kind="stable")
    row, col, val = row[order], np.concatenate(rows.cols)[order], np.concatenate(rows.vals)[order]
    starts = np.searchsorted(row, np.arange(rows.count)).astype(np.int32)
    solver = highspy._core._Highs()  # the wrapper class prints a banner; the core does not
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", max(time_limit_s, 0.05))
    solver.setOptionValue("solver", "simplex")
    solver.setOptionValue("threads", 1)
    empty_i, empty_f = np.empty(0, np.int32), np.empty(0, np.float64)
    solver.addCols(columns, cost, lower, upper, 0, empty_i, empty_i, empty_f)
    solver.addRows(
        rows.count,
        np.full(rows.count, -highspy.kHighsInf),
        np.concatenate(rows.upper),
        val.size,
        starts,
        col.astype(np.int32),
        val,
    )
    solver.changeObjectiveSense(highspy.ObjSense.kMaximize)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    relaxed = solver.getInfo().objective_function_value
    values = np.asarray(solver.getSolution().col_value)
    hosted, devices_of = values[h : h + num_models] > 1e-9, values[x : x + num_models]
    if np.maximum(replica * hosted, per_device * devices_of).sum() <= devices:
        return relaxed, "lp"  # h rounded up still fits memory: the programme's optimum too
    left_s = time_limit_s - (time.monotonic() - start)
    if left_s <= 0.05:
        return relaxed, "lp"
    solver.setOptionValue("time_limit", left_s)
    solver.changeColsIntegrality(
        num_models, np.arange(num_models, dtype=np.int32), np.ones(num_models, np.uint8)
    )
    solver.run()
    dual = solver.getInfo().mip_dual_bound
    if not math.isfinite(dual) or dual >= relaxed:
        return relaxed, "lp"
    return (
        dual,
        "milp" if solver.getModelStatus() == highspy.HighsModelStatus.kOptimal else "milp-dual",
    )


def static_bound(instance: Instance, *, time_limit_s: float = STATIC_BOUND_TIME_S) -> StaticBound:
    """The certified upper bound on the simulated attainment of every
    static placement of the instance's models on its cluster (module
    docstring): at most :func:`attainment_bound`; 1.0 when nothing is
    scored. ``time_limit_s`` caps the HiGHS solve (its dual bound stays
    valid when it stops early)."""
    start = time.monotonic()
    cluster, models, options = instance.cluster, instance.models, instance.options
    device_time = attainment_bound(instance)
    capacities = [model_capacity(cluster, m, options.max_batch) for m in models]
    servable = np.array([c.servable for c in capacities])
    work = compile_workload(instance)
    total = int(work.scored.sum())
    requests = np.bincount(
        work.model[work.scored & servable[work.model]], minlength=len(models)
    ).astype(np.float64)
    budget = float(cluster.num_devices) * cluster.device_mem_bytes
    bin_s: float | None = None
    served, method = knapsack_served(capacities, requests, budget), "knapsack" if total else "none"
    if total and servable.any():
        cells = request_cells(instance, servable)
        relaxed = milp_served(instance, capacities, cells, time_limit_s)
        if relaxed is not None:
            (served, method), bin_s = relaxed, cells.width_s
    memory = 1.0 if total == 0 else min(1.0, served * (1 + SOLVER_TOLERANCE) / total)
    return StaticBound(
        attainment=min(device_time, memory),
        device_time=device_time,
        hostable=int(servable.sum()),
        method=method,
        bin_s=bin_s,
        wall_s=time.monotonic() - start,
    )
