"""Idempotency-Key through the gateway, on both shapes: for each POST that honours it, a
retry by the same caller with the same key and body answers like the first call and makes
nothing more (also when eight copies race); the same key with another body is a 400 naming
Idempotency-Key; the same key from another caller is another request. Each test prints its
matrix as attempts / wrongly accepted / 5xx per row."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.e2e.accounts import (
    PASSWORD,
    Account,
    make_staff,
    new_email,
    open_practice,
    sign_in_admin,
    sign_up,
)
from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body
from tests.e2e.test_catalog_manage import category

CONCURRENT = 8
USERS = "/api/v1/admin/users"
Send = Callable[[], Awaitable[httpx.Response]]


def new_key() -> str:
    return f"key-{secrets.token_hex(8)}"


def keyed(account: Account | None, key: str) -> dict[str, str]:
    return {**(account.headers if account else {}), "Idempotency-Key": key}


def alike(answer: httpx.Response) -> dict:
    """An answer's body, as compared between a call and its retry."""
    return answer.json()


@dataclass
class Matrix:
    """Counts per row of the matrix: attempts, wrongly accepted, 5xx."""

    rows: dict[str, list[int]] = field(default_factory=dict)

    def count(self, row: str, answers: list[httpx.Response], wrongly_accepted: int) -> None:
        tally = self.rows.setdefault(row, [0, 0, 0])
        tally[0] += len(answers)
        tally[1] += wrongly_accepted
        tally[2] += sum(a.status_code >= 500 for a in answers)

    async def retried(self, row: str, send: Send) -> dict:
        """The same request twice: the second answers like the first, with the same thing."""
        first, again = await send(), await send()
        self.count(row, [first, again], int(again.is_success and alike(again) != alike(first)))
        assert first.is_success, first.text
        assert again.status_code == first.status_code and alike(again) == alike(first)
        return first.json()

    async def reused(self, row: str, send: Send) -> None:
        """The key again, for another request: refused, naming the header."""
        answer = await send()
        self.count(row, [answer], int(answer.is_success))
        assert answer.status_code == 400, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["Idempotency-Key"]

    async def other_caller(self, row: str, send: Send, first: dict, status: int) -> dict:
        """The key from someone else: their own request, never the first caller's answer."""
        answer = await send()
        self.count(row, [answer], int(answer.is_success and answer.json()["id"] == first["id"]))
        assert answer.status_code == status, answer.text
        return answer.json()

    async def raced(self, row: str, send: Send) -> dict:
        """Copies of one request at once: all answered alike, one thing made."""
        answers = list(await asyncio.gather(*(send() for _ in range(CONCURRENT))))
        made = {a.json()["id"] for a in answers if a.is_success}
        self.count(row, answers, max(0, len(made) - 1))
        assert all(a.is_success for a in answers), [a.text for a in answers if not a.is_success]
        assert len(made) == 1, made
        return answers[0].json()

    async def unkeyed(self, row: str, send: Send, status: int, code: str) -> None:
        """The same request without a key: a new request, refused by the state it finds."""
        answer = await send()
        self.count(row, [answer], int(answer.is_success))
        assert answer.status_code == status and answer.json()["code"] == code, answer.text


@contextmanager
def matrix(stack: Stack, name: str) -> Iterator[Matrix]:
    found = Matrix()
    try:
        yield found
    finally:
        rows = "; ".join(f"{row} {a}/{w}/{x}" for row, (a, w, x) in found.rows.items())
        print(f"\n[{stack.name}] {name} (attempts/wrongly accepted/5xx): {rows}")


