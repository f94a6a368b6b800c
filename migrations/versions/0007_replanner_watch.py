"""The live re-planner's drift watch: ``react_drift`` and ``nowcast_s``
settings (0 for every existing row: no watch), and decisions at an instant
inside their window (``at_s``; 0, every existing row's value: the window's
start), one per cluster, window and instant.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTING_CHECKS = {
    "react_drift_non_negative": "react_drift >= 0",
    "nowcast_in_window": "nowcast_s >= 0 AND nowcast_s < window_s",
}


def upgrade() -> None:
    with op.batch_alter_table("replanner_settings") as batch:
        batch.add_column(sa.Column("react_drift", sa.Float(), server_default="0", nullable=False))
        batch.add_column(sa.Column("nowcast_s", sa.Integer(), server_default="0", nullable=False))
        for name, condition in SETTING_CHECKS.items():
            batch.create_check_constraint(op.f(f"ck_replanner_settings_{name}"), condition)
    with op.batch_alter_table("replan_decisions") as batch:
        batch.add_column(sa.Column("at_s", sa.Integer(), server_default="0", nullable=False))
        batch.drop_constraint(op.f("uq_replan_decisions_cluster_id_window_start"), type_="unique")
        batch.create_unique_constraint(
            op.f("uq_replan_decisions_cluster_id_window_start_at_s"),
            ["cluster_id", "window_start", "at_s"],
        )
        batch.create_check_constraint(
            op.f("ck_replan_decisions_at_in_window"), "at_s >= 0 AND at_s < window_s"
        )


def downgrade() -> None:
    """Drops the decisions made inside a window: one per window remains."""
    op.execute(sa.text("DELETE FROM replan_decisions WHERE at_s <> 0"))
    with op.batch_alter_table("replan_decisions") as batch:
        batch.drop_constraint(op.f("ck_replan_decisions_at_in_window"), type_="check")
        batch.drop_constraint(
            op.f("uq_replan_decisions_cluster_id_window_start_at_s"), type_="unique"
        )
        batch.create_unique_constraint(
            op.f("uq_replan_decisions_cluster_id_window_start"), ["cluster_id", "window_start"]
        )
        batch.drop_column("at_s")
    with op.batch_alter_table("replanner_settings") as batch:
        for name in SETTING_CHECKS:
            batch.drop_constraint(op.f(f"ck_replanner_settings_{name}"), type_="check")
        batch.drop_column("nowcast_s")
        batch.drop_column("react_drift")
