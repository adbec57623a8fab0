"""A practitioner managing their profile, locations and services, and staff managing the
category tree, through the gateway on both shapes."""

from __future__ import annotations

import secrets

from tests.e2e.accounts import Account, sign_in_admin, sign_up
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body


async def approved_practitioner(client, staff: Account) -> tuple[Account, dict]:
    seller = await sign_up(client)
    profile = (
        await client.post("/api/v1/practitioners/apply", json=APPLICATION, headers=seller.headers)
    ).json()
    await client.post(f"/api/v1/practitioners/{profile['id']}/approve", headers=staff.headers)
    return seller, profile


async def category(client, staff: Account, parent: str | None = None) -> dict:
    created = await client.post(
        "/api/v1/services/categories",
        json={"slug": f"c-{secrets.token_hex(4)}", "name": "Some practice", "parent_id": parent},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def test_profile_edits_refuse_what_is_not_the_practitioners_to_set(stack: Stack):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        seller, profile = await approved_practitioner(client, staff)
        for body in (
            {"status": "approved"},
            {"tier": "premium"},
            {"rating_average": 5.0},
            {"featured": True},
            {"user_id": staff.id},
        ):
            refused = await client.patch(
                "/api/v1/practitioners/me", json=body, headers=seller.headers
            )
            assert refused.status_code == 422, body
            assert refused.json()["errors"][0]["field"] == next(iter(body))
        bad_zone = await client.patch(
            "/api/v1/practitioners/me", json={"timezone": "Mars/Olympus"}, headers=seller.headers
        )
        assert bad_zone.status_code == 400
        assert bad_zone.json()["errors"][0]["field"] == "timezone"
        changed = await client.patch(
            "/api/v1/practitioners/me",
            json={"bio": "Now also teaching pilates.", "languages": ["en", "fr"]},
            headers=seller.headers,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["languages"] == ["en", "fr"]
        assert changed.json()["status"] == "approved" and changed.json()["tier"] == "free"
        found = (await client.get("/api/v1/practitioners", params={"q": "pilates"})).json()
        assert profile["id"] in {p["id"] for p in found["results"]}
        # Staff feature a practitioner; only approved ones can be featured.
        featured = await client.post(
            f"/api/v1/practitioners/{profile['id']}/feature",
            json={"featured": True},
            headers=staff.headers,
        )
        assert featured.status_code == 200 and featured.json()["featured"] is True
        listed = (await client.get("/api/v1/practitioners", params={"featured": "true"})).json()
        assert profile["id"] in {p["id"] for p in listed["results"]}


async def test_locations_can_be_added_changed_and_removed_unless_in_use(stack: Stack):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        seller, _ = await approved_practitioner(client, staff)
        added = await client.post(
            "/api/v1/practitioners/me/locations",
            json={
                "kind": "in_person",
                "address": "Rua Nova 3",
                "city": "Porto",
                "country": "pt",
                "lat": 41.15,
                "lng": -8.61,
            },
            headers=seller.headers,
        )
        assert added.status_code == 201, added.text
        place = added.json()
        assert place["country"] == "PT"
        moved = await client.patch(
            f"/api/v1/practitioners/me/locations/{place['id']}",
            json={"address": "Rua Velha 9"},
            headers=seller.headers,
        )
        assert moved.status_code == 200 and moved.json()["address"] == "Rua Velha 9"
        bad = await client.patch(
            f"/api/v1/practitioners/me/locations/{place['id']}",
            json={"country": "Portugal"},
            headers=seller.headers,
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "country"
        yoga = await category(client, staff)
        service = await client.post(
            "/api/v1/services",
            json=session_body(
                yoga["id"], "In Porto", location={"kind": "in_person", "location_id": place["id"]}
            ),
            headers=seller.headers,
        )
        assert service.status_code == 201, service.text
        in_use = await client.delete(
            f"/api/v1/practitioners/me/locations/{place['id']}", headers=seller.headers
        )
        assert in_use.status_code == 409 and in_use.json()["code"] == "LOCATION_IN_USE"
        stranger = await sign_up(client)
        theirs = await client.delete(
            f"/api/v1/practitioners/me/locations/{place['id']}", headers=stranger.headers
        )
        assert theirs.status_code == 404  # strangers have no profile, let alone this place
        await client.post(
            f"/api/v1/services/{service.json()['id']}/archive", headers=seller.headers
        )
        gone = await client.delete(
            f"/api/v1/practitioners/me/locations/{place['id']}", headers=seller.headers
        )
        assert gone.status_code == 204
        mine = (await client.get("/api/v1/practitioners/me", headers=seller.headers)).json()
        assert place["id"] not in {loc["id"] for loc in mine["locations"]}


async def test_service_updates_and_archiving_are_announced_and_change_discovery(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        seller, _ = await approved_practitioner(client, staff)
        yoga = await category(client, staff)
        title = f"Quiet {secrets.token_hex(3)}"
        created = (
            await client.post(
                "/api/v1/services", json=session_body(yoga["id"], title), headers=seller.headers
            )
        ).json()
        updated = await client.patch(
            f"/api/v1/services/{created['id']}",
            json={
                "price": {"amount_minor": 5200, "currency": "EUR"},
                "cancellation_policy": [
                    {"hours_before": 48, "refund_percent": 100},
                    {"hours_before": 12, "refund_percent": 50},
                ],
            },
            headers=seller.headers,
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["price"]["amount_minor"] == 5200
        event = await tap.next(
            "service.updated", where=lambda m: m.service.service_id == created["id"]
        )
        assert event.message.service.price.amount_minor == 5200
        assert [
            (r.hours_before, r.refund_percent) for r in event.message.service.cancellation_policy
        ] == [(48, 100), (12, 50)]
        kind_change = await client.patch(
            f"/api/v1/services/{created['id']}", json={"kind": "workshop"}, headers=seller.headers
        )
        assert kind_change.status_code == 422
        generous_late = await client.patch(
            f"/api/v1/services/{created['id']}",
            json={
                "cancellation_policy": [
                    {"hours_before": 48, "refund_percent": 10},
                    {"hours_before": 2, "refund_percent": 90},
                ]
            },
            headers=seller.headers,
        )
        assert generous_late.status_code == 400
        assert generous_late.json()["errors"][0]["field"] == "cancellation_policy"

        found = (await client.get("/api/v1/services", params={"q": title})).json()
        assert [s["id"] for s in found["results"]] == [created["id"]]
        archived = await client.post(
            f"/api/v1/services/{created['id']}/archive", headers=seller.headers
        )
        assert archived.status_code == 200 and archived.json()["status"] == "archived"
        await tap.next("service.archived", service_id=created["id"])
        assert (await client.get("/api/v1/services", params={"q": title})).json()["total"] == 0
        assert (await client.get(f"/api/v1/services/{created['id']}")).status_code == 404
        own = (await client.get("/api/v1/services/mine", headers=seller.headers)).json()
        assert created["id"] in {s["id"] for s in own["results"]}
        frozen = await client.patch(
            f"/api/v1/services/{created['id']}", json={"title": "New"}, headers=seller.headers
        )
        assert frozen.status_code == 409


async def test_staff_shape_the_category_tree(stack: Stack):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        root = await category(client, staff)
        child = await category(client, staff, parent=root["id"])
        grandchild = await category(client, staff, parent=child["id"])
        cycle = await client.patch(
            f"/api/v1/services/categories/{root['id']}",
            json={"parent_id": grandchild["id"]},
            headers=staff.headers,
        )
        assert cycle.status_code == 400 and cycle.json()["errors"][0]["field"] == "parent_id"
        taken = await client.patch(
            f"/api/v1/services/categories/{child['id']}",
            json={"slug": root["slug"]},
            headers=staff.headers,
        )
        assert taken.status_code == 409
        not_empty = await client.delete(
            f"/api/v1/services/categories/{root['id']}", headers=staff.headers
        )
        assert not_empty.status_code == 409
        # Moving a subtree: the grandchild's services follow into the new parent's searches.
        other = await category(client, staff)
        moved = await client.patch(
            f"/api/v1/services/categories/{child['id']}",
            json={"parent_id": other["id"]},
            headers=staff.headers,
        )
        assert moved.status_code == 200 and moved.json()["parent_id"] == other["id"]
        seller, _ = await approved_practitioner(client, staff)
        service = (
            await client.post(
                "/api/v1/services",
                json=session_body(grandchild["id"], "Deep in the tree"),
                headers=seller.headers,
            )
        ).json()
        under_other = (
            await client.get("/api/v1/services", params={"category": other["slug"]})
        ).json()
        assert [s["id"] for s in under_other["results"]] == [service["id"]]
        under_root = (await client.get("/api/v1/services", params={"category": root["id"]})).json()
        assert under_root["total"] == 0
        listed = (await client.get("/api/v1/services/categories")).json()["results"]
        assert {c["id"] for c in listed} >= {root["id"], child["id"], grandchild["id"]}
        unknown = await client.get("/api/v1/services", params={"category": "no-such-thing"})
        assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "category"
