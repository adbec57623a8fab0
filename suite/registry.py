"""The registry of the suite: every service, in start order, with what the runner needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chassis.bus.consumer import Subscription
from chassis.bus.envelope import EventType
from chassis.settings import ServiceSettings
from services.catalog import bootstrap as catalog
from services.catalog.settings import CatalogSettings
from services.identity import bootstrap as identity
from services.identity.settings import IdentitySettings


@dataclass(frozen=True)
class ServiceEntry:
    """One bounded context as the suite runs it."""

    name: str
    settings: type[ServiceSettings]
    build: Callable[..., Any]
    migrations: Path
    emits: Sequence[EventType[Any]]
    subscriptions: Sequence[Subscription]
    default_grpc_port: int


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        name=identity.NAME,
        settings=IdentitySettings,
        build=identity.build,
        migrations=identity.MIGRATIONS,
        emits=identity.EVENTS_EMITTED,
        subscriptions=identity.SUBSCRIPTIONS,
        default_grpc_port=50051,
    ),
    ServiceEntry(
        name=catalog.NAME,
        settings=CatalogSettings,
        build=catalog.build,
        migrations=catalog.MIGRATIONS,
        emits=catalog.EVENTS_EMITTED,
        subscriptions=catalog.SUBSCRIPTIONS,
        default_grpc_port=50052,
    ),
)

BY_NAME = {s.name: s for s in SERVICES}
