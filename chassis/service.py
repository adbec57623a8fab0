"""A service's declaration: everything the suite, the gateway and the deploy files know of it.

Each service declares itself once, in its own folder (`services/<name>/service.py`), and the
suite's registry lists that module. The embedded runner, the `estuary` command, the gateway's
backends and readiness, docker-compose.yml and deploy/ all follow from the declarations.

A declaration is cheap to import: what would load a service's handlers, repositories or
SQLAlchemy (its composition root, its events and subscriptions, its operator commands, the
stubs the gateway calls) is named by import path ("package.module:attribute") and loaded on
first use, so the gateway reads every declaration without loading any service.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from chassis.settings import ServiceSettings

if TYPE_CHECKING:
    from chassis.bus.consumer import Subscription
    from chassis.bus.envelope import EventType

T = TypeVar("T")

NAME = re.compile(r"[a-z][a-z0-9]*")
"""A service's name: its database, its queue prefix, its host name and its variables' infix."""


def resolve(reference: str) -> Any:
    """The object an import path "package.module:attribute" names."""
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise ValueError(f"{reference!r} is not an import path 'package.module:attribute'")
    return getattr(importlib.import_module(module), attribute)


class Imported(Sequence[T], Generic[T]):
    """A sequence defined in a module that is imported only when the sequence is first read."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self._items: tuple[T, ...] | None = None

    def _resolved(self) -> tuple[T, ...]:
        if self._items is None:
            self._items = tuple(resolve(self.reference))
        return self._items

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._resolved()[index]

    def __len__(self) -> int:
        return len(self._resolved())

    def __iter__(self) -> Iterator[T]:
        return iter(self._resolved())

    def __repr__(self) -> str:
        return f"Imported({self.reference!r})"


class Offline(Protocol):
    """Builds a service for an operator command: on its own database (the data folder's
    file, or ESTUARY_DATABASE_URL), on a bus that publishes nothing (its events wait in the
    outbox for the running service's relay); migrated first when asked."""

    def __call__(self, args: argparse.Namespace, *, migrate: bool = False) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class CommandLine:
    """What a service adds its operator commands to `estuary` with."""

    commands: argparse._SubParsersAction[argparse.ArgumentParser]
    common: Sequence[argparse.ArgumentParser]
    """Parents of every command (the data folder's option): pass them as `parents=`."""
    offline: Offline


@dataclass(frozen=True)
class ServiceDeclaration:
    """One bounded context, as everything outside its folder knows it."""

    name: str
    grpc_port: int
    """Its gRPC port: the default of `estuary serve`, `estuary up` and every deploy file."""
    settings: type[ServiceSettings]
    """Its settings class (a settings module imports only pydantic and the chassis)."""
    bootstrap: str
    """Import path of its build function: build(settings, *, transport, clock=None) returning
    an object with `async start() -> port`, `async stop()` and `runtime`."""
    migrations: Path
    """Its alembic folder (env.py, versions/)."""
    emits: Sequence[EventType[Any]] = ()
    """The EventTypes it emits; usually Imported("services.<name>.events:EMITTED")."""
    subscriptions: Sequence[Subscription] = ()
    """Its bus Subscriptions; usually Imported("services.<name>.consumers:SUBSCRIPTIONS")."""
    calls: tuple[str, ...] = ()
    """The services it calls over gRPC: it starts after them and is given their addresses
    (its settings class must read `<name>_address` for each)."""
    stubs: Mapping[str, str] = field(default_factory=dict)
    """The gateway's stubs on this service's channel: attribute of the gateway's backends to
    the stub class's import path, e.g. {"catalog": "estuary.catalog.v1.catalog_pb2_grpc:
    CatalogServiceStub"}."""
    commands: str | None = None
    """Import path of a function add(cli: CommandLine) that adds this service's operator
    commands to `estuary` (identity's `admin` and `keys`); each sets `run`, an async function
    of the parsed arguments."""
    issues_service_tokens: bool = False
    """It is the token issuer: given every service's secret (`service_credentials`)."""
    operator_settings: Mapping[str, bool] = field(default_factory=dict)
    """Secret settings the operator supplies (its Secret in Kubernetes, .env in compose), by
    variable name; True when the service cannot start without it."""
    embedded_settings: Mapping[str, Any] = field(default_factory=dict)
    """Settings the embedded suite (one machine, loopback) gives it unless the environment
    sets them, by field name (messaging's partner webhooks to loopback URLs)."""

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"service name {self.name!r}: lower-case letters and digits")
        if not 0 < self.grpc_port < 65536:
            raise ValueError(f"{self.name}: grpc_port {self.grpc_port} is not a port")
        for called in self.calls:
            if f"{called}_address" not in self.settings.model_fields:
                raise ValueError(
                    f"{self.name} calls {called}, but {self.settings.__name__} has no "
                    f"{called}_address setting to be told where it is"
                )

    @property
    def address_variable(self) -> str:
        """The variable that tells a caller (a service or the gateway) where this service is."""
        return f"ESTUARY_{self.name.upper()}_ADDRESS"

    def build(self, settings: ServiceSettings, **wiring: Any) -> Any:
        """The service built by its composition root (nothing starts yet)."""
        return resolve(self.bootstrap)(settings, **wiring)

    def add_commands(self, cli: CommandLine) -> None:
        """Adds this service's operator commands to `estuary`, if it has any."""
        if self.commands is not None:
            add: Callable[[CommandLine], None] = resolve(self.commands)
            add(cli)


def in_start_order(declarations: Iterable[ServiceDeclaration]) -> tuple[ServiceDeclaration, ...]:
    """The declarations with each service after those it calls, otherwise as listed."""
    listed = list(declarations)
    by_name: dict[str, ServiceDeclaration] = {}
    for declaration in listed:
        if declaration.name in by_name:
            raise ValueError(f"{declaration.name} is declared twice")
        by_name[declaration.name] = declaration
    ordered: dict[str, ServiceDeclaration] = {}

    def visit(declaration: ServiceDeclaration, path: tuple[str, ...]) -> None:
        if declaration.name in ordered:
            return
        if declaration.name in path:
            cycle = " -> ".join([*path, declaration.name])
            raise ValueError(f"services call each other in a cycle: {cycle}")
        for called in declaration.calls:
            if called not in by_name:
                raise ValueError(f"{declaration.name} calls {called}, which is not declared")
            visit(by_name[called], (*path, declaration.name))
        ordered[declaration.name] = declaration

    for declaration in listed:
        visit(declaration, ())
    return tuple(ordered.values())
