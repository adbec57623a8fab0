"""Alembic environment for payments' database."""

from chassis.migrations import run_env
from services.payments.tables import metadata

run_env(metadata, "payments")
