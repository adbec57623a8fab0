"""search columns on services: the practitioner's approval and the place's coordinates

Discovery filters and sorts every matching service; joining each one to its practitioner
and its place cost more than the rest of the search. The copies are kept by the writes that
change their sources (practitioner status, location coordinates, the service's location).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "practitioner_approved", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
    op.execute(
        "UPDATE services SET practitioner_approved = EXISTS ("
        " SELECT 1 FROM practitioners"
        " WHERE practitioners.id = services.practitioner_id"
        " AND practitioners.status = 'approved')"
    )
    op.execute(
        "UPDATE services SET"
        " latitude = (SELECT latitude FROM locations WHERE locations.id = services.location_id),"
        " longitude = (SELECT longitude FROM locations WHERE locations.id = services.location_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("practitioner_approved")
