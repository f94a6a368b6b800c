"""The plan-job queue. Workers claim a job with a lease (a random token that
is valid until ``lease_expires_at``), renew it while solving and finish the
job only while they still hold it, so a job completes exactly once even
when a worker dies and another one claims the job again.

Claiming locks the candidate row with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (concurrent workers skip each other's rows); on SQLite the
caller's transaction must hold the write lock
(:data:`store.db.WRITE_LOCK`), which serialises claims."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from store.enums import JobKind, JobStatus
from store.models import Model, PlanJob
from store.types import utcnow


@dataclass(frozen=True)
class Lease:
    """Proof that ``owner`` holds job ``job_id`` (while ``token`` matches)."""

    job_id: int
    token: str
    owner: str


class LeaseState(enum.Enum):
    HELD = "held"
    CANCEL_REQUESTED = "cancel_requested"
    LOST = "lost"


def enqueue(
    session: Session,
    *,
    cluster_id: int,
    workload_id: int | None,
    models: Sequence[Model],
    solver: str,
    time_limit_s: float,
    options: Mapping[str, Any],
    activate: bool,
    kind: JobKind = JobKind.PLAN,
    not_before: dt.datetime | None = None,
) -> PlanJob:
    """Queue a job of ``kind`` for ``models`` on a cluster and workload
    (none for a ``replan`` job), claimable from ``not_before`` (None: now)."""
    job = PlanJob(
        kind=kind,
        cluster_id=cluster_id,
        workload_id=workload_id,
        models=list(models),
        plan=None,
        solver=solver,
        time_limit_s=time_limit_s,
        options=dict(options),
        activate=activate,
        status=JobStatus.QUEUED,
        progress=0.0,
        attempts=0,
        cancel_requested=False,
        not_before=not_before,
    )
    session.add(job)
    session.flush()
    return job


def _claimable(now: dt.datetime) -> Any:
    return or_(
        and_(
            PlanJob.status == JobStatus.QUEUED,
            or_(PlanJob.not_before.is_(None), PlanJob.not_before <= now),
        ),
        and_(PlanJob.status == JobStatus.RUNNING, PlanJob.lease_expires_at < now),
    )


def claim(
    session: Session,
    owner: str,
    *,
    lease_s: float,
    max_attempts: int,
    now: dt.datetime | None = None,
) -> Lease | None:
    """Claim the oldest queued job whose ``not_before`` has come, or a
    running one whose lease expired,
    for ``lease_s`` seconds. An expired job that was cancelled meanwhile is
    marked cancelled; one already claimed ``max_attempts`` times is marked
    failed; neither is returned. None when nothing is claimable."""
    now = now or utcnow()
    while True:
        query = (
            select(PlanJob)
            .where(_claimable(now))
            .order_by(PlanJob.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job = session.scalars(query).first()
        if job is None:
            return None
        if job.status == JobStatus.RUNNING and job.cancel_requested:
            finish(job, JobStatus.CANCELLED, now, message="cancelled")
            continue
        if job.attempts >= max_attempts:
            finish(
                job,
                JobStatus.FAILED,
                now,
                error=f"abandoned: its lease expired {job.attempts} times",
            )
            continue
        token = str(uuid.uuid4())
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.lease_owner = owner
        job.lease_token = token
        job.lease_expires_at = now + dt.timedelta(seconds=lease_s)
        job.heartbeat_at = now
        job.started_at = job.started_at or now
        session.flush()
        return Lease(job.id, token, owner)


def held(session: Session, lease: Lease) -> PlanJob | None:
    """The job, locked, if ``lease`` still holds it; otherwise None."""
    job = session.get(PlanJob, lease.job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != JobStatus.RUNNING or job.lease_token != lease.token:
        return None
    return job


def renew(
    session: Session,
    lease: Lease,
    *,
    lease_s: float,
    progress: float | None = None,
    message: str | None = None,
    now: dt.datetime | None = None,
) -> LeaseState:
    """Extend the lease by ``lease_s`` seconds from now and record progress
    (a fraction in [0, 1]). Says whether the lease is still held and whether
    a cancel was requested."""
    now = now or utcnow()
    job = held(session, lease)
    if job is None:
        return LeaseState.LOST
    job.lease_expires_at = now + dt.timedelta(seconds=lease_s)
    job.heartbeat_at = now
    if progress is not None:
        job.progress = min(1.0, max(0.0, float(progress)))
    if message is not None:
        job.message = message[:500]
    return LeaseState.CANCEL_REQUESTED if job.cancel_requested else LeaseState.HELD


def finish(
    job: PlanJob,
    status: JobStatus,
    now: dt.datetime | None = None,
    *,
    error: str | None = None,
    message: str | None = None,
) -> None:
    """Move a job to a final status and drop its lease."""
    job.status = status
    job.finished_at = now or utcnow()
    job.lease_token = None
    job.lease_expires_at = None
    if status == JobStatus.SUCCEEDED:
        job.progress = 1.0
    if error is not None:
        job.error = error
    if message is not None:
        job.message = message[:500]


def request_cancel(session: Session, job: PlanJob, now: dt.datetime | None = None) -> bool:
    """Cancel a queued job at once, or ask the worker of a running one to
    stop. False when the job already finished."""
    session.refresh(job, with_for_update=True)
    if job.status == JobStatus.QUEUED:
        finish(job, JobStatus.CANCELLED, now, message="cancelled before it started")
        return True
    if job.status == JobStatus.RUNNING:
        job.cancel_requested = True
        return True
    return False
