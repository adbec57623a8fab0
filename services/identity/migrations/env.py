"""Alembic environment for identity's database."""

from chassis.migrations import run_env
from services.identity.tables import metadata

run_env(metadata, "identity")
