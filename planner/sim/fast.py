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
def _candidates(
    now: float,
    request_model: int,
    step: int,
    step_start_s: Floats,
    cand_ptr: npt.NDArray[np.int64],
    num_models: int,
) -> tuple[int, int, int]:
    """The step in force at ``now`` (searching on from ``step``) and the CSR
    range ``lo:hi`` of the request's candidate replicas in that step."""
    while step + 1 < step_start_s.size and step_start_s[step + 1] <= now:
        step += 1
    row = step * num_models + request_model
    return step, cand_ptr[row], cand_ptr[row + 1]


@njit(cache=True)
def _slot_free(slot_start_s: Floats, max_pp: int) -> Floats:
    """When each stage of each group is first free: the group's start."""
    free = np.empty((slot_start_s.size, max_pp))
    for g in range(slot_start_s.size):
        free[g, :] = slot_start_s[g]
    return free


@njit(cache=True)
def _batch_arrays(
    n: int,
) -> tuple[Ints, Ints, Floats, Floats, Floats, npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """Room for up to ``n`` batches (replica, size, start, deadline,
    finish), and per request its batch (-1: none) and outcome."""
    return (
        np.empty(n, np.int32),
        np.empty(n, np.int32),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.full(n, -1, np.int64),
        np.empty(n, np.int8),
    )


@njit(cache=True)
def _entry_arrays(
    n: int,
) -> tuple[
    Ints,
    Ints,
    Floats,
    Floats,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]:
    """Room for ``n`` queue entries of one group: replica, size, deadline,
    slack key, seq, sort order and held batch."""
    return (
        np.empty(n, np.int32),
        np.empty(n, np.int32),
        np.empty(n),
        np.empty(n),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
    )


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
    free = _slot_free(slot_start_s, max_pp)
    free_before = np.empty((num_slots, max_pp))
    last_batch = np.full(num_slots, -1, np.int64)
    (
        batch_replica,
        batch_size,
        batch_start_s,
        batch_deadline_s,
        batch_finish_s,
        request_batch,
        outcome,
    ) = _batch_arrays(n)
    batches = 0
    step = 0
    for i in range(n):
        now = arrival_s[i]
        step, lo, hi = _candidates(now, model[i], step, step_start_s, cand_ptr, num_models)
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

    return _collect(
        request_batch,
        batch_replica,
        batch_size,
        batch_finish_s,
        batches,
        outcome,
        replica_slot,
        replica_latency_s,
        slot_pp,
    )


@njit(cache=True)
def _collect(
    request_batch: npt.NDArray[np.int64],
    batch_replica: Ints,
    batch_size: Ints,
    batch_finish_s: Floats,
    batches: int,
    outcome: npt.NDArray[np.int8],
    replica_slot: Ints,
    replica_latency_s: Floats,
    slot_pp: Ints,
) -> tuple[Floats, npt.NDArray[np.int8], Ints, npt.NDArray[np.int16], Floats]:
    """:class:`EngineOutput`'s fields from the batches: each served
    request's finish, group and batch size, and per-group busy time."""
    n = request_batch.size
    finish_s = np.full(n, np.nan)
    group = np.full(n, -1, np.int32)
    size = np.zeros(n, np.int16)
    for i in range(n):
        b = request_batch[i]
        if b >= 0:
            finish_s[i] = batch_finish_s[b]
            group[i] = replica_slot[batch_replica[b]]
            size[i] = batch_size[b]
    busy_s = np.zeros(slot_pp.size)
    for b in range(batches):
        r = batch_replica[b]
        g = replica_slot[r]
        for s in range(slot_pp[g]):
            busy_s[g] += replica_latency_s[r, batch_size[b] - 1, s]
    return finish_s, outcome, group, size, busy_s


@njit(cache=True)
def _slack_key(deadline_s: float, latency_s: Floats, pp: int) -> float:
    """See ``reference.slack_key``: deadline minus the stage latencies
    summed in stage order."""
    total = 0.0
    for s in range(pp):
        total += latency_s[s]
    return deadline_s - total


@njit(cache=True)
def _sort_queue(
    order: npt.NDArray[np.int64], key: Floats, seq: npt.NDArray[np.int64], m: int
) -> None:
    """Insertion-sort ``order[:m]`` (indices) by ``(key, seq)``."""
    for q in range(1, m):
        j = order[q]
        p = q - 1
        while p >= 0 and (
            key[order[p]] > key[j] or (key[order[p]] == key[j] and seq[order[p]] > seq[j])
        ):
            order[p + 1] = order[p]
            p -= 1
        order[p + 1] = j


@njit(cache=True)
def _queue_finish(
    now: float,
    free: Floats,
    m: int,
    mine: int,
    rep: Ints,
    size: Ints,
    deadline_s: Floats,
    key: Floats,
    seq: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    replica_latency_s: Floats,
    pp: int,
    scratch: Floats,
) -> float:
    """Finish of entry ``mine`` when entries ``0..m-1`` run least slack
    first from ``free`` at ``now``; inf if any entry misses its deadline
    (see ``reference.SlackGroup._finish``)."""
    for j in range(m):
        order[j] = j
    _sort_queue(order, key, seq, m)
    scratch[:pp] = free[:pp]
    finish = np.inf
    for q in range(m):
        j = order[q]
        _run_pipeline(now, scratch, replica_latency_s[rep[j], size[j] - 1], pp, scratch)
        if scratch[pp - 1] > deadline_s[j]:
            return np.inf
        if j == mine:
            finish = scratch[pp - 1]
    return finish


@njit(cache=True)
def _slack(
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
    """SLO-aware preemption (``reference.SlackGroup``) over all requests.

    Per group: ``free`` after the started batches and the waiting batches
    ``wait[g, :nwait[g]]`` in queue order with their stage ends ``wend``.
    Per offer, the waiting batches are copied into entry arrays (replica,
    size, deadline, key, seq = batch number) with one more entry for a new
    batch; each option (join waiting batch ``j`` of the model, or new) is
    scheduled least slack first and must keep every deadline."""
    n = arrival_s.size
    num_slots = slot_pp.size
    max_pp = replica_latency_s.shape[2]
    cap = 8
    free = _slot_free(slot_start_s, max_pp)
    nwait = np.zeros(num_slots, np.int64)
    wait = np.empty((num_slots, cap), np.int64)
    wend = np.empty((num_slots, cap, max_pp))
    rep, size, entry_deadline, key, seq, order, held = _entry_arrays(cap + 1)
    scratch = np.empty(max_pp)
    (
        batch_replica,
        batch_size,
        batch_start_s,
        batch_deadline_s,
        batch_finish_s,
        request_batch,
        outcome,
    ) = _batch_arrays(n)
    batches = 0
    step = 0
    for i in range(n):
        now = arrival_s[i]
        step, lo, hi = _candidates(now, model[i], step, step_start_s, cand_ptr, num_models)
        if lo == hi:
            outcome[i] = _NO_REPLICA
            continue
        ready = False
        best_s = np.inf
        best_replica = -1
        best_option = -1
        for c in range(lo, hi):
            if cand_available_s[c] > now:
                continue
            ready = True
            r = cand_replica[c]
            g = replica_slot[r]
            pp = slot_pp[g]
            started = 0
            while started < nwait[g] and batch_start_s[wait[g, started]] <= now:
                started += 1
            if started > 0:
                free[g, :pp] = wend[g, started - 1, :pp]
                m = nwait[g] - started
                wait[g, :m] = wait[g, started : nwait[g]].copy()
                wend[g, :m] = wend[g, started : nwait[g]].copy()
                nwait[g] = m
            m = nwait[g]
            for j in range(m):
                b = wait[g, j]
                rep[j] = batch_replica[b]
                size[j] = batch_size[b]
                entry_deadline[j] = batch_deadline_s[b]
                seq[j] = b
                key[j] = _slack_key(entry_deadline[j], replica_latency_s[rep[j], size[j] - 1], pp)
            for j in range(m):
                if rep[j] != r or size[j] >= replica_cap[r]:
                    continue
                kept_deadline = entry_deadline[j]
                kept_key = key[j]
                size[j] += 1
                entry_deadline[j] = min(kept_deadline, deadline_s[i])
                key[j] = _slack_key(entry_deadline[j], replica_latency_s[r, size[j] - 1], pp)
                finish = _queue_finish(
                    now,
                    free[g],
                    m,
                    j,
                    rep,
                    size,
                    entry_deadline,
                    key,
                    seq,
                    order,
                    replica_latency_s,
                    pp,
                    scratch,
                )
                size[j] -= 1
                entry_deadline[j] = kept_deadline
                key[j] = kept_key
                if finish < best_s:
                    best_s = finish
                    best_replica = r
                    best_option = j
            rep[m] = r
            size[m] = 1
            entry_deadline[m] = deadline_s[i]
            seq[m] = batches
            key[m] = _slack_key(deadline_s[i], replica_latency_s[r, 0], pp)
            finish = _queue_finish(
                now,
                free[g],
                m + 1,
                m,
                rep,
                size,
                entry_deadline,
                key,
                seq,
                order,
                replica_latency_s,
                pp,
                scratch,
            )
            if finish < best_s:
                best_s = finish
                best_replica = r
                best_option = -1
        if not ready:
            outcome[i] = _UNAVAILABLE
            continue
        if best_s > deadline_s[i]:
            outcome[i] = _DROPPED_SLO
            continue
        r = best_replica
        g = replica_slot[r]
        pp = slot_pp[g]
        m = nwait[g]
        if best_option < 0:
            if m == cap:
                cap *= 2
                grown = np.empty((num_slots, cap), np.int64)
                grown[:, : cap // 2] = wait
                wait = grown
                grown_end = np.empty((num_slots, cap, max_pp))
                grown_end[:, : cap // 2] = wend
                wend = grown_end
                rep, size, entry_deadline, key, seq, order, held = _entry_arrays(cap + 1)
            b = batches
            batches += 1
            batch_replica[b] = r
            batch_size[b] = 1
            batch_deadline_s[b] = deadline_s[i]
            wait[g, m] = b
            m += 1
            nwait[g] = m
        else:
            b = wait[g, best_option]
            batch_size[b] += 1
            batch_deadline_s[b] = min(batch_deadline_s[b], deadline_s[i])
        for j in range(m):
            w = wait[g, j]
            order[j] = j
            seq[j] = w
            key[j] = _slack_key(
                batch_deadline_s[w], replica_latency_s[batch_replica[w], batch_size[w] - 1], pp
            )
        _sort_queue(order, key, seq, m)
        held[:m] = wait[g, :m]
        scratch[:pp] = free[g, :pp]
        for q in range(m):
            w = held[order[q]]
            wait[g, q] = w
            batch_start_s[w] = _run_pipeline(
                now, scratch, replica_latency_s[batch_replica[w], batch_size[w] - 1], pp, scratch
            )
            wend[g, q, :pp] = scratch[:pp]
            batch_finish_s[w] = scratch[pp - 1]
        request_batch[i] = b
        outcome[i] = _SERVED
    return _collect(
        request_batch,
        batch_replica,
        batch_size,
        batch_finish_s,
        batches,
        outcome,
        replica_slot,
        replica_latency_s,
        slot_pp,
    )


def _runner(
    kernel: Callable[..., tuple[Floats, npt.NDArray[np.int8], Ints, npt.NDArray[np.int16], Floats]],
) -> Callable[[CompiledPlan, CompiledWorkload], EngineOutput]:
    """The engine entry point running ``kernel`` on a compiled plan and
    workload."""

    def run(plan: CompiledPlan, work: CompiledWorkload) -> EngineOutput:
        return EngineOutput(
            *kernel(
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

    return run


run_fcfs = _runner(_fcfs)
"""Run the FCFS kernel on a compiled plan and workload."""
run_slack = _runner(_slack)
"""Run the SLO-aware preemption kernel on a compiled plan and workload."""

KERNELS: dict[str, Callable[[CompiledPlan, CompiledWorkload], EngineOutput]] = {
    "fcfs": run_fcfs,
    "slack": run_slack,
}
"""Fast engine entry point per policy name."""
