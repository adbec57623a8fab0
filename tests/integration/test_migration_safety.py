"""Migrations are safe with several migrators at once, and no service serves on an old schema.

On PostgreSQL `upgrade` holds the database's migration lock, so the init containers of a
rollout's pods take turns; `estuary serve` refuses a schema older than its code with one
log line naming both revisions and the command to run, and exits non-zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from chassis.migrations import (
    MIGRATION_LOCK_KEY,
    SchemaOutOfDate,
    alembic_config,
    database_revision,
    require_current_schema,
    upgrade,
)
from suite.registry import BY_NAME
from tests.e2e.stacks import free_port

IDENTITY = BY_NAME["identity"]
CATALOG = BY_NAME["catalog"]


def head(migrations: Path) -> str:
    found = ScriptDirectory.from_config(alembic_config(migrations, "sqlite://")).get_current_head()
    assert found is not None
    return found


def dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


# The migration lock ---------------------------------------------------------------------------


def test_concurrent_migrations_of_one_database_all_succeed(postgres_url: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = [pool.submit(upgrade, CATALOG.migrations, postgres_url) for _ in range(4)]
        for run in runs:
            run.result(timeout=120)
    assert database_revision(postgres_url, "catalog") == head(CATALOG.migrations)


def test_a_migration_waits_while_another_migrator_holds_the_lock(postgres_url: str) -> None:
    with psycopg.connect(dsn(postgres_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        migrating = threading.Thread(target=upgrade, args=(IDENTITY.migrations, postgres_url))
        migrating.start()
        time.sleep(1.5)
        assert migrating.is_alive(), "it migrated while another migrator held the lock"
        assert database_revision(postgres_url, "identity") is None
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        migrating.join(timeout=120)
    assert not migrating.is_alive()
    assert database_revision(postgres_url, "identity") == head(IDENTITY.migrations)
    # The lock is released once the migration is done: the next migrator goes straight in.
    with psycopg.connect(dsn(postgres_url), autocommit=True) as other:
        taken = other.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        assert taken.fetchone() == (True,)


# The schema check at start --------------------------------------------------------------------


def test_the_current_schema_passes(empty_database_url: str) -> None:
    upgrade(IDENTITY.migrations, empty_database_url)
    require_current_schema(IDENTITY.migrations, empty_database_url, "identity")


def test_an_older_schema_is_refused_naming_both_revisions(empty_database_url: str) -> None:
    upgrade(CATALOG.migrations, empty_database_url, "0002")
    with pytest.raises(SchemaOutOfDate) as refused:
        require_current_schema(CATALOG.migrations, empty_database_url, "catalog")
    message = str(refused.value)
    assert "revision 0002" in message
    assert f"revision {head(CATALOG.migrations)}" in message
    assert "`estuary migrate catalog`" in message


def test_a_database_never_migrated_is_refused(empty_database_url: str) -> None:
    with pytest.raises(SchemaOutOfDate, match="none \\(never migrated\\)"):
        require_current_schema(IDENTITY.migrations, empty_database_url, "identity")


def test_a_newer_schema_serves_the_old_code_during_a_rollout(empty_database_url: str) -> None:
    upgrade(IDENTITY.migrations, empty_database_url)
    engine = sa.create_engine(empty_database_url.replace("+aiosqlite", ""))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE identity_alembic_version SET version_num = '0099'"))
    engine.dispose()
    require_current_schema(IDENTITY.migrations, empty_database_url, "identity")


def test_estuary_serve_refuses_an_old_schema_with_one_line_and_a_failure(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/identity.db"
    upgrade(IDENTITY.migrations, url, "0001")
    env = {
        **os.environ,
        "ESTUARY_DATABASE_URL": url,
        "ESTUARY_GRPC_PORT": str(free_port()),
    }
    served = subprocess.run(
        [sys.executable, "-m", "suite.cli", "serve", "identity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 1
    output = (served.stdout + served.stderr).splitlines()
    refusals = [line for line in output if "`estuary migrate identity`" in line]
    assert len(refusals) == 1, output
    assert "revision 0001" in refusals[0]
    assert f"revision {head(IDENTITY.migrations)}" in refusals[0]
    assert json.loads(refusals[0])["level"] == "error"
    assert "Traceback" not in served.stderr
    assert database_revision(url, "identity") == "0001", "it must not migrate by itself"
