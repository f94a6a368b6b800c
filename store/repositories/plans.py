"""Plans and their activation. A cluster serves at most one plan; every
activation bumps the cluster's plan version by one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from planner import domain
from planner.codec import encode
from store.models import ActivePlan, Cluster, Model, Plan, PlanJob
from store.repositories.catalog import max_batch, model_values
from store.types import utcnow


def model_snapshot(session: Session, models: Sequence[Model]) -> dict[str, dict[str, Any]]:
    """What executors need per model, frozen into a plan: SLO (s), family,
    architecture (or None) and batch size cap."""
    specs = model_values(session, models)
    return {
        row.name: {
            "slo_s": row.slo_s,
            "family": row.family,
            "architecture": row.architecture,
            "max_batch": max_batch(row, spec),
        }
        for row, spec in zip(models, specs, strict=True)
    }


def add_plan(
    session: Session,
    cluster_id: int,
    placement: domain.Placement,
    models: Mapping[str, Mapping[str, Any]],
    *,
    job: PlanJob | None = None,
    solver: str | None = None,
    attainment: float | None = None,
    objective: float | None = None,
) -> Plan:
    """Store a plan for a cluster (from ``job`` if it came from a solve)."""
    plan = Plan(
        cluster_id=cluster_id,
        job_id=job.id if job is not None else None,
        solver=solver,
        placement=encode(placement),
        models=dict(models),
        attainment=attainment,
        objective=objective,
    )
    session.add(plan)
    session.flush()
    return plan


def activate(
    session: Session,
    plan: Plan,
    now: dt.datetime | None = None,
    *,
    transition: Mapping[str, Any] | None = None,
) -> ActivePlan:
    """Make ``plan`` its cluster's active plan and bump the plan version;
    ``transition`` (the re-planner's ordered steps from the previous
    version) is served with it, None for an activation by hand. The cluster
    row is locked first so concurrent activations serialise."""
    session.execute(select(Cluster.id).where(Cluster.id == plan.cluster_id).with_for_update())
    active = session.get(ActivePlan, plan.cluster_id, populate_existing=True)
    if active is None:
        active = ActivePlan(cluster_id=plan.cluster_id, plan_id=plan.id, version=1)
        session.add(active)
    else:
        active.plan_id = plan.id
        active.version += 1
    active.activated_at = now or utcnow()
    active.transition = None if transition is None else dict(transition)
    active.plan = plan
    session.flush()
    return active


def active_plan(session: Session, cluster_id: int) -> ActivePlan | None:
    """The cluster's active plan row, or None."""
    return session.get(ActivePlan, cluster_id)


_ACTIVE_VERSION = select(ActivePlan.plan_id, ActivePlan.version).where(
    ActivePlan.cluster_id == bindparam("cluster_id")
)


def active_version(session: Session, cluster_id: int) -> tuple[int, int] | None:
    """``(plan_id, version)`` of the cluster's active plan, or None: one
    prepared Core query, since executors poll it several times a second."""
    row = session.connection().execute(_ACTIVE_VERSION, {"cluster_id": cluster_id}).first()
    return None if row is None else (row.plan_id, row.version)
