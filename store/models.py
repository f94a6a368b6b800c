"""The tables of meshplan, as SQLAlchemy 2 typed models.

Alembic owns the schema (``migrations/``); these classes must match it, which
``meshplan db check`` (``alembic check``) verifies. Large arrays (workload
arrivals) are stored as compressed numpy blobs (:mod:`store.blobs`)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.enums import DecisionAction, ExecutorState, JobKind, JobStatus, ProfileSource, Role
from store.types import NAMING_CONVENTION, JSONType, UTCDateTime, created_at, intpk, name128


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime(), Any: JSONType}


def _str_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A VARCHAR column holding the enum's values, guarded by a named CHECK."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Cluster(Base):
    __tablename__ = "clusters"
    __table_args__ = (
        CheckConstraint("num_devices > 0", name="num_devices_positive"),
        CheckConstraint("device_mem_bytes > 0", name="device_mem_bytes_positive"),
        CheckConstraint("devices_per_node > 0", name="devices_per_node_positive"),
        CheckConstraint("load_bw_bytes_per_s > 0", name="load_bw_positive"),
        CheckConstraint("load_overhead_s >= 0", name="load_overhead_non_negative"),
    )

    id: Mapped[intpk]
    name: Mapped[name128] = mapped_column(unique=True)
    num_devices: Mapped[int]
    device_mem_bytes: Mapped[int] = mapped_column(BigInteger)
    devices_per_node: Mapped[int]
    load_bw_bytes_per_s: Mapped[float] = mapped_column(Float)
    load_overhead_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[created_at]

    active: Mapped[ActivePlan | None] = relationship(viewonly=True)


class Model(Base):
    """A servable model. Its profile is the newest row of ``profiles``."""

    __tablename__ = "models"
    __table_args__ = (
        CheckConstraint("slo_s > 0", name="slo_positive"),
        CheckConstraint("max_batch IS NULL OR max_batch > 0", name="max_batch_positive"),
    )

    id: Mapped[intpk]
    name: Mapped[name128] = mapped_column(unique=True)
    slo_s: Mapped[float] = mapped_column(Float)
    family: Mapped[str] = mapped_column(String(64))
    architecture: Mapped[Any | None]
    max_batch: Mapped[int | None]
    created_at: Mapped[created_at]

    profiles: Mapped[list[ModelProfile]] = relationship(
        back_populates="model", order_by="ModelProfile.id", cascade="all, delete-orphan"
    )


class ModelProfile(Base):
    """One profile of a model (Profile JSON of :mod:`planner.domain`)."""

    __tablename__ = "profiles"

    id: Mapped[intpk]
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    source: Mapped[ProfileSource] = mapped_column(_str_enum(ProfileSource, "source"))
    data: Mapped[Any]
    created_at: Mapped[created_at]

    model: Mapped[Model] = relationship(back_populates="profiles")


class Workload(Base):
    """Request arrivals. ``arrivals`` is a compressed numpy blob of
    ``arrivals_s`` and ``model_ids`` (indices into ``model_names``)."""

    __tablename__ = "workloads"
    __table_args__ = (
        CheckConstraint("duration_s > 0", name="duration_positive"),
        CheckConstraint("num_requests >= 0", name="num_requests_non_negative"),
        CheckConstraint("window_s > 0", name="window_positive"),
    )

    id: Mapped[intpk]
    name: Mapped[name128] = mapped_column(unique=True)
    source: Mapped[str] = mapped_column(String(32))
    duration_s: Mapped[float] = mapped_column(Float)
    window_s: Mapped[float] = mapped_column(Float)
    num_requests: Mapped[int]
    model_names: Mapped[Any]
    arrivals: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    meta: Mapped[Any]
    created_at: Mapped[created_at]

    windows: Mapped[list[WorkloadWindow]] = relationship(
        back_populates="workload", order_by="WorkloadWindow.index", cascade="all, delete-orphan"
    )


class WorkloadWindow(Base):
    """Per-model request rate (req/s) and inter-arrival CV in one window
    ``[start_s, end_s)`` of a workload."""

    __tablename__ = "workload_windows"
    __table_args__ = (UniqueConstraint("workload_id", "index"),)

    id: Mapped[intpk]
    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id", ondelete="CASCADE"))
    index: Mapped[int]
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    rates_rps: Mapped[Any]
    cv: Mapped[Any]

    workload: Mapped[Workload] = relationship(back_populates="windows")


plan_job_models = Table(
    "plan_job_models",
    Base.metadata,
    Column("job_id", ForeignKey("plan_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("model_id", ForeignKey("models.id"), primary_key=True, index=True),
)


class PlanJob(Base):
    """A request to solve a placement (``kind`` plan), to find the fewest
    devices for a target attainment (``kind`` capacity: ``options`` holds
    ``target`` and ``max_devices``, the cluster is the template, ``result``
    the answer and no plan is stored), or to decide one window of a
    cluster's live re-placement (``kind`` replan: no workload, ``options``
    holds ``window_start``, claimable from ``not_before``). Workers claim it
    with a lease (``lease_token`` until ``lease_expires_at``); a running job
    whose lease expired may be claimed again."""

    __tablename__ = "plan_jobs"
    __table_args__ = (
        CheckConstraint("time_limit_s > 0", name="time_limit_positive"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    id: Mapped[intpk]
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    workload_id: Mapped[int | None] = mapped_column(ForeignKey("workloads.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(
        _str_enum(JobStatus, "status"), default=JobStatus.QUEUED, index=True
    )
    kind: Mapped[JobKind] = mapped_column(
        _str_enum(JobKind, "kind"), default=JobKind.PLAN, server_default=JobKind.PLAN.value
    )
    solver: Mapped[str] = mapped_column(String(32))
    time_limit_s: Mapped[float] = mapped_column(Float)
    options: Mapped[Any]
    activate: Mapped[bool] = mapped_column(Boolean, default=False)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    not_before: Mapped[dt.datetime | None]
    objective: Mapped[float | None] = mapped_column(Float)
    attainment: Mapped[float | None] = mapped_column(Float)
    bound: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    solve_status: Mapped[str | None] = mapped_column(String(32))
    wall_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None]
    created_at: Mapped[created_at]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    models: Mapped[list[Model]] = relationship(secondary=plan_job_models, order_by=Model.id)
    plan: Mapped[Plan | None] = relationship(back_populates="job")

    @property
    def plan_id(self) -> int | None:
        """The plan this job produced, if it succeeded."""
        return self.plan.id if self.plan is not None else None

    def _result_number(self, name: str) -> float | None:
        value = self.result.get(name) if isinstance(self.result, dict) else None
        return float(value) if isinstance(value, int | float) else None

    @property
    def upper_bound(self) -> float | None:
        """The certified upper bound on any static placement's attainment
        (a plan job's result, :attr:`planner.placement.solution.SolveResult.upper_bound`)."""
        return self._result_number("upper_bound")

    @property
    def gap_points(self) -> float | None:
        """``100 x (upper_bound - attainment)``: how far the plan may be
        from optimal, in attainment points."""
        return self._result_number("gap_points")


class Plan(Base):
    """A placement for a cluster, from a solve job or given directly.
    ``models`` snapshots what executors need per hosted model (slo_s,
    family, architecture, max_batch) so a plan never changes once written."""

    __tablename__ = "plans"

    id: Mapped[intpk]
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("plan_jobs.id"), unique=True)
    solver: Mapped[str | None] = mapped_column(String(32))
    placement: Mapped[Any]
    models: Mapped[Any]
    attainment: Mapped[float | None] = mapped_column(Float)
    objective: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[created_at]

    job: Mapped[PlanJob | None] = relationship(back_populates="plan")