async def test_creating_a_service(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pat, _ = await open_practice(client, admin)
        eva, _ = await open_practice(client, admin)
        yoga = await category(client, admin)
        body = session_body(yoga["id"], f"Hatha {secrets.token_hex(3)}")
        key = new_key()

        def create(who: Account, the_body: dict, the_key: str) -> Send:
            return lambda: client.post(
                "/api/v1/services", json=the_body, headers=keyed(who, the_key)
            )

        async def mine(who: Account) -> list[str]:
            found = await client.get("/api/v1/services/mine", headers=who.headers)
            return [s["id"] for s in found.json()["results"]]

        with matrix(stack, "POST /api/v1/services") as m:
            first = await m.retried("same key+body", create(pat, body, key))
            assert await mine(pat) == [first["id"]]
            await m.reused("same key, other body", create(pat, {**body, "title": "Other"}, key))
            theirs = await m.other_caller("other caller", create(eva, body, key), first, 201)
            assert await mine(eva) == [theirs["id"]] and await mine(pat) == [first["id"]]
            raced = await m.raced("concurrent", create(pat, {**body, "title": "Yin"}, new_key()))
            assert await mine(pat) == [raced["id"], first["id"]]
            # Free plan: two services. A retry of the first is its answer, not a third service.
            assert (await create(pat, {**body, "title": "Third"}, new_key())()).status_code == 409
            late = await m.retried("retry at the limit", create(pat, body, key))
            assert late["id"] == first["id"]
        assert not any(w or x for _, w, x in m.rows.values())


async def test_applying_and_adding_a_location(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client)
        key = new_key()

        def apply(body: dict, the_key: str) -> Send:
            return lambda: client.post(
                "/api/v1/practitioners/apply",
                json=body,
                headers=keyed(ana, the_key) if the_key else ana.headers,
            )

        with matrix(stack, "POST /api/v1/practitioners/apply") as m:
            profile = await m.retried("same key+body", apply(APPLICATION, key))
            await m.reused("same key, other body", apply({**APPLICATION, "bio": "Other"}, key))
            await m.unkeyed(
                "no key", apply(APPLICATION, ""), 409, "PRACTITIONER_EXISTS"
            )  # a second application of the same person
        assert not any(w or x for _, w, x in m.rows.values())

        approved = await client.post(
            f"/api/v1/practitioners/{profile['id']}/approve", headers=admin.headers
        )
        assert approved.status_code == 200
        eva, _ = await open_practice(client, admin)
        place = {"kind": "in_person", "address": "Rua Nova 3", "city": "Porto", "country": "PT"}
        place |= {"lat": 41.15, "lng": -8.61}

        def add(who: Account, body: dict, the_key: str) -> Send:
            return lambda: client.post(
                "/api/v1/practitioners/me/locations", json=body, headers=keyed(who, the_key)
            )

        async def places(who: Account) -> list[str]:
            own = await client.get("/api/v1/practitioners/me", headers=who.headers)
            return [p["id"] for p in own.json()["locations"]]

        before = await places(ana)
        key = new_key()
        with matrix(stack, "POST /api/v1/practitioners/me/locations") as m:
            first = await m.retried("same key+body", add(ana, place, key))
            await m.reused("same key, other body", add(ana, {**place, "city": "Braga"}, key))
            theirs = await m.other_caller("other caller", add(eva, place, key), first, 201)
            assert theirs["id"] not in await places(ana)
            raced = await m.raced("concurrent", add(ana, {"kind": "virtual"}, new_key()))
            assert sorted(await places(ana)) == sorted([*before, first["id"], raced["id"]])
        assert not any(w or x for _, w, x in m.rows.values())


async def test_an_application_retried_lists_its_places_as_first(stack: Stack):
    async with stack.client() as client:
        ana = await sign_up(client)
        places = [{"kind": "virtual", "label": f"Room {n}"} for n in range(10)]
        key = new_key()

        def apply() -> Awaitable[httpx.Response]:
            return client.post(
                "/api/v1/practitioners/apply",
                json={**APPLICATION, "locations": places},
                headers=keyed(ana, key),
            )

        first, again = await apply(), await apply()
        assert first.status_code == again.status_code == 201, again.text
        assert [p["label"] for p in first.json()["locations"]] == [p["label"] for p in places]
        assert again.json()["locations"] == first.json()["locations"]


async def test_creating_a_category(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        body = {"slug": f"c-{secrets.token_hex(4)}", "name": "Breathwork"}
        key = new_key()

        def create(who: Account, the_body: dict, the_key: str) -> Send:
            return lambda: client.post(
                "/api/v1/services/categories", json=the_body, headers=keyed(who, the_key)
            )

        with matrix(stack, "POST /api/v1/services/categories") as m:
            first = await m.retried("same key+body", create(sam, body, key))
            await m.reused("same key, other body", create(sam, {**body, "name": "Other"}, key))
            # Another staff member's request with the same key is theirs: the slug is taken.
            answer = await m.other_caller("other caller", create(admin, body, key), first, 409)
            assert answer["code"] == "SLUG_TAKEN"
            raced_body = {"slug": f"c-{secrets.token_hex(4)}", "name": "Reiki"}
            raced = await m.raced("concurrent", create(sam, raced_body, new_key()))
        assert not any(w or x for _, w, x in m.rows.values())
        tree = (await client.get("/api/v1/services/categories")).json()["results"]
        slugs = [c["slug"] for c in tree]
        assert slugs.count(body["slug"]) == 1 and slugs.count(raced_body["slug"]) == 1
        assert raced["slug"] == raced_body["slug"]


async def audit_actions(client: httpx.AsyncClient, staff: Account, **params: str) -> list[str]:
    """The audit log's actions for a filter, once catalog's entries have had time to arrive."""
    deadline = time.monotonic() + 5.0
    while True:
        log = await client.get("/api/v1/admin/audit-log", params=params, headers=staff.headers)
        found = [e["action"] for e in log.json()["results"]]
        if found or time.monotonic() > deadline:
            await asyncio.sleep(0.3)  # a duplicate would arrive close behind
            log = await client.get("/api/v1/admin/audit-log", params=params, headers=staff.headers)
            return [e["action"] for e in log.json()["results"]]
        await asyncio.sleep(0.1)


async def test_approving_and_rejecting_an_application(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)

        async def application() -> tuple[Account, str]:
            who = await sign_up(client)
            applied = await client.post(
                "/api/v1/practitioners/apply", json=APPLICATION, headers=who.headers
            )
            assert applied.status_code == 201, applied.text
            return who, applied.json()["id"]

        def review(who: Account, pid: str, action: str, key: str, reason: str = "") -> Send:
            body = {"reason": reason} if action == "reject" else None
            return lambda: client.post(
                f"/api/v1/practitioners/{pid}/{action}",
                json=body,
                headers=keyed(who, key) if key else who.headers,
            )

        _, pat_id = await application()
        _, rui_id = await application()
        _, zoe_id = await application()
        key = new_key()
        with matrix(stack, "POST /api/v1/practitioners/{id}/approve") as m:
            approved = await m.retried("same key+body", review(sam, pat_id, "approve", key))
            assert approved["id"] == pat_id and approved["status"] == "approved"
            await m.unkeyed("no key", review(sam, pat_id, "approve", ""), 409, "NOT_PENDING")
            await m.reused("same key, other body", review(sam, rui_id, "approve", key))
            answer = await m.other_caller(
                "other caller", review(admin, pat_id, "approve", key), approved, 409
            )
            assert answer["code"] == "NOT_PENDING"
            raced = await m.raced("concurrent", review(sam, zoe_id, "approve", new_key()))
            assert raced["id"] == zoe_id and raced["status"] == "approved"
        assert not any(w or x for _, w, x in m.rows.values())
        # One decision each, whatever the retries: one entry in the audit log.
        assert await audit_actions(client, admin, target=f"practitioners/{pat_id}") == [
            "practitioner.approve"
        ]
        assert await audit_actions(client, admin, target=f"practitioners/{zoe_id}") == [
            "practitioner.approve"
        ]

        key = new_key()
        with matrix(stack, "POST /api/v1/practitioners/{id}/reject") as m:
            rejected = await m.retried(
                "same key+body", review(sam, rui_id, "reject", key, "blurry")
            )
            assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "blurry"
            await m.reused("same key, other body", review(sam, rui_id, "reject", key, "torn"))
            await m.unkeyed(
                "no key", review(sam, rui_id, "reject", "", "blurry"), 409, "NOT_PENDING"
            )
        assert not any(w or x for _, w, x in m.rows.values())
        assert await audit_actions(client, admin, target=f"practitioners/{rui_id}") == [
            "practitioner.reject"
        ]


async def test_suspending_and_reactivating_a_user(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        ana = await sign_up(client)
        bea = await sign_up(client)

        def change(who: Account, user: Account, action: str, key: str, reason: str) -> Send:
            return lambda: client.post(
                f"{USERS}/{user.id}/{action}",
                json={"reason": reason},
                headers=keyed(who, key) if key else who.headers,
            )

        key = new_key()
        with matrix(stack, "POST /api/v1/admin/users/{id}/suspend and /reactivate") as m:
            suspended = await m.retried(
                "suspend same key+body", change(sam, ana, "suspend", key, "spam")
            )
            assert suspended["status"] == "suspended"
            await m.reused("suspend same key, other body", change(sam, ana, "suspend", key, "x"))
            await m.unkeyed(
                "suspend no key", change(sam, ana, "suspend", "", "spam"), 409, "WRONG_STATUS"
            )
            answer = await m.other_caller(
                "suspend other caller", change(admin, ana, "suspend", key, "spam"), suspended, 409
            )
            assert answer["code"] == "WRONG_STATUS"
            back_key = new_key()
            back = await m.retried(
                "reactivate same key+body", change(sam, ana, "reactivate", back_key, "ok")
            )
            assert back["status"] == "active"
            await m.reused(
                "reactivate same key, other body", change(sam, ana, "reactivate", back_key, "no")
            )
            raced = await m.raced("suspend concurrent", change(sam, bea, "suspend", new_key(), "r"))
            assert raced["status"] == "suspended"
        assert not any(w or x for _, w, x in m.rows.values())
        assert await audit_actions(client, admin, target_user_id=ana.id) == [
            "user.reactivate",
            "user.suspend",
        ]
        assert await audit_actions(client, admin, target_user_id=bea.id) == ["user.suspend"]


async def test_registering(stack: Stack):
    async with stack.client() as client:
        email = new_email()
        body = {"email": email, "password": PASSWORD, "full_name": "Ana Sousa"}
        key = new_key()

        def register(the_body: dict, the_key: str) -> Send:
            return lambda: client.post(
                "/api/v1/auth/register",
                json=the_body,
                headers=keyed(None, the_key) if the_key else None,
            )

        with matrix(stack, "POST /api/v1/auth/register") as m:
            first = await m.retried("same key+body", register(body, key))
            await m.reused("same key, other body", register({**body, "full_name": "Eve"}, key))
            # Whoever does not know the password is someone else, whatever key they send.
            await m.reused(
                "same key, other password",
                register({**body, "password": "not-anas-password-77"}, key),
            )
            await m.unkeyed("no key", register(body, ""), 409, "EMAIL_TAKEN")
            other = {**body, "email": new_email("bea")}
            theirs = await m.other_caller("other caller", register(other, key), first, 201)
            assert theirs["email"] == other["email"]
            raced = await m.raced("concurrent", register({**body, "email": new_email()}, new_key()))
        assert not any(w or x for _, w, x in m.rows.values())
        for user in (first, raced):
            login = await client.post(
                "/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
