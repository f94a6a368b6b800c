"""Executor agents: registration and heartbeats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.enums import ExecutorState
from store.models import Executor
from store.types import utcnow


def register(
    session: Session, *, name: str, cluster_id: int, devices: Sequence[int], url: str
) -> tuple[Executor, bool]:
    """Register an executor, or update the one of that name in the cluster
    (an agent that restarted). Returns the row and whether it is new."""
    row = session.scalars(
        select(Executor).where(Executor.cluster_id == cluster_id, Executor.name == name)
    ).first()
    created = row is None
    if row is None:
        row = Executor(name=name, cluster_id=cluster_id)
        session.add(row)
    row.devices = list(devices)
    row.url = url
    row.state = ExecutorState.REGISTERED
    row.applied_version = None
    row.errors = None
    session.flush()
    return row, created


def heartbeat(
    session: Session,
    row: Executor,
    *,
    state: ExecutorState,
    applied_version: int | None,
    groups: Sequence[Any],
    latency_s: Mapping[str, Any],
    errors: Mapping[str, str],
    now: dt.datetime | None = None,
) -> None:
    """Record what the executor reports about itself: state, the plan
    version it applied, its groups, latencies and per-model load errors."""
    row.state = state
    row.applied_version = applied_version
    row.groups = list(groups)
    row.latency_s = dict(latency_s)
    row.errors = dict(errors)
    row.last_heartbeat_at = now or utcnow()


def is_healthy(row: Executor, stale_after_s: float, now: dt.datetime | None = None) -> bool:
    """True when the executor heartbeated within ``stale_after_s`` seconds
    and does not report itself degraded."""
    if row.last_heartbeat_at is None or row.state == ExecutorState.DEGRADED:
        return False
    age_s = ((now or utcnow()) - row.last_heartbeat_at).total_seconds()
    return age_s <= stale_after_s
