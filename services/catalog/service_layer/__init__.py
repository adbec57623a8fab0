"""Catalog's use cases, one module per aggregate; each opens one unit of work, finds what a
request names, lets the domain decide, and records the events the domain returns."""

from __future__ import annotations

from services.catalog.service_layer.categories import CategoryHandlers
from services.catalog.service_layer.discovery import DiscoveryHandlers
from services.catalog.service_layer.locations import LocationHandlers
from services.catalog.service_layer.practitioners import PractitionerHandlers
from services.catalog.service_layer.reviews import ReviewHandlers
from services.catalog.service_layer.services import ServiceHandlers


class Catalog(
    PractitionerHandlers,
    LocationHandlers,
    CategoryHandlers,
    ServiceHandlers,
    DiscoveryHandlers,
    ReviewHandlers,
):
    """Every catalog use case on one object, for the servicer, the consumers' composition,
    the demo seed, the benchmarks and the tests."""
