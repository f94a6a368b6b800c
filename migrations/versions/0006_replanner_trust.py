"""The live re-planner's ``trust_windows`` setting: windows over which the
forecast's plans must have served as well as the history plan's to stay
candidates (0, every existing row's value: always).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("replanner_settings") as batch:
        batch.add_column(
            sa.Column("trust_windows", sa.Integer(), server_default="0", nullable=False)
        )
        batch.create_check_constraint(
            op.f("ck_replanner_settings_trust_windows_non_negative"), "trust_windows >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("replanner_settings") as batch:
        batch.drop_constraint(
            op.f("ck_replanner_settings_trust_windows_non_negative"), type_="check"
        )
        batch.drop_column("trust_windows")
