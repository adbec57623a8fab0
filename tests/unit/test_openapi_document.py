"""The OpenAPI document is one clients can generate working SDKs from, and the committed copy
(docs/openapi.json) is the one the gateway serves.

Each rule is a function listing what breaks it; the tests assert the list is empty for the
real document, and that it names the fault in a document broken on purpose.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.app import create_app
from gateway.auth import require_staff
from gateway.openapi import OPERATION_ID, SCHEMA_NAME
from gateway.problems import MEDIA_TYPE
from gateway.routes.common import backends
from gateway.settings import GatewaySettings
from suite import contracts

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / contracts.OPENAPI
PROBLEM = "#/components/schemas/Problem"
FIX = "run `make schemas` (or `.venv/bin/estuary schemas`) and commit docs/openapi.json"


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(GatewaySettings())


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


# The committed document --------------------------------------------------------------------


async def test_the_committed_document_is_the_one_the_gateway_serves(app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        served = await client.get("/openapi.json")
    assert served.status_code == 200
    assert COMMITTED.exists(), f"docs/openapi.json is missing: {FIX}"
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert served.json() == committed, f"the API changed: {FIX}"
    # Written stably, so a change to the API is a readable diff in review.
    assert COMMITTED.read_text(encoding="utf-8") == contracts.render(committed)


# Operation ids and tags --------------------------------------------------------------------


def operation_id_problems(document: dict[str, Any]) -> list[str]:
    found = []
    seen: dict[str, str] = {}
    declared_tags = {tag["name"] for tag in document.get("tags", [])}
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        operation_id = operation.get("operationId", "")
        tags = operation.get("tags", [])
        if not OPERATION_ID.fullmatch(operation_id):
            found.append(f"{where}: operation id {operation_id!r} is not <tag>.<verb>")
        if operation_id in seen:
            found.append(f"{where}: operation id {operation_id} also names {seen[operation_id]}")
        seen[operation_id] = where
        if len(tags) != 1:
            found.append(f"{where}: needs exactly one tag, has {tags}")
        elif operation_id.split(".")[0] != tags[0]:
            found.append(f"{where}: operation id {operation_id} is not under its tag {tags[0]}")
        elif tags[0] not in declared_tags:
            found.append(f"{where}: tag {tags[0]} has no description in the document's tags")
    return found


def test_every_operation_has_a_stable_short_unique_id_under_its_one_tag(document):
    assert operation_id_problems(document) == []
    ids = {o["operationId"] for _, _, o in operations(document)}
    assert {"auth.register", "services.list", "users.update_me"} <= ids


def test_every_documented_route_names_its_operation_id_itself(app):
    """Not FastAPI's default (register_api_v1_auth_register_post): a route renamed in the code
    would rename the SDK's function."""
    missing = [
        f"{sorted(route.methods)} {route.path}"
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, APIRoute)
        and route.include_in_schema
        and not route.operation_id
    ]
    assert missing == [], "give each route operation_id='<tag>.<verb>'"


def test_the_operation_id_check_catches_a_default_a_duplicate_and_a_stray_tag(document):
    broken = copy.deepcopy(document)
    broken["paths"]["/api/v1/auth/login"]["post"]["operationId"] = "login_api_v1_auth_login_post"
    broken["paths"]["/api/v1/auth/logout"]["post"]["operationId"] = "auth.register"
    broken["paths"]["/api/v1/services"]["get"]["tags"] = ["catalog"]
    found = operation_id_problems(broken)
    assert (
        "POST /api/v1/auth/login: operation id 'login_api_v1_auth_login_post' is not "
        "<tag>.<verb>" in found
    )
    assert (
        "POST /api/v1/auth/logout: operation id auth.register also names "
        "POST /api/v1/auth/register" in found
    )
    assert "GET /api/v1/services: operation id services.list is not under its tag catalog" in (
        found
    )


# Schema names ------------------------------------------------------------------------------


def test_schema_names_are_intentional_and_unique(document):
    names = list(document["components"]["schemas"])
    assert [n for n in names if not SCHEMA_NAME.fullmatch(n)] == []
    assert len({n.lower() for n in names}) == len(names)
    # The resources as docs/api.md names them, and the patch bodies of two services apart.
    assert {"User", "Practitioner", "Service", "Location", "Category", "UserPage"} <= set(names)
    assert {"UserPatch", "PractitionerPatch", "Problem", "Violation"} <= set(names)


# Problems ----------------------------------------------------------------------------------


