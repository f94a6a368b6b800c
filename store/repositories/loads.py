"""Replica loads measured by executors: one row per (executor, model,
group, plan version), so a resent measurement is stored once. A model's
measured load time is its latest measurement in the cluster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import ReplicaLoad


@dataclass(frozen=True)
class Load:
    """``seconds`` to load ``model`` (``bytes`` of weights) into group
    ``group`` of plan version ``version``."""

    model: str
    group: int
    seconds: float
    bytes: int
    version: int


def record(session: Session, cluster_id: int, executor_id: int, loads: Sequence[Load]) -> int:
    """Store the loads not stored yet for this executor; how many were new."""
    if not loads:
        return 0
    stored: set[tuple[str, int, int]] = set(
        session.execute(
            select(ReplicaLoad.model, ReplicaLoad.group_index, ReplicaLoad.version).where(
                ReplicaLoad.executor_id == executor_id,
                ReplicaLoad.model.in_([load.model for load in loads]),
            )
        ).all()
    )
    new = 0
    for load in loads:
        key = (load.model, load.group, load.version)
        if key in stored:
            continue
        stored.add(key)
        session.add(
            ReplicaLoad(
                cluster_id=cluster_id,
                executor_id=executor_id,
                model=load.model,
                group_index=load.group,
                version=load.version,
                seconds=load.seconds,
                bytes=load.bytes,
            )
        )
        new += 1
    session.flush()
    return new


def latest_seconds(session: Session, cluster_id: int) -> dict[str, float]:
    """Per model, the seconds of its latest measured load in the cluster."""
    latest = (
        select(func.max(ReplicaLoad.id))
        .where(ReplicaLoad.cluster_id == cluster_id)
        .group_by(ReplicaLoad.model)
    )
    rows = session.execute(
        select(ReplicaLoad.model, ReplicaLoad.seconds).where(ReplicaLoad.id.in_(latest))
    )
    return {row.model: row.seconds for row in rows}
