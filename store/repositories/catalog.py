"""Clusters and models (with their profiles)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from planner import domain
from planner.codec import decode, encode
from store.enums import ProfileSource
from store.models import Cluster, Model, ModelProfile


def add_cluster(session: Session, name: str, cluster: domain.Cluster) -> Cluster:
    """Store a cluster under a unique ``name``."""
    row = Cluster(name=name, **encode(cluster))
    session.add(row)
    session.flush()
    return row


def cluster_value(row: Cluster) -> domain.Cluster:
    """The domain value of a stored cluster."""
    return domain.Cluster(
        num_devices=row.num_devices,
        device_mem_bytes=row.device_mem_bytes,
        devices_per_node=row.devices_per_node,
        load_bw_bytes_per_s=row.load_bw_bytes_per_s,
        load_overhead_s=row.load_overhead_s,
    )


def add_model(
    session: Session,
    spec: domain.ModelSpec,
    *,
    architecture: Mapping[str, Any] | None = None,
    max_batch: int | None = None,
) -> Model:
    """Store a model and its declared profile."""
    row = Model(
        name=spec.name,
        slo_s=spec.slo_s,
        family=spec.family,
        architecture=dict(architecture) if architecture is not None else None,
        max_batch=max_batch,
    )
    session.add(row)
    session.flush()
    set_profile(session, row, spec.profile, ProfileSource.DECLARED)
    return row


def set_profile(
    session: Session, model: Model, profile: domain.Profile, source: ProfileSource
) -> ModelProfile:
    """Make ``profile`` the model's current profile (older ones are kept)."""
    row = ModelProfile(model_id=model.id, source=source, data=encode(profile))
    session.add(row)
    session.flush()
    return row


def current_profiles(session: Session, model_ids: Iterable[int]) -> dict[int, ModelProfile]:
    """The newest profile of each model, by model id."""
    ids = list(model_ids)
    newest = (
        select(func.max(ModelProfile.id))
        .where(ModelProfile.model_id.in_(ids))
        .group_by(ModelProfile.model_id)
    )
    rows = session.scalars(select(ModelProfile).where(ModelProfile.id.in_(newest)))
    return {row.model_id: row for row in rows}


def model_value(row: Model, profile: ModelProfile) -> domain.ModelSpec:
    """The domain value of a stored model under the given profile."""
    return domain.ModelSpec(
        row.name, row.slo_s, decode(domain.Profile, profile.data, "profile"), row.family
    )


def model_values(session: Session, rows: Sequence[Model]) -> list[domain.ModelSpec]:
    """Domain values of ``rows`` (in that order) with their current profiles."""
    profiles = current_profiles(session, (row.id for row in rows))
    return [model_value(row, profiles[row.id]) for row in rows]


def max_batch(row: Model, spec: domain.ModelSpec) -> int:
    """The model's batch size cap: as stored, else the largest batch size its
    profile covers."""
    if row.max_batch is not None:
        return row.max_batch
    return max(stage.max_batch for stage in spec.profile.by_config.values())


def models_named(session: Session, names: Iterable[str]) -> dict[str, Model]:
    """Stored models among ``names``, by name (unknown names are absent)."""
    wanted = list(dict.fromkeys(names))
    return {m.name: m for m in session.scalars(select(Model).where(Model.name.in_(wanted)))}


def models_with_ids(session: Session, ids: Iterable[int]) -> dict[int, Model]:
    """Stored models among ``ids``, by id (unknown ids are absent)."""
    wanted = list(dict.fromkeys(ids))
    return {m.id: m for m in session.scalars(select(Model).where(Model.id.in_(wanted)))}