def operations_by_dependency(app: Any) -> dict[str, set[Any]]:
    """Each documented route's operation id and everything it depends on."""

    def calls(dependant: Any) -> Iterator[Any]:
        yield dependant.call
        for sub in dependant.dependencies:
            yield from calls(sub)

    return {
        route.operation_id: set(calls(route.dependant))
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, APIRoute) and route.operation_id
    }


def staff_only(app: Any) -> set[str]:
    """Operation ids of the routes that need staff, read from their dependencies."""
    return {op for op, calls in operations_by_dependency(app).items() if require_staff in calls}


def without_backends(app: Any) -> set[str]:
    """Operation ids of the routes that call no backend (the folder media store's)."""
    return {op for op, calls in operations_by_dependency(app).items() if backends not in calls}


def expected_problems(
    method: str,
    path: str,
    operation: dict[str, Any],
    staff: set[str],
    offline: Collection[str] = (),
) -> set[int]:
    """What an operation must list, read from the document itself: a token it needs, a path
    id, parameters, a body, an Idempotency-Key, a cursor, the rate limit, a backend."""
    found: set[int] = set()
    parameters = {p["name"] for p in operation.get("parameters", [])}
    if path.startswith("/api/"):
        found.add(429)
        if operation["operationId"] not in offline:
            found |= {503, 504}
    if operation.get("security"):
        found.add(401)
        if method != "GET":
            found.add(403)
    if operation["operationId"] in staff:
        found |= {401, 403}
    if "{" in path:
        found.add(404)
    if parameters or "requestBody" in operation:
        found.add(422)
    if "requestBody" in operation:
        found |= {400, 413}
    if "Idempotency-Key" in parameters or "cursor" in parameters:
        found.add(400)
    return found


def problem_problems(
    document: dict[str, Any],
    staff: set[str],
    offline: Collection[str] = (),
) -> list[str]:
    found = []
    problem = document["components"]["schemas"].get("Problem", {})
    violation = document["components"]["schemas"].get("Violation", {})
    if problem.get("properties", {}).get("errors", {}).get("items") != {
        "$ref": "#/components/schemas/Violation"
    }:
        found.append("Problem.errors is not a list of Violation")
    if set(violation.get("required", [])) != {"field", "message", "code"}:
        found.append("Violation does not require field, message and code")
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        listed = {int(s) for s in operation["responses"] if int(s) >= 400}
        for status in sorted(expected_problems(method, path, operation, staff, offline) - listed):
            found.append(f"{where}: does not list {status}")
        for status in sorted(listed):
            if path == "/readyz" and status == 503:
                continue  # "not ready", a Health body
            response = resolve(document, operation["responses"][str(status)])
            content = response.get("content", {})
            if list(content) != [MEDIA_TYPE]:
                found.append(f"{where}: {status} is {sorted(content)}, not {MEDIA_TYPE} alone")
            elif content[MEDIA_TYPE].get("schema") != {"$ref": PROBLEM}:
                found.append(f"{where}: {status} is not the shared Problem schema")
            headers = response.get("headers", {})
            if status == 429 and "Retry-After" not in headers:
                found.append(f"{where}: 429 does not document Retry-After")
            if status == 401 and "WWW-Authenticate" not in headers:
                found.append(f"{where}: 401 does not document WWW-Authenticate")
    return found


def test_every_operation_lists_each_problem_it_can_answer_as_problem_json(app, document):
    assert problem_problems(document, staff_only(app), without_backends(app)) == []


def test_problems_per_route_are_what_the_route_can_answer(document):
    def listed(method: str, path: str) -> set[int]:
        responses = document["paths"][path][method]["responses"]
        return {int(s) for s in responses if int(s) >= 400}

    # A public read with a token optional: a sent token must verify.
    assert listed("get", "/api/v1/services/categories") == {401, 429, 503, 504}
    # Registration ignores tokens; a taken email is 409.
    assert listed("post", "/api/v1/auth/register") == {400, 409, 413, 422, 429, 503, 504}
    assert listed("post", "/api/v1/admin/users/{user_id}/suspend") == {
        400,
        401,
        403,
        404,
        409,
        413,
        422,
        429,
        503,
        504,
    }
    assert listed("get", "/healthz") == set()
    assert listed("get", "/.well-known/jwks.json") == {503, 504}


