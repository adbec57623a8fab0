"""Bad input gets a clear answer naming the field, never a crash.

Two halves: schemathesis throws generated requests (valid and invalid) at every operation of
the embedded gateway's OpenAPI, signed in and not, and holds each answer to the document (a
status the operation declares, its media type, its body's schema, its headers: what a
generated SDK relies on); then explicit tables, on both shapes, break each identity route's
body in every way a client plausibly would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.e2e.accounts import PASSWORD, bearer, new_email, register, sign_in_admin, sign_up
from tests.e2e.stacks import BackgroundEmbedded, Stack

PROBLEM = "application/problem+json"


def assert_is_a_problem(status: int, headers: Mapping[str, str], text: str, where: str) -> None:
    """A 4xx a client can act on: problem+json whose errors each name a field."""
    assert headers["content-type"] == PROBLEM, (where, text)
    body = json.loads(text)
    assert body["status"] == status, (where, body)
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), (where, body)
    for error in body["errors"]:
        assert {k: type(v) for k, v in error.items()} == {
            "field": str,
            "message": str,
            "code": str,
        }, (where, body)
        assert error["field"] and error["message"] and error["code"], (where, body)
    if status == 401:
        assert headers["www-authenticate"].startswith("Bearer"), where


def assert_answer_is_a_problem(answer: httpx.Response, where: str) -> None:
    assert_is_a_problem(answer.status_code, answer.headers, answer.text, where)


# Generated requests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed_suite(tmp_path_factory) -> Iterator[BackgroundEmbedded]:
    """One embedded suite for the whole run; hypothesis drives it from synchronous code."""
    # Password hashing at its cheapest: generated sign-ups and logins are many, and the cost
    # of a hash has nothing to do with how bad input is answered.
    cheap_hashing = {"argon2_time_cost": 1, "argon2_memory_kib": 8}
    with BackgroundEmbedded(
        tmp_path_factory.mktemp("fuzzed"), service_overrides={"identity": cheap_hashing}
    ) as running:
        yield running


@dataclass
class Callers:
    """A fresh admin per operation: an admin holds every role but practitioner, so reaches
    furthest, and one operation's examples (deleting the account, logging out) cannot spoil
    another operation's."""

    suite: BackgroundEmbedded
    tokens: dict[str, str] = field(default_factory=dict)

    def token_for(self, operation: Any) -> str:
        if operation.label not in self.tokens:
            email = new_email("fuzz")
            self.suite.run(self.suite.stack.make_admin(email, PASSWORD))
            login = httpx.post(
                f"{self.suite.stack.base_url}/api/v1/auth/login",
                json={"email": email, "password": PASSWORD},
            )
            assert login.status_code == 200, login.text
            self.tokens[operation.label] = login.json()["access_token"]
        return self.tokens[operation.label]


@pytest.fixture(scope="module")
def callers(fuzzed_suite: BackgroundEmbedded) -> Callers:
    return Callers(fuzzed_suite)


def needs_a_token(operation: Any) -> bool:
    return bool(operation.definition.raw.get("security"))


# What a client generated from the document relies on: an undocumented status or a body off
# its schema (a timestamp without its offset, say) is parsed as nothing, or fails to parse.
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# The document the gateway serves, built from the same code without serving it, so that each
# operation is a test of its own; the generated requests go to the running embedded suite.
gateway_schema = schemathesis.openapi.from_dict(create_app(GatewaySettings()).openapi())


def test_the_fuzzed_document_is_the_one_the_gateway_serves(fuzzed_suite):
    served = httpx.get(f"{fuzzed_suite.stack.base_url}/openapi.json").json()
    assert served == gateway_schema.raw_schema
    operations = {(m, p) for p, ops in served["paths"].items() for m in ops}
    assert len(operations) == len(list(gateway_schema.get_all_operations()))


