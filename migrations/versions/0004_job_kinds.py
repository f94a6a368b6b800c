"""Jobs have a kind: ``plan`` (every existing job) or ``capacity``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    kind = sa.Enum(
        "plan", "capacity", name="kind", native_enum=False, create_constraint=True, length=16
    )
    with op.batch_alter_table("plan_jobs") as batch:
        batch.add_column(sa.Column("kind", kind, server_default="plan", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("plan_jobs") as batch:
        batch.drop_constraint(op.f("ck_plan_jobs_kind"), type_="check")
        batch.drop_column("kind")
