"""Catalog's configuration: the chassis's settings plus the platform tiers' service limits,
the default cancellation policy and the review window."""

from __future__ import annotations

from pydantic import Field

from chassis.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    """ESTUARY_* environment variables read by the catalog service."""

    service_name: str = "catalog"
    database_url: str = "sqlite+aiosqlite:///var/data/catalog.db"
    metrics_port: int = 9465
    free_tier_service_limit: int = Field(2, ge=0, description="Active services on Free.")
    entry_tier_service_limit: int = Field(20, ge=0, description="Active services on Entry.")
    premium_tier_service_limit: int = Field(
        0, ge=0, description="Active services on Premium; 0 means unlimited."
    )
    review_window_days: int = Field(
        90, ge=0, description="How long after a session its client may review it; 0: no limit."
    )
    default_cancellation_policy: list[tuple[int, int]] = Field(
        default_factory=lambda: [(24, 100), (0, 0)],
        description="(hours before start, refund percent) rows used when a service sets none.",
    )
