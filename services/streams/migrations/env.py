"""Alembic environment for streams' database."""

from chassis.migrations import run_env
from services.streams.tables import metadata

run_env(metadata, "streams")
