"""group conversations: a title, no pair key, and admins among the participants

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.alter_column("direct_key", existing_type=sa.String(length=80), nullable=True)
        batch_op.add_column(
            sa.Column("title", sa.String(length=100), server_default="", nullable=False)
        )
    with op.batch_alter_table("conversation_participants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("admin", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_participants", schema=None) as batch_op:
        batch_op.drop_column("admin")
    # Groups have no pair key: they cannot outlive the downgrade.
    op.execute(
        "DELETE FROM messages WHERE conversation_id IN "
        "(SELECT id FROM conversations WHERE direct_key IS NULL)"
    )
    op.execute(
        "DELETE FROM conversation_participants WHERE conversation_id IN "
        "(SELECT id FROM conversations WHERE direct_key IS NULL)"
    )
    op.execute("DELETE FROM conversations WHERE direct_key IS NULL")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("title")
        batch_op.alter_column("direct_key", existing_type=sa.String(length=80), nullable=False)
