"""The gateway's routes run on the event loop: FastAPI sends a class or a plain function used
as a dependency (or an endpoint) to its thread pool, a hop to another thread per request."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.app import create_app
from gateway.settings import GatewaySettings


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _runs_inline(call: Any) -> bool:
    # As FastAPI decides: a class is called in the pool; an instance (a security scheme) by
    # its __call__.
    if inspect.isclass(call):
        return False
    if not inspect.isroutine(call):
        call = call.__call__
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


def test_no_route_waits_on_the_thread_pool():
    routes = [
        (context.path, route)
        for context in iter_route_contexts(create_app(GatewaySettings()).routes)
        if isinstance(route := context.original_route, APIRoute)
    ]
    assert "/api/v1/services" in {path for path, _ in routes}
    threaded = sorted(
        f"{path}: {getattr(call, '__qualname__', call)}"
        for path, route in routes
        for call in [route.endpoint, *_calls(route.dependant)]
        if not _runs_inline(call)
    )
    assert threaded == []
