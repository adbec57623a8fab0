"""What docs/api.md says of the running suite, held to it on both shapes: logging out twice,
and the distances discovery reports from a point."""

from __future__ import annotations

import math
import secrets

import pytest

from tests.e2e.accounts import Account, sign_in, sign_in_admin, sign_up
from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body
from tests.e2e.test_catalog_manage import category

# Where the client searches from: Lisbon's Praça do Comércio.
HERE = (38.7075, -9.1364)
STUDIO = {
    "kind": "in_person",
    "label": "Studio",
    "address": "Rua das Flores 12",
    "city": "Lisbon",
    "country": "PT",
    "lat": 38.7107,
    "lng": -9.1431,
}
FAR_STUDIO = STUDIO | {"label": "Porto studio", "city": "Porto", "lat": 41.1579, "lng": -8.6291}
VIRTUAL = {"kind": "virtual", "label": "Online"}


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance, as a client would check it."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def point(place: dict) -> tuple[float, float]:
    return (place["lat"], place["lng"])


async def practitioner(client, staff: Account, name: str, locations: list[dict]) -> tuple:
    """An approved practitioner with these places of work: their account and profile."""
    seller = await sign_up(client)
    applied = await client.post(
        "/api/v1/practitioners/apply",
        json=APPLICATION | {"display_name": name, "locations": locations},
        headers=seller.headers,
    )
    assert applied.status_code == 201, applied.text
    approved = await client.post(
        f"/api/v1/practitioners/{applied.json()['id']}/approve", headers=staff.headers
    )
    assert approved.status_code == 200, approved.text
    return seller, approved.json()


async def test_logging_out_again_with_the_same_token_answers_204_and_changes_nothing(
    stack: Stack,
):
    async with stack.client() as client:
        account = await sign_up(client)
        for _ in range(2):
            out = await client.post("/api/v1/auth/logout", headers=account.headers)
            assert out.status_code == 204, out.text
        # The session stays ended, and the access token works until it expires.
        dead = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": account.refresh_token}
        )
        assert dead.status_code == 401 and dead.json()["code"] == "INVALID_REFRESH_TOKEN"
        assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200

        # A session already ended everywhere logs out quietly too.
        other = await sign_in(client, account.email)
        ended = await client.post("/api/v1/auth/logout-all", headers=other.headers)
        assert ended.status_code == 200 and ended.json() == {"revoked_sessions": 1}
        again = await client.post("/api/v1/auth/logout", headers=other.headers)
        assert again.status_code == 204, again.text


async def test_practitioners_found_from_a_point_carry_the_distance_to_their_nearest_place(
    stack: Stack,
):
    tag = f"Kestrel{secrets.token_hex(3)}"
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        _, near = await practitioner(client, staff, f"Near {tag}", [FAR_STUDIO, STUDIO])
        _, online = await practitioner(client, staff, f"Online {tag}", [VIRTUAL])
        here = {"q": tag, "lat": HERE[0], "lng": HERE[1]}

        found = (await client.get("/api/v1/practitioners", params=here)).json()
        distances = {p["id"]: p["distance_km"] for p in found["results"]}
        assert distances.keys() == {near["id"], online["id"]}
        assert distances[near["id"]] == pytest.approx(km_between(HERE, point(STUDIO)), rel=1e-3)
        assert distances[online["id"]] is None

        by_distance = await client.get("/api/v1/practitioners", params=here | {"sort": "distance"})
        assert [p["id"] for p in by_distance.json()["results"]] == [near["id"], online["id"]]
        within = await client.get("/api/v1/practitioners", params=here | {"radius_km": 5})
        assert [p["id"] for p in within.json()["results"]] == [near["id"]]

        # Without a point, and on a single practitioner, there is nothing to measure from.
        anywhere = (await client.get("/api/v1/practitioners", params={"q": tag})).json()
        assert anywhere["total"] == 2
        assert all(p["distance_km"] is None for p in anywhere["results"])
        one = (await client.get(f"/api/v1/practitioners/{near['id']}")).json()
        assert one["distance_km"] is None


async def test_services_found_from_a_point_carry_their_distance_and_a_radius_drops_virtual_ones(
    stack: Stack,
):
    tag = f"Heron{secrets.token_hex(3)}"
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        seller, profile = await practitioner(client, staff, "Pat Rivers", [VIRTUAL, STUDIO])
        studio = next(p for p in profile["locations"] if p["kind"] == "in_person")
        yoga = await category(client, staff)
        made = {}
        for kind, location in (
            ("in_person", {"kind": "in_person", "location_id": studio["id"]}),
            ("virtual", {"kind": "virtual"}),
        ):
            created = await client.post(
                "/api/v1/services",
                json=session_body(yoga["id"], f"{tag} {kind}", location=location),
                headers=seller.headers,
            )
            assert created.status_code == 201, created.text
            made[kind] = created.json()["id"]
        here = {"q": tag, "lat": HERE[0], "lng": HERE[1]}

        found = (await client.get("/api/v1/services", params=here)).json()
        distances = {s["id"]: s["distance_km"] for s in found["results"]}
        assert distances.keys() == set(made.values())
        assert distances[made["in_person"]] == pytest.approx(
            km_between(HERE, point(STUDIO)), rel=1e-3
        )
        assert distances[made["virtual"]] is None

        by_distance = await client.get("/api/v1/services", params=here | {"sort": "distance"})
        assert [s["id"] for s in by_distance.json()["results"]] == [
            made["in_person"],
            made["virtual"],
        ]
        within = await client.get("/api/v1/services", params=here | {"radius_km": 5})
        assert [s["id"] for s in within.json()["results"]] == [made["in_person"]]
        anywhere = (await client.get("/api/v1/services", params={"q": tag})).json()
        assert [s["distance_km"] for s in anywhere["results"]] == [None, None]
