"""Who may do what, on both shapes: at the gateway over HTTP and at identity over gRPC.

Identity verifies every token itself and checks every object itself, so each rule is tested
at both doors: a gateway bug must not open identity, and identity must not trust the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.field_mask_pb2 import FieldMask

from estuary.api.v1 import annotations_pb2
from estuary.identity.v1 import identity_pb2 as pb
from tests.e2e.accounts import Account, bearer, sign_in, sign_in_admin, sign_up
from tests.e2e.stacks import AUDIENCE, ISSUER, Stack
from tests.forgery import bad_tokens, claims_for, sign

PROBLEM = "application/problem+json"
# The methods of each kind known today: the enumeration from the proto must find at least
# these, so that an enumeration gone empty cannot pass for a clean bill.
STAFF_METHODS_TODAY = {
    "ListUsers",
    "SuspendUser",
    "ReactivateUser",
    "SetUserRoles",
    "ListAuditEntries",
}
SERVICE_METHODS_TODAY = {"BatchGetUsers", "IntrospectToken"}


def methods_declaring(access: int) -> Iterator[MethodDescriptor]:
    """Every identity method whose proto declares this access, so new ones are covered too."""
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            if method.GetOptions().Extensions[annotations_pb2.access] == access:
                yield method


def request_for(method: MethodDescriptor, **fields: object) -> object:
    """The method's request message, with whichever of these fields it has."""
    request_class = message_factory.GetMessageClass(method.input_type)
    known = {f.name for f in method.input_type.fields}
    return request_class(**{k: v for k, v in fields.items() if k in known})


async def call(
    channel: grpc.aio.Channel, method: MethodDescriptor, request: object, token: str | None
) -> Any:
    """Calls a method by its descriptor, as a client holding this token would."""
    response_class = message_factory.GetMessageClass(method.output_type)
    stub = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    return await stub(request, metadata=metadata, timeout=10)


async def status_of(
    channel: grpc.aio.Channel, method: MethodDescriptor, request: object, token: str | None
) -> grpc.StatusCode:
    try:
        await call(channel, method, request, token)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def identity_method(service: str, name: str) -> MethodDescriptor:
    return pb.DESCRIPTOR.services_by_name[service].methods_by_name[name]


GET_USER = identity_method("IdentityService", "GetUser")
UPDATE_USER = identity_method("IdentityService", "UpdateUser")
DELETE_USER = identity_method("IdentityService", "DeleteUser")
BATCH_GET_USERS = identity_method("IdentityService", "BatchGetUsers")
INTROSPECT_TOKEN = identity_method("AuthService", "IntrospectToken")
ISSUE_SERVICE_TOKEN = identity_method("AuthService", "IssueServiceToken")


async def service_token(stack: Stack) -> str:
    """A token identity issues to a service that proves its credentials."""
    async with stack.identity_channel() as channel:
        issued = await call(
            channel,
            ISSUE_SERVICE_TOKEN,
            pb.IssueServiceTokenRequest(
                client_id=stack.service_client, client_secret=stack.service_secret
            ),
            None,
        )
    assert issued.access_token and issued.expires_in > 0
    return issued.access_token


async def forged_and_misused_tokens(stack: Stack, victim: Account) -> dict[str, str]:
    """Every token an attacker might try, each signed with our real key where signing matters
    so that it differs from a good token in exactly one way."""
    return bad_tokens(
        await stack.signing_key(),
        victim.id,
        issuer=ISSUER,
        audience=AUDIENCE,
        refresh_token=victim.refresh_token,
        service_token=await service_token(stack),
    )


async def test_every_forged_or_misused_token_gets_401_at_the_gateway(stack: Stack):
    async with stack.client() as client:
        victim = await sign_up(client)
        tokens = await forged_and_misused_tokens(stack, victim)
        # The control: a token we sign with the same key and claims is accepted, so each
        # refusal below is down to the one defect that token carries.
        control = sign(
            await stack.signing_key(), claims_for(victim.id, issuer=ISSUER, audience=AUDIENCE)
        )
        assert (await client.get("/api/v1/users/me", headers=bearer(control))).status_code == 200

        answers = {
            kind: await client.get("/api/v1/users/me", headers=bearer(token))
            for kind, token in tokens.items()
        }
        answers["no_token"] = await client.get("/api/v1/users/me")
        answers["basic_scheme"] = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Basic {victim.access_token}"}
        )
        assert {k: a.status_code for k, a in answers.items()} == dict.fromkeys(answers, 401)
        for kind, answer in answers.items():
            assert answer.headers["content-type"] == PROBLEM, kind
            assert answer.headers["www-authenticate"].startswith("Bearer"), kind
            assert answer.json()["status"] == 401 and victim.email not in answer.text, kind


