"""What staff may not do, on both shapes: act on their own account or what belongs to it (in
identity and in catalog), act on staff or admins unless they are admins, or leave the
platform without an active admin (suspending, demoting or deleting the last one), even when
two admins try to remove each other at the same moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from suite.registry import SERVICES
from tests.e2e.accounts import (
    Account,
    make_staff,
    refreshed,
    sign_in,
    sign_in_admin,
    sign_up,
)
from tests.e2e.stacks import ProductionStack, Stack, drop_topology, start_embedded
from tests.e2e.test_catalog_journey import APPLICATION, eventually, session_body
from tests.e2e.test_catalog_manage import category
from tests.infrastructure import postgres_database, require_rabbitmq, require_redis

USERS = "/api/v1/admin/users"
ROUNDS = 5


def refused(answer: httpx.Response, status: int, code: str) -> bool:
    return answer.status_code == status and answer.json()["code"] == code


async def set_roles(client: httpx.AsyncClient, actor: Account, user_id: str, *roles: str):
    return await client.put(
        f"{USERS}/{user_id}/roles", headers=actor.headers, json={"roles": roles}
    )


async def test_staff_cannot_review_or_feature_their_own_application_but_a_colleague_can(
    stack: Stack,
):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        tia = await make_staff(client, admin)
        applied = await client.post(
            "/api/v1/practitioners/apply", json=APPLICATION, headers=sam.headers
        )
        assert applied.status_code == 201, applied.text
        own = f"/api/v1/practitioners/{applied.json()['id']}"

        for action, body in (("approve", None), ("reject", {"reason": "conflict of interest"})):
            answer = await client.post(f"{own}/{action}", json=body, headers=sam.headers)
            assert refused(answer, 403, "OWN_ACCOUNT"), (action, answer.text)
        assert (await client.get(own, headers=admin.headers)).json()["status"] == "pending"

        approved = await client.post(f"{own}/approve", headers=tia.headers)
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        # As a practitioner, Sam still runs his own services: that is no staff action.
        yoga = await category(client, admin)
        service = await client.post(
            "/api/v1/services", json=session_body(yoga["id"], "Staff yoga"), headers=sam.headers
        )
        assert service.status_code == 201, service.text
        repriced = await client.patch(
            f"/api/v1/services/{service.json()['id']}",
            json={"price": {"amount_minor": 3900, "currency": "EUR"}},
            headers=sam.headers,
        )
        assert repriced.status_code == 200, repriced.text

        for featured in (True, False):
            answer = await client.post(
                f"{own}/feature", json={"featured": featured}, headers=sam.headers
            )
            assert refused(answer, 403, "OWN_ACCOUNT"), answer.text
        featured = await client.post(f"{own}/feature", json={"featured": True}, headers=tia.headers)
        assert featured.status_code == 200 and featured.json()["featured"] is True

        async def tias_feature_is_filed() -> bool:
            log = await client.get(
                "/api/v1/admin/audit-log", params={"actor_id": tia.id}, headers=admin.headers
            )
            return {e["action"] for e in log.json()["results"]} == {
                "practitioner.approve",
                "practitioner.feature",
            }

        await eventually(tias_feature_is_filed, timeout=5.0)
        # Tia's feature came last: had Sam's service edit or his refused attempts been filed
        # as staff actions, they would have been filed by now.
        by_sam = await client.get(
            "/api/v1/admin/audit-log", params={"actor_id": sam.id}, headers=admin.headers
        )
        assert by_sam.json()["total"] == 0, by_sam.text


async def test_nobody_suspends_or_changes_the_roles_of_their_own_account(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        for actor in (sam, admin):
            suspended = await client.post(
                f"{USERS}/{actor.id}/suspend", headers=actor.headers, json={"reason": "self"}
            )
            assert refused(suspended, 403, "OWN_ACCOUNT"), suspended.text
            demoted = await set_roles(client, actor, actor.id, "client")
            assert refused(demoted, 403, "OWN_ACCOUNT"), demoted.text
        promoted = await set_roles(client, sam, sam.id, "client", "staff", "admin")
        assert refused(promoted, 403, "OWN_ACCOUNT"), promoted.text
        for who, roles in ((sam, ["client", "staff"]), (admin, None)):
            user = (await client.get(f"{USERS}/{who.id}", headers=admin.headers)).json()
            assert user["status"] == "active"
            assert roles is None or user["roles"] == roles
        assert (
            "admin" in (await client.get("/api/v1/users/me", headers=admin.headers)).json()["roles"]
        )


async def test_staff_who_are_not_admins_cannot_act_on_staff_or_admins(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        tia = await make_staff(client, admin)
        ana = await sign_up(client)
        for target in (admin, tia):
            before = (await client.get(f"{USERS}/{target.id}", headers=admin.headers)).json()
            for answer in (
                await client.post(f"{USERS}/{target.id}/suspend", headers=sam.headers, json={}),
                await set_roles(client, sam, target.id, "client"),
                await set_roles(client, sam, target.id, "client", "staff", "admin"),
            ):
                assert answer.status_code == 403, answer.text
            after = (await client.get(f"{USERS}/{target.id}", headers=admin.headers)).json()
            assert (after["status"], after["roles"]) == ("active", before["roles"])
        # A client is theirs to act on.
        suspended = await client.post(f"{USERS}/{ana.id}/suspend", headers=sam.headers, json={})
        assert suspended.status_code == 200, suspended.text
        back = await client.post(f"{USERS}/{ana.id}/reactivate", headers=sam.headers, json={})
        assert back.status_code == 200, back.text


# The last admin --------------------------------------------------------------------------
#
# "The last active admin" is a fact about the whole user table. The session's production
# stack is shared by every test and holds many admins (each test's, and the standing one),
# and making this test's admin the last would mean suspending the others under their feet.
# So these checks run on a stack of their own in each shape: a fresh embedded suite, and a
# fresh production suite (its own databases, exchange and processes; about half a minute to
# start), where the only admins are the ones this test makes.


@pytest.fixture(params=["embedded", "production"])
async def lone_admin_stack(request, tmp_path) -> AsyncIterator[Stack]:
    """A suite of this test's own, with no admin until the test makes one."""
    if request.param == "embedded":
        embedded = await start_embedded(tmp_path / "data")
        try:
            yield embedded
        finally:
            await embedded.suite.stop()
        return
    rabbit_url = require_rabbitmq()
    redis_url = require_redis()
    with contextlib.ExitStack() as databases:
        production = ProductionStack(
            database_urls={e.name: databases.enter_context(postgres_database()) for e in SERVICES},
            rabbit_url=rabbit_url,
            redis_url=redis_url,
            workdir=tmp_path,
        )
        try:
            await asyncio.to_thread(production.start)
            yield production
        finally:
            await asyncio.to_thread(production.stop)
            await drop_topology(rabbit_url, production.exchange, production.queues)


