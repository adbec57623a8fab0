"""Alembic environment for booking's database."""

from chassis.migrations import run_env
from services.booking.tables import metadata

run_env(metadata, "booking")
