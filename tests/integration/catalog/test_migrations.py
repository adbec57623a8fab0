"""Catalog's migrations carry existing rows forward: 0002 fills discovery's copies, 0003
keeps them as the listing (approved and active) of every existing practitioner."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from chassis.migrations import upgrade
from services.catalog import bootstrap

NOW = "2026-11-01 10:00:00"


def _sync(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("+aiosqlite", ""))


def _rows_at_0001(engine: sa.Engine) -> None:
    practitioner = (
        "INSERT INTO practitioners (id, user_id, display_name, bio, specializations,"
        " certifications, years_experience, timezone, status, created_at, updated_at)"
        " VALUES (:id, :id, 'P', '', '[]', '[]', 1, 'Europe/Lisbon', :status, :now, :now)"
    )
    location = (
        "INSERT INTO locations (id, practitioner_id, kind, latitude, longitude)"
        " VALUES (:id, :owner, :kind, :lat, :lng)"
    )
    service = (
        "INSERT INTO services (id, practitioner_id, kind, title, description, category_id,"
        " price_minor, currency, duration_minutes, location_kind, location_id,"
        " max_participants, buffer_before_minutes, buffer_after_minutes, min_notice_minutes,"
        " booking_window_days, cancellation_policy, status, created_at, updated_at)"
        " VALUES (:id, :owner, 'session', 'S', '', 'cat', 1000, 'EUR', 60, :kind, :place,"
        " 1, 0, 0, 0, 90, '[]', 'active', :now, :now)"
    )
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO categories (id, slug, name, path) VALUES ('cat', 'c', 'C', '/cat/')"
            )
        )
        for owner, status in (("approved-p", "approved"), ("pending-p", "pending")):
            connection.execute(sa.text(practitioner), {"id": owner, "status": status, "now": NOW})
        connection.execute(
            sa.text(location),
            {"id": "studio", "owner": "approved-p", "kind": "in_person", "lat": 38.7, "lng": -9.1},
        )
        connection.execute(
            sa.text(location),
            {"id": "online", "owner": "pending-p", "kind": "virtual", "lat": None, "lng": None},
        )
        for service_id, owner, kind, place in (
            ("in-studio", "approved-p", "in_person", "studio"),
            ("online-pending", "pending-p", "virtual", "online"),
        ):
            connection.execute(
                sa.text(service),
                {"id": service_id, "owner": owner, "kind": kind, "place": place, "now": NOW},
            )


async def test_0002_fills_the_approval_and_coordinates_and_0003_keeps_them_as_listed(
    empty_database_url,
):
    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, empty_database_url, "0001")
    engine = _sync(empty_database_url)
    try:
        _rows_at_0001(engine)
        await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, empty_database_url, "0002")
        with engine.connect() as connection:
            at_0002 = connection.execute(
                sa.text(
                    "SELECT id, practitioner_approved, latitude, longitude FROM services"
                    " ORDER BY id"
                )
            ).all()
        await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, empty_database_url)
        with engine.connect() as connection:
            at_head = connection.execute(
                sa.text("SELECT id, practitioner_listed FROM services ORDER BY id")
            ).all()
            statuses = connection.execute(
                sa.text("SELECT DISTINCT account_status FROM practitioners")
            ).all()
    finally:
        engine.dispose()
    assert [(r.id, bool(r.practitioner_approved), r.latitude, r.longitude) for r in at_0002] == [
        ("in-studio", True, 38.7, -9.1),
        ("online-pending", False, None, None),
    ]
    assert [(r.id, bool(r.practitioner_listed)) for r in at_head] == [
        ("in-studio", True),
        ("online-pending", False),
    ]
    assert [r.account_status for r in statuses] == ["active"]
