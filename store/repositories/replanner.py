"""The live re-planner's rows: a cluster's settings, its decisions (one at
each window's start, and one at each drift check inside it that
re-solved), and the scheduled ``replan`` job that decides next: a window
from its start, or a drift check ``at_s`` seconds into it. At most one
replan job per cluster is queued or running: :func:`schedule` checks under
the cluster's row lock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.enums import DecisionAction, JobKind, JobStatus
from store.models import Cluster, PlanJob, ReplanDecision, ReplannerSettings
from store.repositories import jobs
from store.types import utcnow

SETTING_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "window_s": 60,
    "forecaster": "ewma",
    "min_gain": 0.01,
    "max_switches_per_hour": 6,
    "revert_margin": 0.05,
    "trust_windows": 0,
    "react_drift": 0.0,
    "nowcast_s": 0,
}
"""A cluster's settings until it stores its own (the re-planner off)."""

MOVES = (DecisionAction.SWITCH, DecisionAction.REVERT)


def settings_of(session: Session, cluster_id: int) -> dict[str, Any]:
    """The cluster's settings (:data:`SETTING_DEFAULTS` where none are stored)."""
    row = session.get(ReplannerSettings, cluster_id)
    if row is None:
        return dict(SETTING_DEFAULTS)
    return {name: getattr(row, name) for name in SETTING_DEFAULTS}


def put_settings(session: Session, cluster_id: int, values: Mapping[str, Any]) -> None:
    """Store the cluster's settings (every name of :data:`SETTING_DEFAULTS`)."""
    row = session.get(ReplannerSettings, cluster_id)
    if row is None:
        row = ReplannerSettings(cluster_id=cluster_id)
        session.add(row)
    for name in SETTING_DEFAULTS:
        setattr(row, name, values[name])
    row.updated_at = utcnow()
    session.flush()


def pending_job(session: Session, cluster_id: int) -> PlanJob | None:
    """The cluster's queued or running replan job, if any."""
    return session.scalars(
        select(PlanJob).where(
            PlanJob.cluster_id == cluster_id,
            PlanJob.kind == JobKind.REPLAN,
            PlanJob.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
        )
    ).first()


def window_start_of(job: PlanJob) -> int:
    """The start (unix s) of the window a replan job decides."""
    return int(job.options["window_start"])


def at_of(job: PlanJob) -> int:
    """Seconds into its window of a replan job's decision (0: the window's start)."""
    return int(job.options.get("at_s", 0))


def schedule(
    session: Session, cluster_id: int, window_start: int, time_limit_s: float, at_s: int = 0
) -> PlanJob | None:
    """Queue the replan job deciding ``at_s`` seconds into the window from
    ``window_start`` (unix s), claimable from that instant, unless the
    cluster has a replan job queued or running; the new job, or None."""
    session.execute(select(Cluster.id).where(Cluster.id == cluster_id).with_for_update())
    if pending_job(session, cluster_id) is not None:
        return None
    return jobs.enqueue(
        session,
        cluster_id=cluster_id,
        workload_id=None,
        models=[],
        solver="greedy",
        time_limit_s=time_limit_s,
        options={"window_start": window_start, "at_s": at_s},
        activate=False,
        kind=JobKind.REPLAN,
        not_before=dt.datetime.fromtimestamp(window_start + at_s, dt.UTC),
    )


def decision_for(
    session: Session, cluster_id: int, window_start: int, at_s: int = 0
) -> ReplanDecision | None:
    """The decision stored ``at_s`` seconds into the cluster's window from
    ``window_start``."""
    return session.scalars(
        select(ReplanDecision).where(
            ReplanDecision.cluster_id == cluster_id,
            ReplanDecision.window_start == window_start,
            ReplanDecision.at_s == at_s,
        )
    ).first()


def latest_in_window(session: Session, cluster_id: int, window_start: int) -> ReplanDecision | None:
    """The last decision stored in the cluster's window from ``window_start``."""
    query = select(ReplanDecision).where(
        ReplanDecision.cluster_id == cluster_id, ReplanDecision.window_start == window_start
    )
    return session.scalars(query.order_by(ReplanDecision.at_s.desc())).first()


def applied_in_window(session: Session, cluster_id: int, window_start: int) -> list[ReplanDecision]:
    """The switches and reverts applied in the cluster's window from
    ``window_start``, in the order they were made."""
    query = select(ReplanDecision).where(
        ReplanDecision.cluster_id == cluster_id,
        ReplanDecision.window_start == window_start,
        ReplanDecision.chosen.is_(True),
    )
    return list(session.scalars(query.order_by(ReplanDecision.at_s)))


def moves_since(session: Session, cluster_id: int, since_s: int) -> int:
    """Switches and reverts decided at or after ``since_s`` (unix s)."""
    count = session.scalar(
        select(func.count(ReplanDecision.id)).where(
            ReplanDecision.cluster_id == cluster_id,
            ReplanDecision.window_start + ReplanDecision.at_s >= since_s,
            ReplanDecision.action.in_(MOVES),
            ReplanDecision.chosen.is_(True),
        )
    )
    return int(count or 0)
