"""The docs that describe the code stay true to it: the event catalog, the REST routes, settings.

Each check is a function that lists what the docs get wrong; the tests assert that list is
empty for the real docs and the real code, and that it names the problem when the docs or the
code are changed under it, so no check can pass by looking at nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from google.protobuf import descriptor_pool
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings
from starlette.routing import WebSocketRoute

from chassis.audit import EMITTED_BY_EVERY_SERVICE
from chassis.bus.consumer import Subscription
from chassis.media import MediaSettings
from chassis.service import ServiceDeclaration
from chassis.settings import ServiceSettings
from gateway.app import Gateway, create_app
from gateway.settings import GatewaySettings
from services.identity.events import USER_DELETED, USER_REGISTERED
from suite.registry import SERVICES

DOCS = Path(__file__).resolve().parents[2] / "docs"
NONE = "—"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def replaced(text: str, old: str, new: str) -> str:
    """text with old replaced once; old must be there, so a mutation never changes nothing."""
    assert old in text, f"the docs no longer contain {old!r}"
    return text.replace(old, new, 1)


def cells(line: str) -> list[str]:
    """The cells of one markdown table row, without surrounding backticks."""
    return [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]


def table_after(lines: Sequence[str], start: int) -> list[list[str]]:
    """The body rows of the first table at or after lines[start], stopping at a heading."""
    rows: list[list[str]] = []
    in_table = False
    for line in lines[start:]:
        if line.startswith("|"):
            if in_table and not re.fullmatch(r"\|[\s:|-]+\|", line.strip()):
                rows.append(cells(line))
            in_table = True
        elif in_table or line.startswith("#"):
            break
    return rows


# The event catalog -------------------------------------------------------------------------


ANNOUNCED = "announced"


@dataclass(frozen=True)
class CatalogRow:
    event_type: str
    producer: str
    consumers: frozenset[str]
    message: str
    announced: bool


@dataclass
class CodeEvent:
    """An event as the code has it: who emits it, its message, the queues that consume it."""

    event_type: str
    producer: str
    message: str
    fields: list[str]
    consumers: set[str]
    emitted_by: set[str]
    announced: bool


def catalog_rows(text: str) -> list[CatalogRow]:
    """The rows of events.md's catalog table: the first table whose header names event types."""
    lines = text.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if line.lower().startswith("| event type")), None
    )
    assert header is not None, "docs/events.md has no catalog table ('| event type ...')"
    rows = []
    for row in table_after(lines, header):
        assert len(row) == 5, f"a catalog row needs 5 cells: {row}"
        event_type, producer, consumers, message, _meaning = row
        announced = consumers.endswith(ANNOUNCED)
        listed = consumers.removesuffix(ANNOUNCED)
        queues = frozenset(
            q.strip().strip("`") for q in listed.split(",") if q.strip().strip("`") != NONE
        )
        rows.append(CatalogRow(event_type, producer, queues, message, announced))
    return rows


def documented_fields(text: str) -> dict[str, list[str]]:
    """Each '### `name`' section's field names, from its first table. The name is an event
    type (lower case, e.g. user.registered) or a message's full name (estuary.x.v1.Message)."""
    lines = text.splitlines()
    found: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        heading = re.fullmatch(r"### `([A-Za-z0-9_.]+)`", line.strip())
        if heading:
            found[heading.group(1)] = [row[0] for row in table_after(lines, i + 1)]
    return found


def is_message_name(name: str) -> bool:
    return any(c.isupper() for c in name)