class ActivePlan(Base):
    """The plan a cluster serves. ``version`` grows by one on every
    activation, so executors see a change even when a plan is re-activated.
    ``transition`` is the ordered steps from the previous version's
    placement when the re-planner activated it (``{"from_version",
    "steps"}``), None when activated by hand."""

    __tablename__ = "active_plans"
    __table_args__ = (CheckConstraint("version > 0", name="version_positive"),)

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    version: Mapped[int]
    activated_at: Mapped[created_at]
    transition: Mapped[Any | None]

    plan: Mapped[Plan] = relationship()


class Executor(Base):
    """An executor agent serving part of a cluster's devices."""

    __tablename__ = "executors"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[name128]
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    devices: Mapped[Any]
    url: Mapped[str] = mapped_column(String(512))
    state: Mapped[ExecutorState] = mapped_column(
        _str_enum(ExecutorState, "state"), default=ExecutorState.REGISTERED
    )
    applied_version: Mapped[int | None]
    groups: Mapped[Any | None]
    latency_s: Mapped[Any | None]
    errors: Mapped[Any | None]
    last_heartbeat_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_at]


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the secret; ``prefix`` (public,
    unique) finds the row, the hash is compared in constant time."""

    __tablename__ = "api_keys"

    id: Mapped[intpk]
    name: Mapped[name128]
    role: Mapped[Role] = mapped_column(_str_enum(Role, "role"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]
    revoked_at: Mapped[dt.datetime | None]


class Report(Base):
    """A stored comparison or analysis (JSON data from planner/evaluation/reports)."""

    __tablename__ = "reports"

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    data: Mapped[Any]
    created_at: Mapped[created_at]


class ReportPage(Base):
    """A report's HTML page, rendered once by the renderer version
    ``renderer`` (reports never change once stored, so the page holds until
    the renderer changes); ``etag`` is the SHA-256 of its UTF-8 bytes (hex)."""

    __tablename__ = "report_pages"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    renderer: Mapped[str] = mapped_column(String(64))
    etag: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text, deferred=True)
    created_at: Mapped[created_at]


class TrafficBin(Base):
    """Requests for ``model`` that ``source`` (a router, an agent) counted
    in the bin ``[start_s, start_s + bin_s)`` (unix seconds) of a cluster.
    A bin is written once; a report repeating it must agree."""

    __tablename__ = "traffic_bins"
    __table_args__ = (
        UniqueConstraint("cluster_id", "source", "bin_s", "start_s", "model"),
        CheckConstraint("requests >= 0", name="requests_non_negative"),
        CheckConstraint("bin_s > 0", name="bin_positive"),
        Index("ix_traffic_bins_cluster_id_start_s", "cluster_id", "start_s"),
    )

    id: Mapped[intpk]
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    source: Mapped[name128]
    bin_s: Mapped[int]
    start_s: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[name128]
    requests: Mapped[int]
    created_at: Mapped[created_at]


class ReplicaLoad(Base):
    """A replica load an executor measured: ``seconds`` to load ``model``
    (``bytes`` of weights) into group ``group_index`` of plan version
    ``version``. ``executor_id`` is not a foreign key: measurements outlive
    a deregistered executor."""

    __tablename__ = "replica_loads"
    __table_args__ = (
        UniqueConstraint("executor_id", "model", "group_index", "version"),
        CheckConstraint("seconds >= 0", name="seconds_non_negative"),
        Index("ix_replica_loads_cluster_id_model", "cluster_id", "model"),
    )

    id: Mapped[intpk]
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    executor_id: Mapped[int]
    model: Mapped[name128]
    group_index: Mapped[int]
    version: Mapped[int]
    seconds: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[created_at]


class ReplannerSettings(Base):
    """A cluster's live re-planner settings; no row: the defaults, off."""

    __tablename__ = "replanner_settings"
    __table_args__ = (
        CheckConstraint("window_s > 0", name="window_positive"),
        CheckConstraint("min_gain >= 0 AND min_gain <= 1", name="min_gain_fraction"),
        CheckConstraint("revert_margin >= 0 AND revert_margin <= 1", name="revert_fraction"),
        CheckConstraint("max_switches_per_hour >= 0", name="max_switches_non_negative"),
        CheckConstraint("trust_windows >= 0", name="trust_windows_non_negative"),
        CheckConstraint("react_drift >= 0", name="react_drift_non_negative"),
        CheckConstraint("nowcast_s >= 0 AND nowcast_s < window_s", name="nowcast_in_window"),
    )

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    window_s: Mapped[int]
    forecaster: Mapped[str] = mapped_column(String(64))
    min_gain: Mapped[float] = mapped_column(Float)
    max_switches_per_hour: Mapped[int]
    revert_margin: Mapped[float] = mapped_column(Float)
    trust_windows: Mapped[int] = mapped_column(server_default="0")
    react_drift: Mapped[float] = mapped_column(Float, server_default="0")
    nowcast_s: Mapped[int] = mapped_column(server_default="0")
    updated_at: Mapped[created_at]


