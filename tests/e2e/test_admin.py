"""Staff administration through the gateway, on both shapes: finding users, suspending them,
changing roles, and the audit log that records each of those actions."""

from __future__ import annotations

import secrets

import httpx

from tests.e2e.accounts import Account, refreshed, register, sign_in, sign_in_admin, sign_up
from tests.e2e.stacks import Stack

USERS = "/api/v1/admin/users"
AUDIT_LOG = "/api/v1/admin/audit-log"


async def search(client: httpx.AsyncClient, staff: Account, **params: object) -> dict:
    answer = await client.get(USERS, params=params, headers=staff.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def set_roles(client: httpx.AsyncClient, staff: Account, user_id: str, *roles: str):
    return await client.put(
        f"{USERS}/{user_id}/roles", headers=staff.headers, json={"roles": list(roles)}
    )


async def test_staff_find_users_by_email_prefix_or_name_and_filter_by_role_and_status(
    stack: Stack,
):
    # A tag no other test's users carry, so the production shape's shared database is no bother.
    tag = secrets.token_hex(3)
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await register(client, f"ana.{tag}@example.com", f"Ana Sousa{tag}")
        bruno = await register(client, f"bruno.{tag}@example.com", f"Bruno Costa{tag}")
        carla = await register(client, f"carla.{tag}@example.com", f"Carla Sousa{tag}")

        def emails(page: dict) -> list[str]:
            return [u["email"] for u in page["results"]]

        by_email = await search(client, admin, q=f"BRUNO.{tag}")
        assert emails(by_email) == [bruno["email"]] and by_email["total"] == 1
        by_surname = await search(client, admin, q=f"sousa{tag}")
        assert emails(by_surname) == [carla["email"], ana["email"]]  # newest first
        assert by_surname["total"] == 2
        # The start of a word, not any substring: the tag alone is inside words, never at a start.
        assert (await search(client, admin, q=tag))["total"] == 0
        # Searched for literally: a wildcard typed into the box is not a wildcard.
        assert (await search(client, admin, q="%"))["total"] == 0
        assert (await search(client, admin, q="_"))["total"] == 0

        assert (
            await set_roles(client, admin, bruno["id"], "client", "practitioner")
        ).status_code == 200
        suspended = await client.post(
            f"{USERS}/{carla['id']}/suspend", headers=admin.headers, json={}
        )
        assert suspended.status_code == 200
        practitioners = await search(client, admin, q=f"sousa{tag}", role="practitioner")
        assert practitioners["total"] == 0
        assert emails(await search(client, admin, q=f"bruno.{tag}", role="practitioner")) == [
            bruno["email"]
        ]
        assert emails(await search(client, admin, q=f"sousa{tag}", status="suspended")) == [
            carla["email"]
        ]
        assert emails(await search(client, admin, q=f"sousa{tag}", status="active")) == [
            ana["email"]
        ]

        one = await client.get(f"{USERS}/{ana['id']}", headers=admin.headers)
        assert one.status_code == 200
        assert one.json()["email"] == ana["email"] and one.json()["full_name"] == f"Ana Sousa{tag}"
        missing = await client.get(
            f"{USERS}/00000000-0000-7000-8000-000000000000", headers=admin.headers
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


async def test_paging_visits_every_user_exactly_once_even_while_people_sign_up(stack: Stack):
    tag = secrets.token_hex(3)
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        registered = [
            (await register(client, f"{tag}.{n}@example.com", "Paging Person"))["email"]
            for n in range(7)
        ]
        seen: list[str] = []
        page = await search(client, admin, q=tag, limit=3)
        while True:
            assert len(page["results"]) <= 3 and page["total"] >= 7
            seen.extend(u["email"] for u in page["results"])
            if not page["has_more"]:
                assert page["next_cursor"] is None
                break
            # Newcomers between pages must neither repeat anyone nor push anyone out.
            await register(client, f"{tag}.late{len(seen)}@example.com", "Late Person")
            page = await search(client, admin, q=tag, limit=3, cursor=page["next_cursor"])
        assert len(seen) == len(set(seen)), "someone was listed twice"
        assert [email for email in seen if email in registered] == registered[::-1]

        settled = await search(client, admin, q=tag, limit=100)
        assert settled["total"] == len(settled["results"]) == 7 + 2
        assert settled["has_more"] is False


async def test_a_suspended_user_cannot_sign_in_until_reactivated(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client)

        suspended = await client.post(
            f"{USERS}/{ana.id}/suspend", headers=admin.headers, json={"reason": "chargebacks"}
        )
        assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
        dead = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": ana.refresh_token}
        )
        assert dead.status_code == 401
        refused = await client.post(
            "/api/v1/auth/login", json={"email": ana.email, "password": ana.password}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "ACCOUNT_SUSPENDED"
        wrong_password = await client.post(
            "/api/v1/auth/login", json={"email": ana.email, "password": "not-her-password-9"}
        )
        # Only the right password learns that the account is suspended.
        assert wrong_password.status_code == 401

        again = await client.post(f"{USERS}/{ana.id}/suspend", headers=admin.headers, json={})
        assert again.status_code == 409, again.text

        back = await client.post(f"{USERS}/{ana.id}/reactivate", headers=admin.headers, json={})
        assert back.status_code == 200 and back.json()["status"] == "active"
        await sign_in(client, ana.email)
        twice = await client.post(f"{USERS}/{ana.id}/reactivate", headers=admin.headers, json={})
        assert twice.status_code == 409


async def test_only_admins_grant_staff_and_admin_and_nobody_changes_their_own_account(
    stack: Stack,
):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await sign_up(client)
        ana = await sign_up(client)

        assert (await set_roles(client, admin, sam.id, "client", "staff")).status_code == 200
        # Roles travel in access tokens: Sam's old token still says client until he refreshes.
        assert (await client.get(USERS, headers=sam.headers)).status_code == 403
        sam = await refreshed(client, sam)
        assert (await client.get(USERS, headers=sam.headers)).status_code == 200

        for roles in (("client", "staff"), ("client", "admin"), ("admin",)):
            refused = await set_roles(client, sam, ana.id, *roles)
            assert refused.status_code == 403, roles
        assert (await set_roles(client, sam, ana.id, "client", "practitioner")).status_code == 200
        # Staff cannot act on staff accounts, and nobody, admins included, acts on their own.
        assert (await set_roles(client, sam, sam.id, "client", "staff", "admin")).status_code == 403
        assert (await set_roles(client, sam, admin.id, "client")).status_code == 403
        for actor, target in ((sam, sam), (sam, admin), (admin, admin)):
            refused = await client.post(
                f"{USERS}/{target.id}/suspend", headers=actor.headers, json={}
            )
            assert refused.status_code == 403, refused.text
        assert (await set_roles(client, admin, admin.id, "client")).status_code == 403

        assert (await set_roles(client, admin, ana.id, "client", "admin")).status_code == 200
        ana = await refreshed(client, ana)
        assert (await set_roles(client, ana, sam.id, "client")).status_code == 200
        sam = await refreshed(client, sam)
        assert (await client.get(USERS, headers=sam.headers)).status_code == 403

        roles_now = await client.get(f"{USERS}/{ana.id}", headers=admin.headers)
        assert roles_now.json()["roles"] == ["client", "admin"]


async def test_every_staff_action_is_in_the_audit_log_with_before_and_after(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client)
        done = [
            await client.post(
                f"{USERS}/{ana.id}/suspend",
                headers={**admin.headers, "X-Request-ID": "audit-suspend-1"},
                json={"reason": "reported for spam"},
            ),
            await client.post(
                f"{USERS}/{ana.id}/suspend", headers=admin.headers, json={"reason": "again"}
            ),
            await client.post(f"{USERS}/{ana.id}/reactivate", headers=admin.headers, json={}),
            await set_roles(client, admin, ana.id, "client", "practitioner"),
        ]
        assert [a.status_code for a in done] == [200, 409, 200, 200]

        log = await client.get(AUDIT_LOG, params={"target_user_id": ana.id}, headers=admin.headers)
        assert log.status_code == 200
        entries = log.json()["results"]
        assert log.json()["total"] == 3  # the refused second suspension changed nothing
        assert [(e["action"], e["before"], e["after"]) for e in entries] == [
            (
                "user.set_roles",
                {"status": "active", "roles": ["client"]},
                {"status": "active", "roles": ["client", "practitioner"]},
            ),
            (
                "user.reactivate",
                {"status": "suspended", "roles": ["client"]},
                {"status": "active", "roles": ["client"]},
            ),
            (
                "user.suspend",
                {"status": "active", "roles": ["client"]},
                {"status": "suspended", "roles": ["client"]},
            ),
        ]
        assert {(e["actor_id"], e["target_user_id"]) for e in entries} == {(admin.id, ana.id)}
        suspension = entries[-1]
        assert suspension["reason"] == "reported for spam"
        assert suspension["request_id"] == "audit-suspend-1"

        by_actor = await client.get(
            AUDIT_LOG,
            params={"actor_id": admin.id, "target_user_id": ana.id},
            headers=admin.headers,
        )
        assert [e["id"] for e in by_actor.json()["results"]] == [e["id"] for e in entries]
        by_someone_else = await client.get(
            AUDIT_LOG, params={"actor_id": ana.id, "target_user_id": ana.id}, headers=admin.headers
        )
        assert by_someone_else.json()["total"] == 0
        first_page = await client.get(
            AUDIT_LOG, params={"target_user_id": ana.id, "limit": 2}, headers=admin.headers
        )
        rest = await client.get(
            AUDIT_LOG,
            params={
                "target_user_id": ana.id,
                "limit": 2,
                "cursor": first_page.json()["next_cursor"],
            },
            headers=admin.headers,
        )
        assert [e["id"] for e in first_page.json()["results"] + rest.json()["results"]] == [
            e["id"] for e in entries
        ]
        assert (await client.get(AUDIT_LOG, headers=ana.headers)).status_code == 403


async def test_staff_see_a_deleted_account_as_deleted(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client)
        assert (await client.delete("/api/v1/users/me", headers=ana.headers)).status_code == 204
        seen = await client.get(f"{USERS}/{ana.id}", headers=admin.headers)
        assert seen.status_code == 200
        assert seen.json()["status"] == "deleted" and ana.email not in seen.text
        gone = await client.post(f"{USERS}/{ana.id}/suspend", headers=admin.headers, json={})
        assert gone.status_code == 404
        listed = await search(client, admin, status="deleted", limit=100)
        assert ana.id in {u["id"] for u in listed["results"]}