@gateway_schema.parametrize()
# Valid and invalid data alike, in two phases: schemathesis's coverage phase (each field's
# boundaries and just past them, e.g. an integer one past its proto type's range), then ten
# random examples per operation. The whole run stays near a minute; the tables below break
# each identity field deliberately.
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
)
def test_no_generated_request_gets_a_5xx_and_every_refusal_is_a_problem(
    case, fuzzed_suite, callers
):
    attempts = [{}]
    if needs_a_token(case.operation):
        attempts.append(bearer(callers.token_for(case.operation)))
    for headers in attempts:
        response = case.call(base_url=fuzzed_suite.stack.base_url, headers=headers, timeout=15)
        where = f"{case.operation.label} signed in={bool(headers)}"
        assert response.status_code < 500, (where, response.text)
        case.validate_response(response, checks=CONFORMANCE)
        if response.status_code >= 400:
            # Schemathesis keeps every value of a header; the gateway sends each once.
            first = {name.lower(): values[0] for name, values in response.headers.items()}
            assert_is_a_problem(response.status_code, first, response.text, where)


# Explicit tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """An identity route, a body it accepts, and the documented limit of each string field."""

    method: str
    path: str
    body: dict[str, Any]
    max_lengths: dict[str, int]
    required: tuple[str, ...]
    caller: str = "anyone"  # or "user", or "staff"

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


SOMEONE = "00000000-0000-7000-8000-000000000000"
ROUTES = [
    Route(
        "POST",
        "/api/v1/auth/register",
        {"email": "ana@example.com", "password": PASSWORD, "full_name": "Ana Sousa"},
        {"email": 254, "password": 1024, "full_name": 200},
        ("email", "password", "full_name"),
    ),
    Route(
        "POST",
        "/api/v1/auth/login",
        {"email": "ana@example.com", "password": PASSWORD},
        {"email": 254, "password": 1024},
        ("email", "password"),
    ),
    Route(
        "POST",
        "/api/v1/auth/token/refresh",
        {"refresh_token": "a-refresh-token"},
        {"refresh_token": 512},
        ("refresh_token",),
    ),
    Route("POST", "/api/v1/auth/verify-email", {"token": "a-token"}, {"token": 512}, ("token",)),
    Route(
        "POST",
        "/api/v1/auth/password/reset",
        {"email": "ana@example.com"},
        {"email": 254},
        ("email",),
    ),
    Route(
        "POST",
        "/api/v1/auth/password/reset/confirm",
        {"token": "a-token", "new_password": PASSWORD},
        {"token": 512, "new_password": 1024},
        ("token", "new_password"),
    ),
    Route(
        "POST",
        "/api/v1/auth/password/change",
        {"current_password": PASSWORD, "new_password": "another-password-77"},
        {"current_password": 1024, "new_password": 1024},
        ("current_password", "new_password"),
        caller="user",
    ),
    Route(
        "PATCH",
        "/api/v1/users/me",
        {"full_name": "Ana Sousa", "bio": "Yoga teacher", "preferences": {"sms": True}},
        {"full_name": 200, "phone": 32, "timezone": 64, "avatar_url": 2048, "bio": 2000},
        (),
        caller="user",
    ),
    Route(
        "POST",
        f"/api/v1/admin/users/{SOMEONE}/suspend",
        {"reason": "spam"},
        {"reason": 500},
        (),
        caller="staff",
    ),
    Route(
        "POST",
        f"/api/v1/admin/users/{SOMEONE}/reactivate",
        {"reason": "appeal upheld"},
        {"reason": 500},
        (),
        caller="staff",
    ),
    Route(
        "PUT",
        f"/api/v1/admin/users/{SOMEONE}/roles",
        {"roles": ["client"], "reason": "onboarding"},
        {"reason": 500},
        ("roles",),
        caller="staff",
    ),
]


def broken_bodies(route: Route) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each way to break the route's body, by name, with the field the answer must name."""
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in route.required:
        cases[f"missing {name}"] = (name, {k: v for k, v in route.body.items() if k != name})
    for name in route.body:
        # Every field takes text, a list or an object; a number is none of those.
        cases[f"{name} of the wrong type"] = (name, dict(route.body, **{name: 12345}))
    for name, limit in route.max_lengths.items():
        cases[f"{name} too long"] = (name, dict(route.body, **{name: "x" * (limit + 1)}))
    cases["an unknown field"] = ("nickname", dict(route.body, nickname="Nia"))
    if "roles" in route.body:
        cases["an unknown role"] = ("roles.0", dict(route.body, roles=["wizard"]))
    return cases


