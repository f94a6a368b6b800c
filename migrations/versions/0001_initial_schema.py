"""Initial schema: clusters, models and profiles, workloads and windows,
plan jobs, plans and active plans, executors, API keys, reports.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", _enum("role", "admin", "executor", "reader"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "clusters",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("num_devices", sa.Integer(), nullable=False),
        sa.Column("device_mem_bytes", sa.BigInteger(), nullable=False),
        sa.Column("devices_per_node", sa.Integer(), nullable=False),
        sa.Column("load_bw_bytes_per_s", sa.Float(), nullable=False),
        sa.Column("load_overhead_s", sa.Float(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("num_devices > 0", name=op.f("ck_clusters_num_devices_positive")),
        sa.CheckConstraint(
            "device_mem_bytes > 0", name=op.f("ck_clusters_device_mem_bytes_positive")
        ),
        sa.CheckConstraint(
            "devices_per_node > 0", name=op.f("ck_clusters_devices_per_node_positive")
        ),
        sa.CheckConstraint("load_bw_bytes_per_s > 0", name=op.f("ck_clusters_load_bw_positive")),
        sa.CheckConstraint(
            "load_overhead_s >= 0", name=op.f("ck_clusters_load_overhead_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "models",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("slo_s", sa.Float(), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("architecture", JSON, nullable=True),
        sa.Column("max_batch", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint("slo_s > 0", name=op.f("ck_models_slo_positive")),
        sa.CheckConstraint(
            "max_batch IS NULL OR max_batch > 0", name=op.f("ck_models_max_batch_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    op.create_table(
        "profiles",
        _id(),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("source", _enum("source", "declared", "measured"), nullable=False),
        sa.Column("data", JSON, nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_profiles_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
    )
    op.create_index(op.f("ix_profiles_model_id"), "profiles", ["model_id"])
    op.create_table(
        "reports",
        _id(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("data", JSON, nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_table(
        "workloads",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Float(), nullable=False),
        sa.Column("num_requests", sa.Integer(), nullable=False),
        sa.Column("model_names", JSON, nullable=False),
        sa.Column("arrivals", sa.LargeBinary(), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("duration_s > 0", name=op.f("ck_workloads_duration_positive")),
        sa.CheckConstraint("window_s > 0", name=op.f("ck_workloads_window_positive")),
        sa.CheckConstraint(
            "num_requests >= 0", name=op.f("ck_workloads_num_requests_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workloads")),
        sa.UniqueConstraint("name", name=op.f("uq_workloads_name")),
    )
    op.create_table(
        "workload_windows",
        _id(),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("rates_rps", JSON, nullable=False),
        sa.Column("cv", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workloads.id"],
            name=op.f("fk_workload_windows_workload_id_workloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workload_windows")),
        sa.UniqueConstraint(
            "workload_id", "index", name=op.f("uq_workload_windows_workload_id_index")
        ),
    )
    op.create_table(
        "executors",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("devices", JSON, nullable=False),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column(
            "state",
            _enum("state", "registered", "starting", "loading", "serving", "degraded"),
            nullable=False,
        ),
        sa.Column("applied_version", sa.Integer(), nullable=True),
        sa.Column("groups", JSON, nullable=True),
        sa.Column("latency_s", JSON, nullable=True),
        _timestamp("last_heartbeat_at", nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_executors_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executors")),
        sa.UniqueConstraint("cluster_id", "name", name=op.f("uq_executors_cluster_id_name")),
    )
    op.create_table(
        "plan_jobs",
        _id(),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            _enum("status", "queued", "running", "succeeded", "failed", "cancelled"),
            nullable=False,
        ),
        sa.Column("solver", sa.String(32), nullable=False),
        sa.Column("time_limit_s", sa.Float(), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("activate", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_token", sa.String(36), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        _timestamp("heartbeat_at", nullable=True),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("attainment", sa.Float(), nullable=True),
        sa.Column("bound", sa.Float(), nullable=True),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("solve_status", sa.String(32), nullable=True),
        sa.Column("wall_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", JSON, nullable=True),
        _timestamp("created_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint("time_limit_s > 0", name=op.f("ck_plan_jobs_time_limit_positive")),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name=op.f("ck_plan_jobs_progress_fraction")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_plan_jobs_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_plan_jobs_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_plan_jobs_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_jobs")),
    )
    op.create_index(op.f("ix_plan_jobs_cluster_id"), "plan_jobs", ["cluster_id"])
    op.create_index(op.f("ix_plan_jobs_status"), "plan_jobs", ["status"])
    op.create_index(op.f("ix_plan_jobs_workload_id"), "plan_jobs", ["workload_id"])
    op.create_table(
        "plan_job_models",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["plan_jobs.id"],
            name=op.f("fk_plan_job_models_job_id_plan_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_plan_job_models_model_id_models")
        ),
        sa.PrimaryKeyConstraint("job_id", "model_id", name=op.f("pk_plan_job_models")),
    )
    op.create_index(op.f("ix_plan_job_models_model_id"), "plan_job_models", ["model_id"])
    op.create_table(
        "plans",
        _id(),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("solver", sa.String(32), nullable=True),
        sa.Column("placement", JSON, nullable=False),
        sa.Column("models", JSON, nullable=False),
        sa.Column("attainment", sa.Float(), nullable=True),
        sa.Column("objective", sa.Float(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_plans_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["plan_jobs.id"], name=op.f("fk_plans_job_id_plan_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("job_id", name=op.f("uq_plans_job_id")),
    )
    op.create_index(op.f("ix_plans_cluster_id"), "plans", ["cluster_id"])
    op.create_table(
        "active_plans",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _timestamp("activated_at"),
        sa.CheckConstraint("version > 0", name=op.f("ck_active_plans_version_positive")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_active_plans_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_active_plans_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_active_plans")),
    )
    op.create_index(op.f("ix_active_plans_plan_id"), "active_plans", ["plan_id"])


def downgrade() -> None:
    for table in (
        "active_plans",
        "plans",
        "plan_job_models",
        "plan_jobs",
        "executors",
        "workload_windows",
        "workloads",
        "reports",
        "profiles",
        "models",
        "clusters",
        "api_keys",
    ):
        op.drop_table(table)
