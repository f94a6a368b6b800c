"""Capacity jobs: the fewest devices reaching a target attainment
(:mod:`planner.evaluation.devices`), run by the solve worker on the job
queue's lease machinery. A capacity job is a ``plan_jobs`` row of kind
``capacity``: its cluster is the template, ``options`` holds ``target`` and
``max_devices``, ``solver`` is searched beside the baselines (Selective
Replication, Clockwork++), and the answer goes to ``result`` (no plan is
stored: the answer's cluster is not the stored one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from planner.codec import encode
from planner.deadline import Deadline
from planner.domain import Cluster as ClusterValue
from planner.domain import ModelSpec, Workload
from planner.evaluation.devices import CLOCKWORK, DeviceNeed, device_need
from store.enums import JobStatus
from store.models import Cluster, PlanJob
from store.models import Workload as WorkloadRow
from store.repositories import catalog, jobs, workloads
from store.repositories.jobs import Lease

BASELINES = ("sr", CLOCKWORK)
"""Strategies searched beside the job's solver."""


@dataclass(frozen=True)
class CapacityInputs:
    """What a capacity job searches with."""

    cluster: ClusterValue
    models: tuple[ModelSpec, ...]
    workload: Workload
    solver: str
    target: float
    max_devices: int
    time_limit_s: float


def capacity_options(target: float, max_devices: int) -> dict[str, Any]:
    """A capacity job's ``options``."""
    return {"target": target, "max_devices": max_devices}


def load_inputs(session: Session, job: PlanJob) -> CapacityInputs:
    """The stored job's inputs (ValueError naming the field when its
    options lack one)."""
    options: Mapping[str, Any] = job.options
    for name in ("target", "max_devices"):
        if name not in options:
            raise ValueError(f"options.{name}: missing")
    return CapacityInputs(
        catalog.cluster_value(session.get_one(Cluster, job.cluster_id)),
        tuple(catalog.model_values(session, job.models)),
        workloads.workload_value(session.get_one(WorkloadRow, job.workload_id)),
        job.solver,
        float(options["target"]),
        int(options["max_devices"]),
        job.time_limit_s,
    )


def search(
    inputs: CapacityInputs, deadline: Deadline, progress: Callable[[float, str], None]
) -> DeviceNeed:
    """The answers for the job's solver and the baselines."""
    return device_need(
        (inputs.solver, *BASELINES),
        inputs.cluster,
        inputs.models,
        inputs.workload,
        target=inputs.target,
        max_devices=inputs.max_devices,
        deadline=deadline,
        progress=progress,
    )


def store(session: Session, lease: Lease, need: DeviceNeed) -> None:
    """Record the answer and mark the job succeeded (or cancelled) if
    ``lease`` still holds it; a one-line summary goes to ``message``."""
    job = jobs.held(session, lease)
    if job is None:
        return
    if job.cancel_requested:
        jobs.finish(job, JobStatus.CANCELLED)
        return
    job.result = encode(need)
    summary = "; ".join(f"{a.strategy}: {a.describe()}" for a in need.answers)
    jobs.finish(job, JobStatus.SUCCEEDED, message=summary)
