"""Alembic environment for catalog's database."""

from chassis.migrations import run_env
from services.catalog.tables import metadata

run_env(metadata, "catalog")
