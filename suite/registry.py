"""The registry of the suite: one line per service, naming the module that declares it.

Everything else (start order, ports, the embedded suite, the `estuary` command's choices,
the gateway's backends, docker-compose.yml and deploy/) follows from the declarations; see
docs/adding-a-service.md.
"""

from __future__ import annotations

import importlib

from chassis.service import ServiceDeclaration, in_start_order

DECLARED = (
    "services.identity.service",
    "services.catalog.service",
    "services.booking.service",
    "services.payments.service",
    "services.messaging.service",
    "services.streams.service",
)


def declared(modules: tuple[str, ...] = DECLARED) -> tuple[ServiceDeclaration, ...]:
    """The SERVICE each module declares, each after the services it calls."""
    found = []
    for module in modules:
        declaration = importlib.import_module(module).SERVICE
        if not isinstance(declaration, ServiceDeclaration):
            raise TypeError(f"{module}.SERVICE is not a ServiceDeclaration")
        found.append(declaration)
    return in_start_order(found)


SERVICES = declared()
BY_NAME = {s.name: s for s in SERVICES}