async def test_every_forged_or_misused_token_is_unauthenticated_at_identity(stack: Stack):
    async with stack.client() as client:
        victim = await sign_up(client)
    tokens = await forged_and_misused_tokens(stack, victim)
    me = pb.GetUserRequest(name="users/me")
    async with stack.identity_channel() as channel:
        assert await status_of(channel, GET_USER, me, victim.access_token) == grpc.StatusCode.OK
        codes = {
            kind: await status_of(channel, GET_USER, me, token) for kind, token in tokens.items()
        }
        codes["no_token"] = await status_of(channel, GET_USER, me, None)
    assert codes == dict.fromkeys(codes, grpc.StatusCode.UNAUTHENTICATED)


async def test_only_staff_reach_the_admin_routes(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        client_user = await sign_up(client)
        victim = await sign_up(client)
        promoted = await client.put(
            f"/api/v1/admin/users/{client_user.id}/roles",
            headers=admin.headers,
            json={"roles": ["client", "practitioner"]},
        )
        assert promoted.status_code == 200, promoted.text
        practitioner = await sign_in(client, client_user.email)
        service = await service_token(stack)

        spec = (await client.get("/openapi.json")).json()
        admin_routes = [
            (verb.upper(), path)
            for path, operations in spec["paths"].items()
            if path.startswith("/api/v1/admin/")
            for verb in operations
        ]
        assert {path for _, path in admin_routes} >= {
            "/api/v1/admin/users",
            "/api/v1/admin/users/{user_id}",
            "/api/v1/admin/users/{user_id}/suspend",
            "/api/v1/admin/users/{user_id}/roles",
            "/api/v1/admin/audit-log",
        }

        async def attempt(verb: str, path: str, token: str):
            # What a non-staff caller would send to do real harm: act on another user, and
            # make someone an admin where roles are set.
            body = {"roles": ["client", "admin"]} if path.endswith("/roles") else {}
            return await client.request(
                verb,
                re.sub(r"\{[a-z_]+\}", victim.id, path),
                headers=bearer(token),
                json=body if verb in ("POST", "PUT", "PATCH") else None,
            )

        for verb, path in admin_routes:
            for who, token, expected in (
                ("client", client_user.access_token, 403),
                ("practitioner", practitioner.access_token, 403),
                ("service", service, 401),
            ):
                refused = await attempt(verb, path, token)
                assert refused.status_code == expected, (who, verb, path, refused.text)
                assert refused.headers["content-type"] == PROBLEM
        untouched = await client.get(f"/api/v1/admin/users/{victim.id}", headers=admin.headers)
        assert untouched.json()["status"] == "active" and untouched.json()["roles"] == ["client"]
        audit = await client.get(
            "/api/v1/admin/audit-log", params={"target_user_id": victim.id}, headers=admin.headers
        )
        assert audit.json()["total"] == 0

        # The same requests from staff get past the door: the refusals were about the role.
        for verb, path in admin_routes:
            allowed = await attempt(verb, path, admin.access_token)
            assert allowed.status_code not in (401, 403), (verb, path, allowed.text)


async def test_staff_methods_refuse_everyone_but_staff_at_identity(stack: Stack):
    staff_methods = list(methods_declaring(annotations_pb2.ACCESS_STAFF))
    assert {m.name for m in staff_methods} >= STAFF_METHODS_TODAY
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        intruder = await sign_up(client)
        victim = await sign_up(client)
    service = await service_token(stack)
    async with stack.identity_channel() as channel:
        for staff_method in staff_methods:
            on_victim = request_for(
                staff_method, name=f"users/{victim.id}", roles=[pb.ROLE_ADMIN], reason="because"
            )
            on_self = request_for(staff_method, name=f"users/{intruder.id}", roles=[pb.ROLE_ADMIN])
            for request in (on_victim, on_self):
                code = await status_of(channel, staff_method, request, intruder.access_token)
                assert code == grpc.StatusCode.PERMISSION_DENIED, staff_method.name
            code = await status_of(channel, staff_method, on_victim, service)
            assert code == grpc.StatusCode.UNAUTHENTICATED, staff_method.name
            code = await status_of(channel, staff_method, on_victim, None)
            assert code == grpc.StatusCode.UNAUTHENTICATED, staff_method.name
        listed = await call(
            channel,
            identity_method("IdentityService", "ListUsers"),
            pb.ListUsersRequest(),
            admin.access_token,
        )
        assert listed.total_size >= 3
        for person in (victim, intruder):
            user = await call(
                channel, GET_USER, pb.GetUserRequest(name=f"users/{person.id}"), admin.access_token
            )
            assert list(user.roles) == [pb.ROLE_CLIENT]
            assert user.status == pb.USER_STATUS_ACTIVE


async def test_service_methods_take_service_tokens_only(stack: Stack):
    service_methods = list(methods_declaring(annotations_pb2.ACCESS_SERVICE))
    assert {m.name for m in service_methods} >= SERVICE_METHODS_TODAY
    async with stack.client() as client:
        user = await sign_up(client)
        admin = await sign_in_admin(stack, client)
    service = await service_token(stack)
    async with stack.identity_channel() as channel:
        for service_method in service_methods:
            request = request_for(
                service_method, names=[f"users/{user.id}"], token=user.access_token
            )
            for who, token in (("user", user.access_token), ("admin", admin.access_token)):
                code = await status_of(channel, service_method, request, token)
                assert code == grpc.StatusCode.PERMISSION_DENIED, (who, service_method.name)
            assert await status_of(channel, service_method, request, None) == (
                grpc.StatusCode.UNAUTHENTICATED
            )
            assert await status_of(channel, service_method, request, service) == grpc.StatusCode.OK

        found = await call(
            channel, BATCH_GET_USERS, pb.BatchGetUsersRequest(names=[f"users/{user.id}"]), service
        )
        assert [u.email for u in found.users] == [user.email]
        seen = await call(
            channel, INTROSPECT_TOKEN, pb.IntrospectTokenRequest(token=user.access_token), service
        )
        assert seen.active and seen.subject == user.id and seen.token_type == "access"


async def test_a_service_token_needs_the_right_client_and_secret(stack: Stack):
    async with stack.identity_channel() as channel:
        for client_id, secret in (
            ("no-such-service", stack.service_secret),
            (stack.service_client, stack.service_secret + "x"),
            (stack.service_client, ""),
            ("", ""),
        ):
            request = pb.IssueServiceTokenRequest(client_id=client_id, client_secret=secret)
            code = await status_of(channel, ISSUE_SERVICE_TOKEN, request, None)
            assert code == grpc.StatusCode.UNAUTHENTICATED, client_id


async def test_a_user_cannot_read_or_change_another_user_at_identity(stack: Stack):
    async with stack.client() as client:
        mallory = await sign_up(client, full_name="Mallory Reyes")
        ana = await sign_up(client, full_name="Ana Sousa")
    theirs = f"users/{ana.id}"
    nobody = "users/00000000-0000-7000-8000-000000000000"
    async with stack.identity_channel() as channel:
        attempts = {
            "read": (GET_USER, pb.GetUserRequest(name=theirs)),
            "read a stranger": (GET_USER, pb.GetUserRequest(name=nobody)),
            "rename": (
                UPDATE_USER,
                pb.UpdateUserRequest(
                    user=pb.User(name=theirs, full_name="Owned"),
                    update_mask=FieldMask(paths=["full_name"]),
                ),
            ),
            "delete": (DELETE_USER, pb.DeleteUserRequest(name=theirs)),
        }
        codes = {
            what: await status_of(channel, target, request, mallory.access_token)
            for what, (target, request) in attempts.items()
        }
        # The same answer whether or not the user exists: no probing for accounts.
        assert codes == dict.fromkeys(attempts, grpc.StatusCode.PERMISSION_DENIED)
        own = await call(
            channel, GET_USER, pb.GetUserRequest(name=f"users/{mallory.id}"), mallory.access_token
        )
        assert own.full_name == "Mallory Reyes"
        still = await call(channel, GET_USER, pb.GetUserRequest(name="users/me"), ana.access_token)
        assert still.full_name == "Ana Sousa" and still.status == pb.USER_STATUS_ACTIVE


async def test_no_route_exposes_or_changes_another_user(stack: Stack):
    async with stack.client() as client:
        mallory = await sign_up(client)
        ana = await sign_up(client, full_name="Ana Sousa")
        spec = (await client.get("/openapi.json")).json()
        # Everything a signed-in non-staff user can read, they read, looking for Ana.
        readable = [
            path
            for path, operations in spec["paths"].items()
            if "get" in operations and "{" not in path and not path.startswith("/api/v1/admin/")
        ]
        assert "/api/v1/users/me" in readable
        for path in readable:
            answer = await client.get(path, headers=mallory.headers)
            assert ana.id not in answer.text and ana.email not in answer.text, path
        # Addressing Ana directly finds no route at all outside the admin area.
        for verb in ("GET", "PATCH", "DELETE"):
            answer = await client.request(
                verb, f"/api/v1/users/{ana.id}", headers=mallory.headers, json={"full_name": "x"}
            )
            assert answer.status_code in (404, 405), (verb, answer.text)
        # The profile routes act on the caller, whatever the body claims.
        sneaky = await client.patch(
            "/api/v1/users/me", headers=mallory.headers, json={"id": ana.id, "full_name": "x"}
        )
        assert sneaky.status_code == 422
        assert (await client.delete("/api/v1/users/me", headers=mallory.headers)).status_code == 204
        mine = await client.get("/api/v1/users/me", headers=ana.headers)
        assert mine.status_code == 200 and mine.json()["full_name"] == "Ana Sousa"
