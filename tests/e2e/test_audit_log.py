"""One audit log for every service's staff actions, on both shapes: identity files its own
at once, catalog's arrive over the bus (staff_action.recorded); each appears once, newest
first, with who did what to what and whom, the state before and after, and the filters
narrow it."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime

import httpx

from tests.e2e.accounts import Account, make_staff, sign_in_admin, sign_up
from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body

AUDIT_LOG = "/api/v1/admin/audit-log"
USERS = "/api/v1/admin/users"
# Catalog's entries travel as events: the most a reader waits for them.
BOUND_SECONDS = 5.0


async def audit(client: httpx.AsyncClient, staff: Account, **params: object) -> dict:
    answer = await client.get(AUDIT_LOG, params=params, headers=staff.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def apply(client: httpx.AsyncClient) -> tuple[Account, str]:
    applicant = await sign_up(client)
    applied = await client.post(
        "/api/v1/practitioners/apply", json=APPLICATION, headers=applicant.headers
    )
    assert applied.status_code == 201, applied.text
    return applicant, applied.json()["id"]


async def test_every_staff_action_of_every_service_is_logged_once_with_before_and_after(
    stack: Stack,
):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        pat, pat_profile = await apply(client)
        rui, rui_profile = await apply(client)
        ana = await sign_up(client)
        request_id = f"audit-{secrets.token_hex(4)}"

        def by_sam(extra: dict[str, str] | None = None) -> dict[str, str]:
            return {**sam.headers, **(extra or {})}

        slug = f"c-{secrets.token_hex(4)}"
        done = [
            await client.post(
                f"/api/v1/practitioners/{pat_profile}/approve",
                headers=by_sam({"X-Request-ID": request_id}),
            ),
            await client.post(
                f"/api/v1/practitioners/{rui_profile}/reject",
                json={"reason": "certificate unreadable"},
                headers=by_sam(),
            ),
            await client.post(
                f"/api/v1/practitioners/{pat_profile}/feature",
                json={"featured": True},
                headers=by_sam(),
            ),
            await client.post(
                f"/api/v1/practitioners/{pat_profile}/feature",
                json={"featured": False},
                headers=by_sam(),
            ),
            await client.post(
                "/api/v1/services/categories",
                json={"slug": slug, "name": "Sound baths"},
                headers=by_sam(),
            ),
        ]
        kind = done[-1].json()
        done += [
            await client.patch(
                f"/api/v1/services/categories/{kind['id']}",
                json={"name": "Sound healing", "position": 3},
                headers=by_sam(),
            ),
            await client.delete(f"/api/v1/services/categories/{kind['id']}", headers=by_sam()),
            # Refused (already approved): changes nothing, so no entry.
            await client.post(f"/api/v1/practitioners/{pat_profile}/approve", headers=by_sam()),
        ]
        yoga = await client.post(
            "/api/v1/services/categories",
            json={"slug": f"y-{secrets.token_hex(4)}", "name": "Yoga"},
            headers=admin.headers,
        )
        service = await client.post(
            "/api/v1/services", json=session_body(yoga.json()["id"], "Hatha"), headers=pat.headers
        )
        assert service.status_code == 201, service.text
        service_id = service.json()["id"]
        # The practitioner's own change is no staff action.
        own = await client.patch(
            f"/api/v1/services/{service_id}", json={"title": "Hatha flow"}, headers=pat.headers
        )
        done += [
            own,
            await client.patch(
                f"/api/v1/services/{service_id}",
                json={"price": {"amount_minor": 5200, "currency": "EUR"}},
                headers=by_sam(),
            ),
            await client.post(f"/api/v1/services/{service_id}/archive", headers=by_sam()),
            await client.post(
                f"{USERS}/{ana.id}/suspend", json={"reason": "spam"}, headers=by_sam()
            ),
            await client.post(f"{USERS}/{ana.id}/reactivate", json={}, headers=by_sam()),
        ]
        assert [a.status_code for a in done] == [
            200, 200, 200, 200, 201, 200, 204, 409, 200, 200, 200, 200, 200,
        ], [a.text for a in done]  # fmt: skip

        started = time.monotonic()
        while (log := await audit(client, admin, actor_id=sam.id, limit=100))["total"] < 11:
            assert time.monotonic() - started < BOUND_SECONDS, log
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
        print(f"\n[{stack.name}] catalog's entries all filed within {took:.2f} s")
        # Give a duplicate delivery a moment to show itself, then read again.
        await asyncio.sleep(0.3)
        log = await audit(client, admin, actor_id=sam.id, limit=100)
        entries = log["results"]
        assert log["total"] == len(entries) == 11, [e["action"] for e in entries]
        assert len({e["id"] for e in entries}) == 11

        pat_target = f"practitioners/{pat_profile}"
        category_view = {"slug": slug, "name": "Sound baths", "parent_id": None, "position": 0}
        service_view = {"title": "Hatha flow", "price_minor": 4500, "currency": "EUR"}
        expected = [
            (
                "identity",
                "user.reactivate",
                f"users/{ana.id}",
                ana.id,
                {"status": "suspended", "roles": ["client"]},
                {"status": "active", "roles": ["client"]},
            ),
            (
                "identity",
                "user.suspend",
                f"users/{ana.id}",
                ana.id,
                {"status": "active", "roles": ["client"]},
                {"status": "suspended", "roles": ["client"]},
            ),
            (
                "catalog",
                "service.archive",
                f"services/{service_id}",
                pat.id,
                {**service_view, "status": "active", "price_minor": 5200},
                {**service_view, "status": "archived", "price_minor": 5200},
            ),
            (
                "catalog",
                "service.update",
                f"services/{service_id}",
                pat.id,
                {**service_view, "status": "active"},
                {**service_view, "status": "active", "price_minor": 5200},
            ),
            (
                "catalog",
                "category.delete",
                f"categories/{kind['id']}",
                "",
                {**category_view, "name": "Sound healing", "position": 3},
                {},
            ),
            (
                "catalog",
                "category.update",
                f"categories/{kind['id']}",
                "",
                category_view,
                {**category_view, "name": "Sound healing", "position": 3},
            ),
            ("catalog", "category.create", f"categories/{kind['id']}", "", {}, category_view),
            (
                "catalog",
                "practitioner.unfeature",
                pat_target,
                pat.id,
                {"status": "approved", "featured": True, "rejection_reason": ""},
                {"status": "approved", "featured": False, "rejection_reason": ""},
            ),
            (
                "catalog",
                "practitioner.feature",
                pat_target,
                pat.id,
                {"status": "approved", "featured": False, "rejection_reason": ""},
                {"status": "approved", "featured": True, "rejection_reason": ""},
            ),
            (
                "catalog",
                "practitioner.reject",
                f"practitioners/{rui_profile}",
                rui.id,
                {"status": "pending", "featured": False, "rejection_reason": ""},
                {
                    "status": "rejected",
                    "featured": False,
                    "rejection_reason": "certificate unreadable",
                },
            ),
            (
                "catalog",
                "practitioner.approve",
                pat_target,
                pat.id,
                {"status": "pending", "featured": False, "rejection_reason": ""},
                {"status": "approved", "featured": False, "rejection_reason": ""},
            ),
        ]
        assert [
            (e["service"], e["action"], e["target"], e["target_user_id"], e["before"], e["after"])
            for e in entries
        ] == expected
        assert {e["actor_id"] for e in entries} == {sam.id}
        times = [datetime.fromisoformat(e["created_at"]) for e in entries]
        assert times == sorted(times, reverse=True), "not newest first"
        reasons = {e["action"]: e["reason"] for e in entries}
        assert reasons["practitioner.reject"] == "certificate unreadable"
        assert reasons["user.suspend"] == "spam"
        assert entries[-1]["request_id"] == request_id

        # Filters narrow it; they combine.
        def actions(page: dict) -> list[str]:
            return [e["action"] for e in page["results"]]

        catalog_only = await audit(client, admin, actor_id=sam.id, service="catalog")
        assert actions(catalog_only) == [e[1] for e in expected if e[0] == "catalog"]
        identity_only = await audit(client, admin, actor_id=sam.id, service="identity")
        assert actions(identity_only) == ["user.reactivate", "user.suspend"]
        on_pat = await audit(client, admin, target=pat_target)
        assert actions(on_pat) == [
            "practitioner.unfeature",
            "practitioner.feature",
            "practitioner.approve",
        ]
        about_pat = await audit(client, admin, target_user_id=pat.id)
        assert actions(about_pat) == [
            "service.archive",
            "service.update",
            "practitioner.unfeature",
            "practitioner.feature",
            "practitioner.approve",
        ]
        on_category = await audit(
            client, admin, target=f"categories/{kind['id']}", service="catalog"
        )
        assert actions(on_category) == ["category.delete", "category.update", "category.create"]
        assert (await audit(client, admin, target=pat_target, service="identity"))["total"] == 0
        # The admin's own action (making Sam staff) is filed under the admin.
        granted = await audit(client, admin, actor_id=admin.id, target_user_id=sam.id)
        assert actions(granted) == ["user.set_roles"]
        assert granted["results"][0]["after"]["roles"] == ["client", "staff"]

        # Paging through the filtered log visits each entry once, in order.
        paged: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"actor_id": sam.id, "limit": 4}
            if cursor:
                params["cursor"] = cursor
            page = await audit(client, sam, **params)
            paged += [e["id"] for e in page["results"]]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        assert paged == [e["id"] for e in entries]

        assert (await client.get(AUDIT_LOG, headers=pat.headers)).status_code == 403
        assert (await client.get(AUDIT_LOG)).status_code == 401