def message_fields(full_name: str) -> list[str] | None:
    """The field names of a proto message, if the generated code defines it."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        return None
    return [f.name for f in descriptor.fields]


def events_in_code(services: Iterable[ServiceDeclaration]) -> dict[str, CodeEvent]:
    """Every event a service emits or subscribes to, with its producer and consumers."""
    found: dict[str, CodeEvent] = {}

    def event(event_type: Any) -> CodeEvent:
        descriptor = event_type.message.DESCRIPTOR
        return found.setdefault(
            event_type.name,
            CodeEvent(
                event_type.name,
                event_type.producer,
                descriptor.full_name,
                [f.name for f in descriptor.fields],
                set(),
                set(),
                event_type.announced,
            ),
        )

    for event_type in EMITTED_BY_EVERY_SERVICE:
        event(event_type).emitted_by.add("chassis")
    for entry in services:
        for event_type in entry.emits:
            event(event_type).emitted_by.add(entry.name)
        for subscription in entry.subscriptions:
            for event_type in subscription.events:
                event(event_type).consumers.add(subscription.queue)
    return found


def catalog_problems(text: str, services: Iterable[ServiceDeclaration]) -> list[str]:
    """What docs/events.md says that the code does not do, and what it leaves out."""
    code = events_in_code(services)
    rows = catalog_rows(text)
    problems: list[str] = []
    documented: dict[str, CatalogRow] = {}
    for each in rows:
        if each.event_type in documented:
            problems.append(f"{each.event_type}: documented twice")
        documented[each.event_type] = each
    for name, event in sorted(code.items()):
        for emitter in sorted(event.emitted_by - {event.producer}):
            problems.append(f"{name}: emitted by {emitter} but its EventType says {event.producer}")
        row = documented.get(name)
        if row is None:
            problems.append(f"{name}: in the code but missing from the catalog")
            continue
        if row.producer != event.producer:
            problems.append(f"{name}: producer documented {row.producer}, code {event.producer}")
        if row.message != event.message:
            problems.append(f"{name}: message documented {row.message}, code {event.message}")
        for queue in sorted(event.consumers - row.consumers):
            problems.append(f"{name}: consumer queue {queue} subscribes but is not documented")
        for queue in sorted(row.consumers - event.consumers):
            problems.append(f"{name}: consumer queue {queue} documented but does not subscribe")
        if row.announced != event.announced:
            problems.append(f"{name}: announced documented {row.announced}, code {event.announced}")
    for name in sorted(documented.keys() - code.keys()):
        problems.append(f"{name}: documented but no service emits or consumes it")
    fields = documented_fields(text)
    for name, event in sorted(code.items()):
        if name not in fields:
            problems.append(f"{name}: no '### `{name}`' section with its fields")
        elif fields[name] != event.fields:
            problems.append(f"{name}: fields documented {fields[name]}, message {event.fields}")
    for name in sorted(fields.keys() - code.keys()):
        if not is_message_name(name):
            problems.append(f"{name}: a field section for an event the code does not have")
        elif (actual := message_fields(name)) is None:
            problems.append(f"{name}: a field section for a message the protos do not define")
        elif fields[name] != actual:
            problems.append(f"{name}: fields documented {fields[name]}, message {actual}")
    return problems


def unheard_events(services: Iterable[ServiceDeclaration]) -> list[str]:
    """The events a service emits that no queue consumes and that are not announced: the
    relay keeps such an event in its producer's outbox, retried for ever, waiting for the
    consumer it was written for (waitlist.offered, booking.no_show and review.replied did)."""
    return [
        f"{name}: emitted, but no queue consumes it and it is not announced"
        for name, event in sorted(events_in_code(services).items())
        if event.emitted_by and not event.consumers and not event.announced
    ]


def test_every_emitted_event_is_consumed_or_announced():
    assert unheard_events(SERVICES) == []


def test_the_unheard_check_catches_an_event_whose_only_consumer_is_gone():
    [catalog] = [s for s in SERVICES if s.name == "catalog"]
    [messaging] = [s for s in SERVICES if s.name == "messaging"]
    deaf = replace(
        messaging,
        subscriptions=tuple(
            replace(s, events=[e for e in s.events if e.name != "review.replied"])
            for s in messaging.subscriptions
        ),
    )
    others = [s for s in SERVICES if s.name != "messaging"]
    assert catalog in others
    assert unheard_events([*others, deaf]) == [
        "review.replied: emitted, but no queue consumes it and it is not announced"
    ]


def test_the_event_catalog_matches_the_code():
    assert catalog_rows(read("events.md")), "the catalog table is empty"
    assert catalog_problems(read("events.md"), SERVICES) == []


# The row the mutations below change: an event with one consuming queue.
ROW_EXAMPLE = (
    "| `review.replied` | catalog | `messaging.notifications` "
    "| `estuary.catalog.v1.ReviewReplied` |"
)
CATALOG_RULE = "|---|---|---|---|---|\n"
ROW_STALE = "| `credit.expired` | payments | — | `estuary.payments.v1.CreditExpired` | Expired. |\n"


def with_line_replaced(text: str, prefix: str, new_line: str | None) -> str:
    """text with the one line starting with prefix replaced by new_line (None: removed)."""
    lines = text.splitlines(keepends=True)
    matches = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    assert len(matches) == 1, f"expected one line starting with {prefix!r} in the docs"
    if new_line is None:
        del lines[matches[0]]
    else:
        lines[matches[0]] = new_line + "\n"
    return "".join(lines)


def line_starting(text: str, prefix: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(prefix))


def example_row_becomes(change: str, by: str) -> Any:
    def mutate(text: str) -> str:
        line = line_starting(text, ROW_EXAMPLE)
        return with_line_replaced(text, ROW_EXAMPLE, line.replace(change, by, 1))

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda text: with_line_replaced(text, ROW_EXAMPLE, None),
            "review.replied: in the code but missing from the catalog",
            id="missing-row",
        ),
        pytest.param(
            example_row_becomes("| catalog |", "| booking |"),
            "review.replied: producer documented booking, code catalog",
            id="wrong-producer",
        ),
        pytest.param(
            example_row_becomes("ReviewReplied", "ReviewAnswered"),
            "review.replied: message documented estuary.catalog.v1.ReviewAnswered,"
            " code estuary.catalog.v1.ReviewReplied",
            id="wrong-message",
        ),
        pytest.param(
            example_row_becomes(
                "| `messaging.notifications` |", "| `messaging.notifications`, `messaging.erase` |"
            ),
            "review.replied: consumer queue messaging.erase documented but does not subscribe",
            id="stale-consumer",
        ),
        pytest.param(
            example_row_becomes(
                "| `messaging.notifications` |", "| `messaging.notifications` announced |"
            ),
            "review.replied: announced documented True, code False",
            id="announced-in-the-docs-only",
        ),
        pytest.param(
            lambda text: text.replace(
                "| — announced | `estuary.messaging.v1.MessageSent`",
                "| — | `estuary.messaging.v1.MessageSent`",
            ),
            "message.sent: announced documented False, code True",
            id="announced-in-the-code-only",
        ),
        pytest.param(
            lambda text: text.replace(
                CATALOG_RULE, CATALOG_RULE + line_starting(text, ROW_EXAMPLE) + "\n", 1
            ),
            "review.replied: documented twice",
            id="duplicate-row",
        ),
        pytest.param(
            lambda text: text.replace(CATALOG_RULE, CATALOG_RULE + ROW_STALE, 1),
            "credit.expired: documented but no service emits or consumes it",
            id="stale-row",
        ),
        pytest.param(
            lambda text: with_line_replaced(
                text, "| `user_id` | string | The erased", "| x | y | z |"
            ),
            "user.deleted: fields documented ['x'], message ['user_id']",
            id="wrong-fields",
        ),
        pytest.param(
            lambda text: with_line_replaced(
                text, "| `practitioner_user_id` | string | Its practitioner's identity", None
            ),
            "estuary.catalog.v1.ServiceTerms: fields documented",
            id="wrong-message-fields",
        ),
    ],
)
def test_the_catalog_check_catches_docs_that_drift_from_the_code(mutate, expected):
    text = read("events.md")
    mutated = mutate(text)
    assert mutated != text, "the mutation changed nothing"
    problems = catalog_problems(mutated, SERVICES)
    assert any(p.startswith(expected) for p in problems), problems


async def _apply(uow: Any, event: Any) -> None:
    return None


def test_the_catalog_check_catches_a_subscription_nobody_documented():
    messaging = replace(
        SERVICES[0],
        name="messaging",
        emits=(),
        subscriptions=(Subscription("messaging.mail", [USER_REGISTERED, USER_DELETED], _apply),),
    )
    problems = catalog_problems(read("events.md"), [*SERVICES, messaging])
    assert "user.registered: consumer queue messaging.mail subscribes but is not documented" in (
        problems
    )
    assert "user.deleted: consumer queue messaging.mail subscribes but is not documented" in (
        problems
    )


def test_the_catalog_check_catches_an_event_emitted_by_a_service_that_is_not_its_producer():
    impostor = replace(SERVICES[0], name="catalog", emits=(USER_DELETED,), subscriptions=())
    problems = catalog_problems(read("events.md"), [*SERVICES, impostor])
    assert "user.deleted: emitted by catalog but its EventType says identity" in problems


# REST routes -------------------------------------------------------------------------------

ROUTE_ROW = re.compile(r"^\|\s*([A-Z]+)\s*\|\s*`([^`]+)`\s*\|", re.MULTILINE)


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; WebSockets as 'WS' (the live socket,
    served ahead of the routes, among them), HEAD left out."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazy router inclusion: app.routes is already flat
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found = {("WS", app.live_path)} if isinstance(app, Gateway) else set()
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, WebSocketRoute) or type(original).__name__ == "APIWebSocketRoute":
            found.add(("WS", route.path))
            continue
        for method in route.methods or ("ANY",):
            if method != "HEAD":
                found.add((method, route.path))
    return found


def route_problems(text: str, app: FastAPI) -> list[str]:
    """Routes the app has that docs/api.md's route table lacks, and the other way round."""
    documented = set(ROUTE_ROW.findall(text))
    served = app_routes(app)
    return [f"{m} {p}: served but not documented" for m, p in sorted(served - documented)] + [
        f"{m} {p}: documented but not served" for m, p in sorted(documented - served)
    ]