class ReplanDecision(Base):
    """What the live re-planner decided ``at_s`` seconds into the window
    starting at ``window_start`` (unix s): at its start (``at_s`` 0) or at
    a drift check inside it, at most one per cluster, window and instant:
    the forecast (at a check: the nowcast) and observed requests, the
    judged attainments, the switch's cost and steps, the serving plan and
    version it decided from, and the plan and version it activated (when
    it moved)."""

    __tablename__ = "replan_decisions"
    __table_args__ = (
        UniqueConstraint("cluster_id", "window_start", "at_s"),
        CheckConstraint("at_s >= 0 AND at_s < window_s", name="at_in_window"),
    )

    id: Mapped[intpk]
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    window_start: Mapped[int] = mapped_column(BigInteger)
    at_s: Mapped[int] = mapped_column(server_default="0")
    window_s: Mapped[int]
    forecaster: Mapped[str] = mapped_column(String(64))
    action: Mapped[DecisionAction] = mapped_column(_str_enum(DecisionAction, "action"))
    chosen: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    forecast_rps: Mapped[Any]
    observed: Mapped[Any]
    keep_attainment: Mapped[float | None] = mapped_column(Float)
    candidate_attainment: Mapped[float | None] = mapped_column(Float)
    replayed_switch: Mapped[float | None] = mapped_column(Float)
    replayed_keep: Mapped[float | None] = mapped_column(Float)
    switch_cost: Mapped[Any]
    load_s: Mapped[Any]
    steps: Mapped[Any]
    from_version: Mapped[int | None]
    from_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    version: Mapped[int | None]
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    created_at: Mapped[created_at]