async def active_admins(client: httpx.AsyncClient, staff: Account) -> set[str]:
    found = await client.get(
        USERS, params={"role": "admin", "status": "active", "limit": 100}, headers=staff.headers
    )
    assert found.status_code == 200, found.text
    return {u["id"] for u in found.json()["results"]}


async def test_the_last_active_admin_cannot_be_suspended_demoted_or_deleted(
    lone_admin_stack: Stack,
):
    stack = lone_admin_stack
    async with stack.client() as client:
        ada = await sign_in_admin(stack, client)
        assert await active_admins(client, ada) == {ada.id}

        leaving = await client.delete("/api/v1/users/me", headers=ada.headers)
        assert refused(leaving, 409, "LAST_ADMIN"), leaving.text
        assert (await client.get("/api/v1/users/me", headers=ada.headers)).status_code == 200

        # A second admin; once Ada demotes him, Bob's access token still claims admin (roles
        # reach tokens at refresh), but Ada is now the last active admin.
        bob = await make_staff(client, ada, ("client", "admin"))
        assert (await set_roles(client, ada, bob.id, "client")).status_code == 200
        for answer in (
            await set_roles(client, bob, ada.id, "client"),
            await client.post(f"{USERS}/{ada.id}/suspend", headers=bob.headers, json={}),
        ):
            assert refused(answer, 409, "LAST_ADMIN"), answer.text
        assert await active_admins(client, ada) == {ada.id}

        # Two admins removing each other at the same moment: exactly one of them wins.
        tally = {"attempts": 0, "wrongly accepted": 0, "5xx": 0}

        def count(answers: list[httpx.Response], ok: int) -> int:
            tally["attempts"] += len(answers)
            tally["5xx"] += sum(a.status_code >= 500 for a in answers)
            wins = sum(a.status_code == ok for a in answers)
            tally["wrongly accepted"] += max(0, wins - 1)
            return wins

        assert (await set_roles(client, ada, bob.id, "client", "admin")).status_code == 200
        bob = await refreshed(client, bob)
        for _ in range(ROUNDS):
            answers = await asyncio.gather(
                client.post(f"{USERS}/{bob.id}/suspend", headers=ada.headers, json={}),
                client.post(f"{USERS}/{ada.id}/suspend", headers=bob.headers, json={}),
            )
            assert count(answers, 200) == 1, [a.text for a in answers]
            loser = next(a for a in answers if a.status_code != 200)
            assert refused(loser, 409, "LAST_ADMIN") or refused(loser, 403, "ACCOUNT_SUSPENDED"), (
                loser.text
            )
            winner, suspended = (ada, bob) if answers[0].status_code == 200 else (bob, ada)
            assert await active_admins(client, winner) == {winner.id}
            back = await client.post(
                f"{USERS}/{suspended.id}/reactivate", headers=winner.headers, json={}
            )
            assert back.status_code == 200, back.text
            # Suspension ended the loser's sessions.
            if suspended is ada:
                ada = await sign_in(client, ada.email, ada.password)
            else:
                bob = await sign_in(client, bob.email, bob.password)

        for _ in range(ROUNDS):
            answers = await asyncio.gather(
                set_roles(client, ada, bob.id, "client"), set_roles(client, bob, ada.id, "client")
            )
            assert count(answers, 200) == 1, [a.text for a in answers]
            loser = next(a for a in answers if a.status_code != 200)
            assert refused(loser, 409, "LAST_ADMIN"), loser.text
            winner, demoted = (ada, bob) if answers[0].status_code == 200 else (bob, ada)
            assert await active_admins(client, winner) == {winner.id}
            again = await set_roles(client, winner, demoted.id, "client", "admin")
            assert again.status_code == 200, again.text
            if demoted is ada:
                ada = await refreshed(client, ada)
            else:
                bob = await refreshed(client, bob)

        answers = await asyncio.gather(
            client.delete("/api/v1/users/me", headers=ada.headers),
            client.delete("/api/v1/users/me", headers=bob.headers),
        )
        assert count(answers, 204) == 1, [a.text for a in answers]
        assert refused(next(a for a in answers if a.status_code != 204), 409, "LAST_ADMIN")
        survivor = ada if answers[1].status_code == 204 else bob
        assert await active_admins(client, survivor) == {survivor.id}
        print(f"\n[{stack.name}] two admins removing each other: {tally}")
        assert tally["wrongly accepted"] == tally["5xx"] == 0
