"""the audit log takes every service's staff actions; idempotency by caller; account statuses

audit_entries gains the service an action was taken in and the resource it targeted (every
existing entry is identity's, about a user). The chassis's tables move to v2: idempotency
records keyed by caller, and account_statuses, filled here from the users already suspended
or deleted so the door refuses them from the first start.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chassis.migrations import create_chassis_tables_v2, drop_chassis_tables_v2

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("service", sa.String(length=30), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("target", sa.String(length=200), server_default="", nullable=False)
        )
    op.execute("UPDATE audit_entries SET service = 'identity', target = 'users/' || target_user_id")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_service"), ["service"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_target"), ["target"], unique=False)
    create_chassis_tables_v2()
    op.execute(
        "INSERT INTO account_statuses (user_id, status, changed_at)"
        " SELECT id, status, updated_at FROM users WHERE status IN ('suspended', 'deleted')"
    )


def downgrade() -> None:
    drop_chassis_tables_v2()
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_target"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_service"))
        batch_op.drop_column("target")
        batch_op.drop_column("service")
