"""The fast engine: the same semantics as :mod:`planner.sim.reference` as a
numba kernel over the flat arrays of :mod:`planner.sim.compile`, doing the
same floating-point operations in the same order (results are bit-equal).

The kernel compiles on first use (a few seconds) and is cached on disk
(``cache=True``), so later processes only load it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numba import njit

from planner.sim.compile import CompiledPlan, CompiledWorkload
from planner.sim.options import Outcome
from planner.sim.result import EngineOutput

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int32]

_SERVED = np.int8(Outcome.SERVED)
_DROPPED_SLO = np.int8(Outcome.DROPPED_SLO)
_NO_REPLICA = np.int8(Outcome.NO_REPLICA)
_UNAVAILABLE = np.int8(Outcome.UNAVAILABLE)


@njit(cache=True)
def _pipeline_finish(ready_s: float, free_s: Floats, latency_s: Floats, pp: int) -> float:
    """End of the last stage of a batch ready at ``ready_s`` (see
    ``reference.run_pipeline``); ``free_s`` and ``latency_s`` are rows."""
    end = ready_s
    for s in range(pp):
        end = max(end, free_s[s]) + latency_s[s]
    return end


@njit(cache=True)
def _run_pipeline(
    ready_s: float, free_s: Floats, latency_s: Floats, pp: int, out_s: Floats
) -> float:
    """Write every stage's end into ``out_s``; returns stage 0's start."""
    end = ready_s
    first_start = max(ready_s, free_s[0])
    for s in range(pp):
        end = max(end, free_s[s]) + latency_s[s]
        out_s[s] = end
    return first_start


@njit(cache=True)
def _fcfs(
    arrival_s: Floats,
    model: Ints,
    deadline_s: Floats,
    num_models: int,
    step_start_s: Floats,
    cand_ptr: npt.NDArray[np.int64],
    cand_replica: Ints,
    cand_available_s: Floats,
    replica_slot: Ints,
    replica_cap: Ints,
    replica_latency_s: Floats,
    slot_pp: Ints,
    slot_start_s: Floats,
) -> tuple[Floats, npt.NDArray[np.int8], Ints, npt.NDArray[np.int16], Floats]:
    """FCFS over all requests; returns :class:`EngineOutput`'s fields."""
    n = arrival_s.size
    num_slots = slot_pp.size
    max_pp = replica_latency_s.shape[2]
    free = np.empty((num_slots, max_pp))
    free_before = np.empty((num_slots, max_pp))
    for g in range(num_slots):
        free[g, :] = slot_start_s[g]
    last_batch = np.full(num_slots, -1, np.int64)
    batch_replica = np.empty(n, np.int32)
    batch_size = np.empty(n, np.int32)
    batch_start_s = np.empty(n)
    batch_deadline_s = np.empty(n)
    batch_finish_s = np.empty(n)
    batches = 0
    request_batch = np.full(n, -1, np.int64)
    outcome = np.empty(n, np.int8)
    step = 0
    num_steps = step_start_s.size
    for i in range(n):
        now = arrival_s[i]
        while step + 1 < num_steps and step_start_s[step + 1] <= now:
            step += 1
        row = step * num_models + model[i]
        lo = cand_ptr[row]
        hi = cand_ptr[row + 1]
        if lo == hi:
            outcome[i] = _NO_REPLICA
            continue
        best_s = np.inf
        best_replica = -1
        best_joins = False
        for c in range(lo, hi):
            if cand_available_s[c] > now:
                continue
            r = cand_replica[c]
            g = replica_slot[r]
            pp = slot_pp[g]
            b = last_batch[g]
            joins = False
            finish = 0.0
            if (
                b >= 0
                and batch_start_s[b] > now
                and batch_replica[b] == r
                and batch_size[b] < replica_cap[r]
            ):
                finish = _pipeline_finish(
                    now, free_before[g], replica_latency_s[r, batch_size[b]], pp
                )
                joins = finish <= batch_deadline_s[b]
            if not joins:
                finish = _pipeline_finish(now, free[g], replica_latency_s[r, 0], pp)
            if finish < best_s:
                best_s = finish
                best_replica = r
                best_joins = joins
        if best_replica < 0:
            outcome[i] = _UNAVAILABLE
            continue
        if best_s > deadline_s[i]:
            outcome[i] = _DROPPED_SLO
            continue
        r = best_replica
        g = replica_slot[r]
        pp = slot_pp[g]
        if best_joins:
            b = last_batch[g]
            batch_size[b] += 1
            batch_deadline_s[b] = min(batch_deadline_s[b], deadline_s[i])
        else:
            b = batches
            batches += 1
            free_before[g, :pp] = free[g, :pp]
            batch_replica[b] = r
            batch_size[b] = 1
            batch_deadline_s[b] = deadline_s[i]
            last_batch[g] = b
        batch_start_s[b] = _run_pipeline(
            now, free_before[g], replica_latency_s[r, batch_size[b] - 1], pp, free[g]
        )
        batch_finish_s[b] = free[g, pp - 1]
        request_batch[i] = b
        outcome[i] = _SERVED

    finish_s = np.full(n, np.nan)
    group = np.full(n, -1, np.int32)
    size = np.zeros(n, np.int16)
    for i in range(n):
        b = request_batch[i]
        if b >= 0:
            finish_s[i] = batch_finish_s[b]
            group[i] = replica_slot[batch_replica[b]]
            size[i] = batch_size[b]
    busy_s = np.zeros(num_slots)
    for b in range(batches):
        r = batch_replica[b]
        g = replica_slot[r]
        for s in range(slot_pp[g]):
            busy_s[g] += replica_latency_s[r, batch_size[b] - 1, s]
    return finish_s, outcome, group, size, busy_s


def run_fcfs(plan: CompiledPlan, work: CompiledWorkload) -> EngineOutput:
    """Run the FCFS kernel on a compiled plan and workload."""
    return EngineOutput(
        *_fcfs(
            work.arrival_s,
            work.model,
            work.deadline_s,
            len(work.model_names),
            plan.step_start_s,
            plan.cand_ptr,
            plan.cand_replica,
            plan.cand_available_s,
            plan.replica_slot,
            plan.replica_cap,
            plan.replica_latency_s,
            plan.slot_pp,
            plan.slot_start_s,
        )
    )


KERNELS: dict[str, Callable[[CompiledPlan, CompiledWorkload], EngineOutput]] = {"fcfs": run_fcfs}
"""Fast engine entry point per policy name."""
