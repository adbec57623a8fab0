"""practitioners carry their account status; services are listed only for active accounts

A suspended or deleted practitioner leaves discovery: services.practitioner_approved becomes
practitioner_listed (approved and active). The chassis's tables move to v2: idempotency
records keyed by caller, and the account statuses identity announces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.migrations import create_chassis_tables_v2, drop_chassis_tables_v2

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "account_status", sa.String(length=20), server_default="active", nullable=False
            )
        )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.alter_column("practitioner_approved", new_column_name="practitioner_listed")
    create_chassis_tables_v2()


def downgrade() -> None:
    drop_chassis_tables_v2()
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.alter_column("practitioner_listed", new_column_name="practitioner_approved")
    with op.batch_alter_table("practitioners", schema=None) as batch_op:
        batch_op.drop_column("account_status")