@pytest.fixture
def app() -> FastAPI:
    # Channels to the backends open lazily: building the app connects to nothing.
    return create_app(GatewaySettings())


def test_api_docs_list_every_rest_route_of_the_gateway(app):
    served = app_routes(app)
    assert ("POST", "/api/v1/auth/login") in served, f"route discovery is broken: {served}"
    assert route_problems(read("api.md"), app) == []


def test_the_route_check_catches_an_undocumented_or_stale_route(app):
    @app.get("/api/v1/undocumented")
    async def undocumented() -> None:
        return None

    text = replaced(
        read("api.md"), "| GET | `/api/v1/admin/audit-log` |", "| GET | `/api/v1/old` |"
    )
    problems = route_problems(text, app)
    assert "GET /api/v1/undocumented: served but not documented" in problems
    assert "GET /api/v1/admin/audit-log: served but not documented" in problems
    assert "GET /api/v1/old: documented but not served" in problems


# Settings ----------------------------------------------------------------------------------


def rendered_default(field: FieldInfo) -> str:
    """A setting's default as operations.md writes it."""
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if value == "":
        return "empty"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def settings_classes() -> list[type[BaseSettings]]:
    """The chassis's settings, each service's subclass of it, the gateway's and the media
    store's."""
    return [
        ServiceSettings,
        *dict.fromkeys(s.settings for s in SERVICES),
        GatewaySettings,
        MediaSettings,
    ]


