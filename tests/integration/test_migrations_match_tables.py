"""Each service's migrations build exactly the tables its code declares, on both databases.

A column added to tables.py without a migration (or the reverse) passes every test that
builds its schema from the migrations until the code reads that column; this finds it first.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chassis.migrations import upgrade
from chassis.tables import metadata as chassis_metadata
from services.booking import bootstrap as booking_bootstrap
from services.booking.tables import metadata as booking_metadata
from services.catalog import bootstrap as catalog_bootstrap
from services.catalog.tables import metadata as catalog_metadata
from services.identity import bootstrap as identity_bootstrap
from services.identity.tables import metadata as identity_metadata
from services.messaging import bootstrap as messaging_bootstrap
from services.messaging.tables import metadata as messaging_metadata
from services.payments import bootstrap as payments_bootstrap
from services.payments.tables import metadata as payments_metadata
from services.streams import bootstrap as streams_bootstrap
from services.streams.tables import metadata as streams_metadata

SERVICES = {
    "identity": (identity_bootstrap.MIGRATIONS, identity_metadata),
    "catalog": (catalog_bootstrap.MIGRATIONS, catalog_metadata),
    "booking": (booking_bootstrap.MIGRATIONS, booking_metadata),
    "payments": (payments_bootstrap.MIGRATIONS, payments_metadata),
    "messaging": (messaging_bootstrap.MIGRATIONS, messaging_metadata),
    "streams": (streams_bootstrap.MIGRATIONS, streams_metadata),
}


# What the migrations make on purpose without a declaration in tables.py: catalog's and
# messaging's GIN indexes for full-text search (PostgreSQL only; SQLite has FTS5 tables instead).
POSTGRES_SEARCH_INDEXES = {"ix_messages_search", "ix_practitioners_search", "ix_services_search"}


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if not reflected or compare_to is not None:
        return True
    name = name or ""
    if type_ == "table":
        # alembic's version table, and SQLite's FTS5 tables with their shadow tables.
        return not name.endswith(("alembic_version", "_fts")) and "_fts_" not in name
    return not (type_ == "index" and name in POSTGRES_SEARCH_INDEXES)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_the_migrations_build_the_declared_tables(service: str, empty_database_url: str):
    migrations, metadata = SERVICES[service]
    await asyncio.to_thread(upgrade, migrations, empty_database_url)
    engine = sa.create_engine(empty_database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": False,
                    "include_object": _ours,
                },
            )
            differences = compare_metadata(context, [metadata, chassis_metadata])
    finally:
        engine.dispose()
    assert differences == []
