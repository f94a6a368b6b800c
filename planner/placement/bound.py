"""An upper bound on the SLO attainment that *any* plan can reach on a
workload: any placement, re-placed as often as one likes, with weights that
load for free.

The bound counts device time. A request of model ``m`` keeps devices busy
for at least :func:`request_work_s` device-seconds: over the configs of its
profile and the batch sizes it may run at, the least of ``op x (sum of its
stage latencies) / batch``. A request that meets its SLO is served between
its arrival and its deadline, so the requests arriving in a time bin
``[a, b)`` that meet their SLO all run inside ``[a, b + max SLO)``: on a
cluster of ``D`` devices at most ``D x (b - a + max SLO)`` device-seconds.
At most the cheapest requests of the bin that fit that budget can be
served; a request whose model cannot meet its SLO even alone at batch 1
never can. Summing over disjoint bins bounds the scored requests served,
and every bin width gives a valid bound, so :func:`attainment_bound` takes
the least over several widths (a bin much wider than the SLOs sees a
trace's mean load; a narrow one sees its bursts).

Queueing, the cost of switching and memory are ignored, so real plans stay
below the bound; how far below says how much any better placement could
still gain.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from planner.domain import ModelSpec
from planner.sim import Instance, compile_workload

FloatArray = npt.NDArray[np.float64]

BIN_WIDTHS_IN_SLOS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
"""Bin widths tried, in multiples of the largest SLO (plus one bin over
the whole scored span)."""


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


def attainment_bound(instance: Instance) -> float:
    """Upper bound on the SLO attainment of any plan serving the instance's
    workload on its cluster (module docstring), scored as the simulator
    scores (the options' warm-up, cool-down and ``max_batch``); 1.0 when
    nothing is scored."""
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
    widths = [w * max_slo_s for w in BIN_WIDTHS_IN_SLOS] + [work.scored_span_s]
    served = min(
        served_bound(arrival_s, work_s, cluster.num_devices, width, max_slo_s) for width in widths
    )
    return served / total
