"""Booking's configuration: the chassis's settings plus holds, slots, jobs and reminders."""

from __future__ import annotations

from pydantic import Field

from chassis.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    """ESTUARY_* environment variables read by the booking service."""

    service_name: str = "booking"
    database_url: str = "sqlite+aiosqlite:///var/data/booking.db"
    metrics_port: int = 9466
    catalog_address: str = Field(
        "127.0.0.1:50052", description="Where catalog's gRPC API (quotes, service terms) is."
    )
    hold_minutes: int = Field(
        15, ge=1, le=24 * 60, description="How long an unpaid booking holds its time."
    )
    slot_step_minutes: int = Field(
        30, ge=5, le=24 * 60, description="The spacing of a session's start times."
    )
    completion_grace_minutes: int = Field(
        120,
        ge=0,
        description="How long after a booking's end the completion job marks it completed "
        "(the practitioner may mark a no-show until then).",
    )
    room_attendance_rules: bool = Field(
        True,
        description="Whether a virtual booking's session-room attendance decides: a client "
        "who joined the room cannot be marked a no-show, and one who never came while the "
        "practitioner was there is a no-show when the completion job reaches it. Off for a "
        "marketplace whose practitioners meet clients on video of their own.",
    )
    waitlist_offer_minutes: int = Field(
        120, ge=1, description="How long the first in line may take a freed seat."
    )
    bundle_validity_days: int = Field(
        365, ge=1, le=3650, description="How long a bundle's sessions may be booked."
    )
    max_range_days: int = Field(
        62, ge=1, le=366, description="The longest span one slots or availability request covers."
    )
    job_interval_seconds: float = Field(
        15.0,
        gt=0,
        description="How often the holds, waitlist, reminder and completion jobs run.",
    )
    job_batch_size: int = Field(200, ge=1, le=10_000, description="Rows one job run handles.")