def test_the_problem_check_catches_a_missing_problem_and_a_json_error(app, document):
    broken = copy.deepcopy(document)
    del broken["paths"]["/api/v1/users/me"]["get"]["responses"]["401"]
    broken["paths"]["/api/v1/admin/users"]["get"]["responses"]["403"] = {
        "description": "Forbidden",
        "content": {"application/json": {"schema": {"$ref": PROBLEM}}},
    }
    del broken["paths"]["/api/v1/admin/users"]["get"]["responses"]["400"]
    found = problem_problems(broken, staff_only(app))
    assert "GET /api/v1/users/me: does not list 401" in found
    assert "GET /api/v1/admin/users: does not list 400" in found  # its cursor
    assert f"GET /api/v1/admin/users: 403 is ['application/json'], not {MEDIA_TYPE} alone" in found


# Headers -----------------------------------------------------------------------------------


def test_every_answer_documents_the_request_id_and_api_answers_the_rate_limit(document):
    missing = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = resolve(document, response).get("headers", {})
            wanted = {"X-Request-ID"}
            if path.startswith("/api/"):
                wanted |= {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
            missing += [f"{method} {path} {status}: {h}" for h in sorted(wanted - set(headers))]
    assert missing == []


def test_idempotency_key_is_documented_on_the_routes_that_honour_it(document):
    with_key = sorted(
        o["operationId"]
        for _, _, o in operations(document)
        if "Idempotency-Key" in {p["name"] for p in o.get("parameters", [])}
    )
    assert with_key == [
        "auth.register",
        "bookings.create",
        "categories.create",
        "checkout.create",
        "credits.top_up",
        "gift_cards.create",
        "ledger.adjust",
        "locations.create",
        "partner_webhooks.create",
        "payouts.create",
        "payouts.retry",
        "platform_subscriptions.create",
        "practitioners.apply",
        "practitioners.approve",
        "practitioners.reject",
        "reviews.create",
        "reviews.reply",
        "services.create",
        "stream_orders.tip_post",
        "stream_orders.tip_stream",
        "stream_orders.unlock_post",
        "stream_subscriptions.create",
        "users.reactivate",
        "users.suspend",
        "waitlist.join",
    ]


def test_list_operations_document_their_cursor_and_page(document):
    for method, path, operation in operations(document):
        parameters = {p["name"] for p in operation.get("parameters", [])}
        ok = resolve(document, operation["responses"].get("200", {}))
        schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref", "").endswith("Page"):
            assert {"limit", "cursor"} <= parameters, f"{method} {path}"


# Examples ----------------------------------------------------------------------------------


def bodies(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every request body and every JSON success answer."""
    for method, path, operation in operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            yield f"{method} {path} request", content["application/json"]["schema"]
        for status, response in operation["responses"].items():
            content = resolve(document, response).get("content", {})
            if status.startswith("2") and "application/json" in content:
                yield f"{method} {path} {status}", content["application/json"]["schema"]


def example_problems(document: dict[str, Any]) -> list[str]:
    """Bodies without an example, and examples their own schema refuses."""
    found = []
    for where, schema in bodies(document):
        members = schema.get("oneOf") or [schema]
        for member in members:
            target = resolve(document, member)
            if not target.get("examples"):
                found.append(f"{where}: no example ({member.get('$ref', 'inline')})")
    for name, schema in document["components"]["schemas"].items():
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": document["components"]}, validate_formats=True
        )
        for example in schema.get("examples", []):
            for error in validator.iter_errors(example):
                found.append(f"{name}'s example: {error.message}")
    for name, response in document["components"].get("responses", {}).items():
        for media in response.get("content", {}).values():
            problem = {"$ref": PROBLEM, "components": document["components"]}
            validator = jsonschema_rs.Draft202012Validator(problem, validate_formats=True)
            if "example" not in media:
                found.append(f"{name}: no example")
            elif not validator.is_valid(media["example"]):
                found.append(f"{name}'s example is not a Problem")
    return found


def test_every_body_has_an_example_that_fits_its_schema(document):
    assert example_problems(document) == []


def test_the_example_check_catches_a_missing_and_a_wrong_example(document):
    broken = copy.deepcopy(document)
    del broken["components"]["schemas"]["LoginBody"]["examples"]
    broken["components"]["schemas"]["User"]["examples"][0]["roles"] = ["wizard"]
    found = example_problems(broken)
    assert "POST /api/v1/auth/login request: no example (#/components/schemas/LoginBody)" in found
    assert any(p.startswith("User's example: ") and "wizard" in p for p in found), found
