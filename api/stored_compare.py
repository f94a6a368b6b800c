"""The comparison of plans the service made, from the API's JSON forms of
their jobs and plans (``JobOut``, ``PlanOut``): the same functions serve
``meshplan report compare --api`` (which reads them over HTTP) and
``POST /v1/reports`` with ``compare`` (which renders the rows itself), so
both build the same report (:func:`planner.evaluation.reports.compare_stored`).

Every job must have succeeded, and all must share one cluster, one
workload and one set of simulator options (``max_batch``, ``warmup_s``),
since all plans are simulated on one instance. A row's label is the job's
solver, or ``"<solver> (plan <id>)"`` when two jobs used the same solver."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner import domain
from planner.codec import decode
from planner.evaluation.reports import CompareReport, SolveFacts, StoredPlan, compare_stored
from planner.placement.options import split_options
from planner.sim import SimOptions

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Stored:
    """What the chosen jobs share and their plans: the cluster and workload
    ids, the simulator options, and one :class:`StoredPlan` per job."""

    cluster_id: int
    workload_id: int
    model_ids: tuple[int, ...]
    sim: SimOptions
    plans: tuple[StoredPlan, ...]
    source: dict[str, Any]


def _label(job: Json, solvers: Counter[str]) -> str:
    solver = str(job["solver"])
    return solver if solvers[solver] == 1 else f"{solver} (plan {job['plan_id']})"


def check_job(job: Json, where: str) -> None:
    """ValueError naming ``where`` when the job has no plan to compare."""
    if job["status"] != "succeeded" or job["plan_id"] is None:
        raise ValueError(f"{where}: job {job['id']} is {job['status']}, it has no plan to compare")


def stored_plans(jobs: Sequence[Json], plans: Sequence[Json], where: str) -> Stored:
    """The comparison's inputs from jobs and their plans (pairwise, in
    order); ValueError naming ``where[i]`` for a job that cannot be compared
    with the first."""
    if not jobs:
        raise ValueError(f"{where}: needs at least one")
    for i, job in enumerate(jobs):
        check_job(job, f"{where}[{i}]")
    first = jobs[0]
    sim, _ = split_options(first["options"])
    for i, job in enumerate(jobs[1:], start=1):
        for key in ("cluster_id", "workload_id"):
            if job[key] != first[key]:
                raise ValueError(
                    f"{where}[{i}]: job {job['id']} has {key} {job[key]}, "
                    f"job {first['id']} has {first[key]}"
                )
        if split_options(job["options"])[0] != sim:
            raise ValueError(
                f"{where}[{i}]: job {job['id']} simulates with other options "
                f"(max_batch, warmup_s) than job {first['id']}"
            )
    solvers = Counter(str(job["solver"]) for job in jobs)
    rows = tuple(
        StoredPlan(
            label=_label(job, solvers),
            placement=decode(domain.Placement, plan["placement"], "placement"),
            facts=SolveFacts(
                solver=str(job["solver"]),
                status=str(job["solve_status"]),
                attainment=float(job["attainment"]),
                wall_s=float(job["wall_s"]),
                gap=job["gap"],
                upper_bound=job.get("upper_bound"),
                gap_points=job.get("gap_points"),
            ),
        )
        for job, plan in zip(jobs, plans, strict=True)
    )
    model_ids = tuple(dict.fromkeys(m["id"] for job in jobs for m in job["models"]))
    source = {"jobs": [job["id"] for job in jobs], "plans": [plan["id"] for plan in plans]}
    return Stored(first["cluster_id"], first["workload_id"], model_ids, sim, rows, source)


def model_value(detail: Json) -> domain.ModelSpec:
    """A model from its API detail (``ModelDetail``: name, SLO, family, profile)."""
    profile = decode(domain.Profile, detail["profile"], "profile")
    return domain.ModelSpec(str(detail["name"]), float(detail["slo_s"]), profile, detail["family"])


CLUSTER_FIELDS = (
    "num_devices",
    "device_mem_bytes",
    "devices_per_node",
    "load_bw_bytes_per_s",
    "load_overhead_s",
)


def cluster_value(data: Json) -> domain.Cluster:
    """A cluster from its API form (``ClusterOut``: the domain fields among others)."""
    return domain.Cluster(**{name: data[name] for name in CLUSTER_FIELDS})


def build(
    stored: Stored,
    cluster: domain.Cluster,
    models: Sequence[domain.ModelSpec],
    workload: domain.Workload,
    title: str,
) -> CompareReport:
    """The report of ``stored`` on the given instance values."""
    return compare_stored(
        cluster, models, workload, stored.plans, sim=stored.sim, source=stored.source, title=title
    )