def is_nested_settings(field: FieldInfo) -> bool:
    """A field holding settings of their own (the gateway's media), listed under their class."""
    return isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings)


def settings_in_code(cls: type[BaseSettings]) -> dict[str, str]:
    """Every ESTUARY_* variable a class reads and its default; a service's class lists only
    what it adds to ServiceSettings or whose default it changes."""
    is_service = issubclass(cls, ServiceSettings) and cls is not ServiceSettings
    base = ServiceSettings.model_fields if is_service else {}
    prefix = cls.model_config.get("env_prefix", "")
    return {
        f"{prefix}{name}".upper(): rendered_default(field)
        for name, field in cls.model_fields.items()
        if not is_nested_settings(field)
        and (name not in base or rendered_default(base[name]) != rendered_default(field))
    }


def documented_settings(text: str, heading: str) -> dict[str, str]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"### {heading}")), None)
    assert start is not None, f"docs/operations.md has no '### {heading}' section"
    return {row[0]: row[1] for row in table_after(lines, start + 1)}


def settings_problems(text: str) -> list[str]:
    problems = []
    for cls in settings_classes():
        code = settings_in_code(cls)
        docs = documented_settings(text, cls.__name__)
        for name in sorted(code.keys() - docs.keys()):
            problems.append(f"{cls.__name__}: {name} is not documented")
        for name in sorted(docs.keys() - code.keys()):
            problems.append(f"{cls.__name__}: {name} is documented but not a setting")
        for name in sorted(code.keys() & docs.keys()):
            if code[name] != docs[name]:
                problems.append(
                    f"{cls.__name__}: {name} default documented {docs[name]}, code {code[name]}"
                )
    return problems


def test_operations_docs_list_every_setting_with_its_default():
    assert settings_problems(read("operations.md")) == []


def test_the_settings_check_catches_a_missing_row_or_a_wrong_default():
    text = read("operations.md")
    text = replaced(text, "| `ESTUARY_BUS_PREFETCH` | `32` |", "| `ESTUARY_BUS_PREFETCH` | `64` |")
    text = replaced(text, "| `ESTUARY_HTTP_PORT` | `8000` | HTTP listen port. |\n", "")
    problems = settings_problems(text)
    assert "ServiceSettings: ESTUARY_BUS_PREFETCH default documented 64, code 32" in problems
    assert "GatewaySettings: ESTUARY_HTTP_PORT is not documented" in problems
