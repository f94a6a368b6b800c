"""Compile a case into the flat arrays the fast engine runs on.

A plan compiles to: the step start times; one *replica* per (numbered group,
model) pair with its batch cap and latency table ``latency_s[r, b - 1, s]``;
and, per (step, model), a CSR list of candidate replicas sorted by group
number, each with the time it becomes available in that step. A workload
compiles to per-request model indices, deadlines and the scored mask.

Group numbering (shared by both engines and by :class:`GroupSlot`): walk the
steps in order and each step's groups in placement order; a group with the
same devices and config as a group of the previous step keeps that group's
number, any other group gets the next unused number. A group that leaves the
plan and comes back later is therefore a new group (it restarts idle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Cluster, ModelSpec, ParallelConfig, StageProfile, TimedPlan
from planner.sim.instance import Instance

GroupKey = tuple[tuple[int, ...], ParallelConfig]


@dataclass(frozen=True)
class GroupSlot:
    """One numbered group of a plan: its devices and config, the steps
    ``first_step..last_step`` it lives through and ``start_s``, the start of
    its first step (when it starts idle)."""

    index: int
    devices: tuple[int, ...]
    config: ParallelConfig
    first_step: int
    last_step: int
    start_s: float

    @property
    def label(self) -> str:
        """Short display name, e.g. ``g3 op2xpp1 [4,5]``."""
        return f"g{self.index} {self.config} [{','.join(map(str, self.devices))}]"


def number_groups(plan: TimedPlan) -> tuple[tuple[GroupSlot, ...], tuple[tuple[int, ...], ...]]:
    """Number the groups of ``plan`` (see the module docstring). Returns the
    numbered groups and, per step, the number of each of its groups in
    placement order."""
    first: list[tuple[GroupKey, int, float]] = []
    last_step: list[int] = []
    previous: dict[GroupKey, int] = {}
    step_slots: list[tuple[int, ...]] = []
    for k, (start_s, placement) in enumerate(plan.steps):
        current: dict[GroupKey, int] = {}
        for group in placement.groups:
            key = (group.devices, group.config)
            slot = previous.get(key)
            if slot is None:
                slot = len(first)
                first.append((key, k, start_s))
                last_step.append(k)
            last_step[slot] = k
            current[key] = slot
        step_slots.append(tuple(current.values()))
        previous = current
    slots = tuple(
        GroupSlot(i, devices, config, step, last_step[i], start_s)
        for i, ((devices, config), step, start_s) in enumerate(first)
    )
    return slots, tuple(step_slots)


@dataclass(frozen=True, eq=False)
class CompiledPlan:
    """A timed plan as flat arrays (see the module docstring). ``K`` steps,
    ``M`` models, ``R`` replicas, ``G`` numbered groups."""

    step_start_s: npt.NDArray[np.float64]  # [K]
    cand_ptr: npt.NDArray[np.int64]  # [K * M + 1], CSR row of (step k, model m) is k * M + m
    cand_replica: npt.NDArray[np.int32]  # [C], sorted by group number within a row
    cand_available_s: npt.NDArray[np.float64]  # [C]
    replica_slot: npt.NDArray[np.int32]  # [R]
    replica_cap: npt.NDArray[np.int32]  # [R], batch cap
    replica_latency_s: npt.NDArray[np.float64]  # [R, max cap, max pp]
    slot_pp: npt.NDArray[np.int32]  # [G]
    slot_start_s: npt.NDArray[np.float64]  # [G]
    slots: tuple[GroupSlot, ...]


def compile_plan(
    cluster: Cluster, models: Sequence[ModelSpec], plan: TimedPlan, max_batch: int
) -> CompiledPlan:
    """Compile an already validated plan. Step 0's replicas are available at
    0; at a later step a group's newly added models load one after another in
    ``group.models`` order, kept models keep their availability."""
    index = {model.name: j for j, model in enumerate(models)}
    num_models = len(models)
    slots, step_slots = number_groups(plan)
    replica_of: dict[tuple[int, int], int] = {}
    replica_profiles: list[StageProfile] = []
    rows: list[list[tuple[int, int, float]]] = [[] for _ in range(len(plan.steps) * num_models)]
    before: dict[int, dict[int, float]] = {}
    for k, (start_s, placement) in enumerate(plan.steps):
        now: dict[int, dict[int, float]] = {}
        for group, slot in zip(placement.groups, step_slots[k], strict=True):
            kept = before.get(slot, {})
            available: dict[int, float] = {}
            loading_s = 0.0
            for name in group.models:
                j = index[name]
                profile = models[j].profile[group.config]
                if j in kept:
                    available[j] = kept[j]
                elif k == 0:
                    available[j] = start_s
                else:
                    loading_s += cluster.load_time_s(profile.weight_bytes)
                    available[j] = start_s + loading_s
                if (slot, j) not in replica_of:
                    replica_of[slot, j] = len(replica_profiles)
                    replica_profiles.append(profile)
                rows[k * num_models + j].append((slot, replica_of[slot, j], available[j]))
            now[slot] = available
        before = now
    for row in rows:
        row.sort()
    entries = [entry for row in rows for entry in row]
    replica_slot = [slot for slot, _ in replica_of]
    caps = [min(max_batch, profile.max_batch) for profile in replica_profiles]
    max_pp = max((slot.config.pp for slot in slots), default=1)
    latency = np.zeros((len(replica_profiles), max(caps, default=1), max_pp))
    for r, profile in enumerate(replica_profiles):
        table = np.asarray(profile.latency_s[: caps[r]], dtype=np.float64)
        latency[r, : table.shape[0], : table.shape[1]] = table
    return CompiledPlan(
        step_start_s=np.array([start for start, _ in plan.steps], dtype=np.float64),
        cand_ptr=np.concatenate(([0], np.cumsum([len(row) for row in rows]))).astype(np.int64),
        cand_replica=np.array([r for _, r, _ in entries], dtype=np.int32),
        cand_available_s=np.array([a for _, _, a in entries], dtype=np.float64),
        replica_slot=np.array(replica_slot, dtype=np.int32),
        replica_cap=np.array(caps, dtype=np.int32),
        replica_latency_s=latency,
        slot_pp=np.array([slot.config.pp for slot in slots], dtype=np.int32),
        slot_start_s=np.array([slot.start_s for slot in slots], dtype=np.float64),
        slots=slots,
    )


@dataclass(frozen=True, eq=False)
class CompiledWorkload:
    """A workload against a model set: per request its arrival, model index
    (into the model set), deadline ``arrival + slo_s`` and whether it is
    scored; ``scored_span_s`` is the length of the scored arrival interval."""

    arrival_s: npt.NDArray[np.float64]
    model: npt.NDArray[np.int32]
    deadline_s: npt.NDArray[np.float64]
    scored: npt.NDArray[np.bool_]
    model_names: tuple[str, ...]
    duration_s: float
    scored_span_s: float


def compile_workload(instance: Instance) -> CompiledWorkload:
    """Map the instance's workload onto its model set (the instance has
    checked that they match)."""
    models, workload, options = instance.models, instance.workload, instance.options
    index = {model.name: j for j, model in enumerate(models)}
    end_s = workload.duration_s - options.cooldown_s
    mapping = np.array([index[name] for name in workload.model_names], dtype=np.int32)
    model = mapping[workload.model_ids] if workload.num_requests else np.empty(0, np.int32)
    slo_s = np.array([m.slo_s for m in models], dtype=np.float64)
    arrival_s = np.array(workload.arrivals_s, dtype=np.float64)
    return CompiledWorkload(
        arrival_s=arrival_s,
        model=np.ascontiguousarray(model, dtype=np.int32),
        deadline_s=arrival_s + slo_s[model],
        scored=(arrival_s >= options.warmup_s) & (arrival_s < end_s),
        model_names=tuple(model.name for model in models),
        duration_s=workload.duration_s,
        scored_span_s=end_s - options.warmup_s,
    )
