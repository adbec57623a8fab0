"""Alembic environment for messaging's database."""

from chassis.migrations import run_env
from services.messaging.tables import metadata

run_env(metadata, "messaging")
