"""Jobs: ``/v1/jobs``. Jobs are created by ``POST /v1/plans`` and
``POST /v1/capacity``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response
from pydantic import Field
from sqlalchemy.orm import selectinload

from api.auth import Permission
from api.database import session
from api.errors import Problem
from api.fields import Id
from api.routing import Out, PageQuery, found, operation, render, reply
from api.views import list_view, show_view
from store.enums import JobKind, JobStatus
from store.models import PlanJob
from store.repositories import jobs

bp = Blueprint("jobs", __name__)


class JobQuery(PageQuery):
    status: JobStatus | None = None
    cluster_id: Id | None = None


class ModelRef(Out):
    id: int
    name: str


class JobOut(Out):
    id: int
    kind: JobKind = Field(
        description="plan: a placement; capacity: the fewest devices; "
        "replan: one window of the cluster's live re-placement"
    )
    status: JobStatus
    cluster_id: int
    workload_id: int | None = Field(description="none for a replan job")
    models: list[ModelRef]
    solver: str
    time_limit_s: float
    options: dict[str, Any]
    activate: bool
    progress: float = Field(description="fraction done, 0..1")
    message: str | None
    attempts: int = Field(description="how many times a worker claimed the job")
    cancel_requested: bool
    attainment: float | None = Field(description="simulated SLO attainment of the plan")
    objective: float | None = Field(description="the solver's proxy objective")
    bound: float | None
    gap: float | None
    solve_status: str | None
    wall_s: float | None
    error: str | None
    plan_id: int | None
    created_at: dt.datetime
    not_before: dt.datetime | None = Field(description="not claimed before this time")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobDetail(JobOut):
    result: dict[str, Any] | None = Field(
        description="the solver's full result; a capacity job's answer per strategy"
    )


list_view(
    bp,
    "/jobs",
    "list_jobs",
    PlanJob,
    JobOut,
    summary="List plan jobs (filter by status, cluster)",
    response=JobOut,
    query=JobQuery,
    filters=("status", "cluster_id"),
    options=(selectinload(PlanJob.models), selectinload(PlanJob.plan)),
)
show_view(
    bp,
    "/jobs/<int:job_id>",
    "get_job",
    PlanJob,
    JobDetail,
    label="job",
    summary="Show a job: status, progress, result",
    response=JobDetail,
)


@operation(
    bp,
    "/jobs/<int:job_id>/cancel",
    "POST",
    summary="Cancel a job (at once if queued; running jobs stop at their next progress report)",
    permission=Permission.WRITE,
    response=JobDetail,
    status=202,
    alternatives={200: JobDetail},
    errors=(409,),
)
def cancel_job(job_id: int) -> Response:
    db = session()
    job = found(db, PlanJob, job_id, "job")
    if not jobs.request_cancel(db, job):
        raise Problem(409, f"job {job_id} already {job.status.value}")
    db.commit()
    status = 200 if job.status == JobStatus.CANCELLED else 202
    return reply(render(JobDetail, job), status)
