"""Live re-placement: observed traffic bins, measured replica loads, the
re-planner's settings and decisions per cluster, the transition of an
activation, and scheduled ``replan`` jobs (no workload, claimable from
``not_before``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("plan", "capacity")
KINDS = (*KINDS_BEFORE, "replan")


JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _kinds(values: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _cluster(table: str) -> tuple[sa.Column, sa.ForeignKeyConstraint]:
    return (
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f(f"fk_{table}_cluster_id_clusters")
        ),
    )


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("plan_jobs") as batch:
        batch.drop_constraint(op.f("ck_plan_jobs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_plan_jobs_kind"), _kinds(KINDS))
        batch.alter_column("workload_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("active_plans") as batch:
        batch.add_column(sa.Column("transition", JSON, nullable=True))
    op.create_table(
        "traffic_bins",
        _id(),
        *_cluster("traffic_bins"),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("bin_s", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        _created(),
        sa.CheckConstraint("requests >= 0", name=op.f("ck_traffic_bins_requests_non_negative")),
        sa.CheckConstraint("bin_s > 0", name=op.f("ck_traffic_bins_bin_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_bins")),
        sa.UniqueConstraint(
            "cluster_id",
            "source",
            "bin_s",
            "start_s",
            "model",
            name=op.f("uq_traffic_bins_cluster_id_source_bin_s_start_s_model"),
        ),
    )
    op.create_index(
        op.f("ix_traffic_bins_cluster_id_start_s"), "traffic_bins", ["cluster_id", "start_s"]
    )
    op.create_table(
        "replica_loads",
        _id(),
        *_cluster("replica_loads"),
        sa.Column("executor_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("group_index", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        _created(),
        sa.CheckConstraint("seconds >= 0", name=op.f("ck_replica_loads_seconds_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replica_loads")),
        sa.UniqueConstraint(
            "executor_id",
            "model",
            "group_index",
            "version",
            name=op.f("uq_replica_loads_executor_id_model_group_index_version"),
        ),
    )
    op.create_index(
        op.f("ix_replica_loads_cluster_id_model"), "replica_loads", ["cluster_id", "model"]
    )
    op.create_table(
        "replanner_settings",
        *_cluster("replanner_settings"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("forecaster", sa.String(64), nullable=False),
        sa.Column("min_gain", sa.Float(), nullable=False),
        sa.Column("max_switches_per_hour", sa.Integer(), nullable=False),
        sa.Column("revert_margin", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("window_s > 0", name=op.f("ck_replanner_settings_window_positive")),
        sa.CheckConstraint(
            "min_gain >= 0 AND min_gain <= 1", name=op.f("ck_replanner_settings_min_gain_fraction")
        ),
        sa.CheckConstraint(
            "revert_margin >= 0 AND revert_margin <= 1",
            name=op.f("ck_replanner_settings_revert_fraction"),
        ),
        sa.CheckConstraint(
            "max_switches_per_hour >= 0",
            name=op.f("ck_replanner_settings_max_switches_non_negative"),
        ),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_replanner_settings")),
    )
    op.create_table(
        "replan_decisions",
        _id(),
        *_cluster("replan_decisions"),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("forecaster", sa.String(64), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "keep",
                "switch",
                "revert",
                "hold",
                name="action",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("forecast_rps", JSON, nullable=False),
        sa.Column("observed", JSON, nullable=False),
        sa.Column("keep_attainment", sa.Float(), nullable=True),
        sa.Column("candidate_attainment", sa.Float(), nullable=True),
        sa.Column("replayed_switch", sa.Float(), nullable=True),
        sa.Column("replayed_keep", sa.Float(), nullable=True),
        sa.Column("switch_cost", JSON, nullable=False),
        sa.Column("load_s", JSON, nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("from_plan_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(
            ["from_plan_id"], ["plans.id"], name=op.f("fk_replan_decisions_from_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_replan_decisions_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replan_decisions")),
        sa.UniqueConstraint(
            "cluster_id",
            "window_start",
            name=op.f("uq_replan_decisions_cluster_id_window_start"),
        ),
    )


def downgrade() -> None:
    op.drop_table("replan_decisions")
    op.drop_table("replanner_settings")
    op.drop_index(op.f("ix_replica_loads_cluster_id_model"), table_name="replica_loads")
    op.drop_table("replica_loads")
    op.drop_index(op.f("ix_traffic_bins_cluster_id_start_s"), table_name="traffic_bins")
    op.drop_table("traffic_bins")
    with op.batch_alter_table("active_plans") as batch:
        batch.drop_column("transition")
    op.execute(sa.text("DELETE FROM plan_jobs WHERE kind = 'replan'"))
    with op.batch_alter_table("plan_jobs") as batch:
        batch.drop_column("not_before")
        batch.alter_column("workload_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint(op.f("ck_plan_jobs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_plan_jobs_kind"), _kinds(KINDS_BEFORE))