async def test_each_broken_body_is_refused_naming_the_field(stack: Stack):
    async with stack.client() as client:
        headers = {
            "anyone": {},
            "user": (await sign_up(client)).headers,
            "staff": (await sign_in_admin(stack, client)).headers,
        }
        named: dict[str, list[str]] = {}
        expected: dict[str, list[str]] = {}
        for route in ROUTES:
            for case, (field_name, body) in broken_bodies(route).items():
                where = f"{route.name}: {case}"
                answer = await client.request(
                    route.method, route.path, json=body, headers=headers[route.caller]
                )
                assert 400 <= answer.status_code < 500, (where, answer.status_code, answer.text)
                assert_answer_is_a_problem(answer, where)
                named[where] = [e["field"] for e in answer.json()["errors"]]
                expected[where] = [field_name]
        # One comparison, so that a failure lists every route and field that went wrong.
        assert named == expected


async def test_malformed_json_and_non_objects_are_refused_as_the_body(stack: Stack):
    async with stack.client() as client:
        for content in (b'{"email": "ana@example.com", ', b"[1, 2]", b'"ana"', b"null"):
            answer = await client.post(
                "/api/v1/auth/login", content=content, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 422, content
            assert_answer_is_a_problem(answer, repr(content))
            assert [e["field"] for e in answer.json()["errors"]] == ["body"], answer.text


async def test_bad_list_parameters_name_the_parameter_the_client_sent(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        for params, field_name in (
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"q": "x" * 255}, "q"),
            ({"role": "wizard"}, "role"),
            ({"status": "asleep"}, "status"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": "x" * 1025}, "cursor"),
        ):
            answer = await client.get("/api/v1/admin/users", params=params, headers=admin.headers)
            assert 400 <= answer.status_code < 500, (params, answer.text)
            assert_answer_is_a_problem(answer, str(params))
            assert [e["field"] for e in answer.json()["errors"]] == [field_name], answer.text
        # A cursor is bound to its query: replaying it against another search is refused.
        await register(client)
        first = await client.get("/api/v1/admin/users", params={"limit": 1}, headers=admin.headers)
        replayed = await client.get(
            "/api/v1/admin/users",
            params={"limit": 1, "q": "cursor", "cursor": first.json()["next_cursor"]},
            headers=admin.headers,
        )
        assert replayed.status_code == 400
        assert [e["field"] for e in replayed.json()["errors"]] == ["cursor"]
        not_an_id = await client.get("/api/v1/admin/users/not-a-user-id", headers=admin.headers)
        assert not_an_id.status_code == 422
        assert [e["field"] for e in not_an_id.json()["errors"]] == ["user_id"]


async def test_numbers_past_their_proto_type_are_refused_naming_the_field(stack: Stack):
    int64_max, int32_max = 2**63 - 1, 2**31 - 1
    async with stack.client() as client:
        ana = await sign_up(client)
        for params, field_name in (
            ({"price_min": int64_max + 1}, "price_min"),
            ({"price_max": int64_max + 1}, "price_max"),
            ({"price_min": -1}, "price_min"),
            ({"limit": int32_max + 1}, "limit"),
        ):
            answer = await client.get("/api/v1/services", params=params)
            assert answer.status_code == 422, (params, answer.text)
            assert_answer_is_a_problem(answer, str(params))
            assert [e["field"] for e in answer.json()["errors"]] == [field_name], answer.text
        widest = await client.get(
            "/api/v1/services", params={"price_min": 0, "price_max": int64_max}
        )
        assert widest.status_code == 200, widest.text
        service = {
            "kind": "session",
            "title": "Breathwork",
            "category_id": SOMEONE,
            "price": {"amount_minor": int64_max + 1, "currency": "EUR"},
            "duration_minutes": 60,
        }
        for body, field_name in (
            (service, "price.amount_minor"),
            (
                dict(
                    service,
                    price={"amount_minor": 100, "currency": "EUR"},
                    max_participants=int32_max + 1,
                ),
                "max_participants",
            ),
        ):
            answer = await client.post("/api/v1/services", json=body, headers=ana.headers)
            assert answer.status_code == 422, answer.text
            assert [e["field"] for e in answer.json()["errors"]] == [field_name], answer.text
