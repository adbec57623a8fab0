"""Streams' configuration: the chassis's settings, its own database and metrics port."""

from __future__ import annotations

from chassis.settings import ServiceSettings


class StreamsSettings(ServiceSettings):
    """ESTUARY_* environment variables read by the streams service."""

    service_name: str = "streams"
    database_url: str = "sqlite+aiosqlite:///var/data/streams.db"
    metrics_port: int = 9469
