"""Who may do what in catalog, over gRPC and through the gateway, on both shapes."""

from __future__ import annotations

import secrets

import grpc
import pytest
from google.protobuf import symbol_database

from chassis.errors import rpc_failure
from chassis.grpc_client import call_metadata
from estuary.api.v1 import annotations_pb2
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import catalog_pb2_grpc
from estuary.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.accounts import holding_role, open_practice, sign_in_admin, sign_up
from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body

CATALOG = pb.DESCRIPTOR.services_by_name["CatalogService"]


def methods(access: int) -> list:
    return [
        m for m in CATALOG.methods if m.GetOptions().Extensions[annotations_pb2.access] == access
    ]


def catalog_address(stack: Stack) -> str:
    if stack.name == "embedded":
        return f"127.0.0.1:{stack.suite.ports['catalog']}"  # type: ignore[attr-defined]
    return f"127.0.0.1:{stack.grpc_ports['catalog']}"  # type: ignore[attr-defined]


async def call(channel: grpc.aio.Channel, method, token: str | None) -> grpc.StatusCode:
    """Calls a method with an empty request; answers the status code (OK on success)."""
    request = symbol_database.Default().GetSymbol(method.input_type.full_name)()
    response = symbol_database.Default().GetSymbol(method.output_type.full_name)
    invoke = channel.unary_unary(
        f"/{CATALOG.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )
    try:
        await invoke(request, metadata=call_metadata(token), timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_every_method_declares_its_access(stack: Stack):
    assert not methods(annotations_pb2.ACCESS_UNSPECIFIED)


async def test_staff_and_service_methods_refuse_a_client_and_user_methods_need_a_token(
    stack: Stack,
):
    async with stack.client() as client:
        ana = await sign_up(client)
    async with grpc.aio.insecure_channel(catalog_address(stack)) as channel:
        for method in methods(annotations_pb2.ACCESS_STAFF):
            assert (
                await call(channel, method, ana.access_token) == grpc.StatusCode.PERMISSION_DENIED
            ), method.name
        for method in methods(annotations_pb2.ACCESS_SERVICE):
            assert (
                await call(channel, method, ana.access_token) == grpc.StatusCode.PERMISSION_DENIED
            ), method.name
        for method in methods(annotations_pb2.ACCESS_USER):
            assert await call(channel, method, None) == grpc.StatusCode.UNAUTHENTICATED, method.name


async def test_service_methods_serve_a_service_token_and_quote_the_real_price(stack: Stack):
    async with stack.client() as client, stack.identity_channel() as identity:
        staff = await sign_in_admin(stack, client)
        service_id = await _selling_practitioner(client, staff)
        issued = await identity_pb2_grpc.AuthServiceStub(identity).IssueServiceToken(
            identity_pb2.IssueServiceTokenRequest(
                client_id=stack.service_client, client_secret=stack.service_secret
            ),
            timeout=5,
        )
    async with grpc.aio.insecure_channel(catalog_address(stack)) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        quote = await stub.QuoteService(
            pb.QuoteServiceRequest(name=f"services/{service_id}"),
            metadata=call_metadata(issued.access_token),
            timeout=5,
        )
        assert quote.total.amount_minor == 4500 and quote.total.currency == "EUR"
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            await stub.QuoteService(
                pb.QuoteServiceRequest(name=f"services/{service_id}", quantity=3),
                metadata=call_metadata(issued.access_token),
                timeout=5,
            )
        assert rpc_failure(too_many.value).violations[0].field == "quantity"
        found = await stub.BatchGetServices(
            pb.BatchGetServicesRequest(names=[f"services/{service_id}"]),
            metadata=call_metadata(issued.access_token),
            timeout=5,
        )
        assert [s.id for s in found.services] == [service_id]


async def test_no_route_lets_one_practitioner_change_anothers_service(stack: Stack):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        service_id = await _selling_practitioner(client, staff)
        # The rival is a practitioner too: approved, selling, with the role in their token.
        rival, _ = await open_practice(client, staff)
        rival = await holding_role(client, rival, "practitioner")
        headers = rival.headers
        own = await client.post(
            "/api/v1/services",
            json=session_body(await _category(client, staff), "Rival flow"),
            headers=headers,
        )
        assert own.status_code == 201, own.text
        # What they may do to their own service, they may not do to another's.
        renamed = await client.patch(
            f"/api/v1/services/{own.json()['id']}", json={"title": "Still mine"}, headers=headers
        )
        assert renamed.status_code == 200, renamed.text
        theirs = await client.patch(
            f"/api/v1/services/{service_id}", json={"title": "Mine now"}, headers=headers
        )
        assert theirs.status_code == 403, theirs.text
        archived = await client.post(f"/api/v1/services/{service_id}/archive", headers=headers)
        assert archived.status_code == 403, archived.text
        # A plain client fares no better.
        stranger = await sign_up(client)
        assert (
            await client.patch(
                f"/api/v1/services/{service_id}",
                json={"title": "Mine now"},
                headers=stranger.headers,
            )
        ).status_code == 403
        for path in (
            f"/api/v1/practitioners/{'0' * 8}-0000-7000-8000-{'0' * 12}/approve",
            "/api/v1/admin/practitioners",
        ):
            method = client.post if path.endswith("approve") else client.get
            assert (await method(path, headers=headers)).status_code == 403, path
        assert (
            await client.post(
                "/api/v1/services/categories",
                json={"slug": "stolen", "name": "Stolen"},
                headers=headers,
            )
        ).status_code == 403
        # Nobody sells in another's name, whatever the body says about owners.
        sneaky = await client.post(
            "/api/v1/services",
            json={**session_body(staff.id, "Sneaky"), "practitioner_id": staff.id},
            headers=headers,
        )
        assert sneaky.status_code == 422
        assert sneaky.json()["errors"][0]["field"] == "practitioner_id"
        unchanged = (await client.get(f"/api/v1/services/{service_id}")).json()
        assert unchanged["title"] == "Hatha flow" and unchanged["status"] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x" * 201}, "title"),
        ({"price": {"amount_minor": "lots", "currency": "EUR"}}, "price.amount_minor"),
        ({"price": {"amount_minor": 100}}, "price.currency"),
        ({"kind": "seance"}, "kind"),
        ({"status": "archived"}, "status"),
        (
            {"sessions": [{"start_time": "tomorrow", "duration_minutes": 60}]},
            "sessions.0.start_time",
        ),
    ],
)
async def test_bad_service_bodies_are_refused_naming_the_field(stack: Stack, body, field):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        payload = {**session_body("00000000-0000-7000-8000-000000000000", "Fine"), **body}
        refused = await client.post("/api/v1/services", json=payload, headers=staff.headers)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in refused.json()["errors"]}


async def _category(client, staff) -> str:
    created = await client.post(
        "/api/v1/services/categories",
        json={"slug": f"cat-{secrets.token_hex(4)}", "name": "Yoga"},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _selling_practitioner(client, staff) -> str:
    """A practitioner approved by staff with one session on sale; answers the service id."""
    seller = await sign_up(client)
    profile = (
        await client.post("/api/v1/practitioners/apply", json=APPLICATION, headers=seller.headers)
    ).json()
    approved = await client.post(
        f"/api/v1/practitioners/{profile['id']}/approve", headers=staff.headers
    )
    assert approved.status_code == 200, approved.text
    category = (
        await client.post(
            "/api/v1/services/categories",
            json={"slug": f"cat-{profile['id'][-8:]}", "name": "Yoga"},
            headers=staff.headers,
        )
    ).json()
    created = await client.post(
        "/api/v1/services", json=session_body(category["id"], "Hatha flow"), headers=seller.headers
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]
