"""A suspended user's still-valid access token is refused on every write route of every
service within seconds, their listings leave discovery, and reactivation undoes both;
a deleted practitioner is anonymised and their services archived. On both shapes.

WRITE_ROUTES is the table of every route that changes something on behalf of the bearer
of a user token, each with a request that succeeds while the account is active (the
scenario proves it by replaying the table after reactivation). A guard test fails when the
gateway serves a write route that is neither in the table nor exempted in EXEMPT.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    make_staff,
    open_practice,
    sign_in_admin,
    sign_up,
)
from tests.e2e.booking_steps import BOOKING_WRITE_ROUTES
from tests.e2e.messaging_steps import MESSAGING_WRITE_ROUTES
from tests.e2e.payments_steps import PAYMENTS_WRITE_ROUTES
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.streams_steps import STREAM_WRITE_ROUTES
from tests.e2e.test_catalog_journey import APPLICATION, session_body
from tests.e2e.test_catalog_manage import category
from tests.e2e.test_reviews import publish_completed, write_review

USERS = "/api/v1/admin/users"
# The documented bound: other services learn a suspension from the event, typically well
# under a second; this is the most a test waits for it.
BOUND_SECONDS = 5.0
NEW_PASSWORD = "another-river-stone-77"


@dataclass
class Holdings:
    """What the practitioner owns, for the paths and bodies of the table."""

    service_id: str
    service_title: str
    location_id: str
    category_id: str
    # A completed booking of the service by the client, and a review of it by someone else.
    booking_id: str = ""
    review_id: str = ""


@dataclass(frozen=True)
class WriteRoute:
    """A write route and a request to it that succeeds while the caller's account is active."""

    method: str
    path: str
    ok: int
    body: Callable[[Holdings], dict[str, Any] | None] = lambda _: None
    # "practitioner" (who owns the holdings) or "client" (a user with no practitioner profile).
    actor: str = "practitioner"

    def url(self, held: Holdings) -> str:
        return self.path.format(
            service_id=held.service_id,
            location_id=held.location_id,
            booking_id=held.booking_id,
            review_id=held.review_id,
        )


# In the order the scenario replays them once the account is active again: the destructive
# ones (sessions, password, the account itself) last.
WRITE_ROUTES = [
    WriteRoute("PATCH", "/api/v1/users/me", 200, lambda _: {"bio": "Back from a break."}),
    WriteRoute("POST", "/api/v1/practitioners/apply", 201, lambda _: APPLICATION, "client"),
    WriteRoute("PATCH", "/api/v1/practitioners/me", 200, lambda _: {"bio": "Yin yoga too."}),
    WriteRoute(
        "POST",
        "/api/v1/practitioners/me/locations",
        201,
        lambda _: {
            "kind": "in_person",
            "address": "Rua Nova 3",
            "city": "Porto",
            "country": "PT",
            "lat": 41.15,
            "lng": -8.61,
        },
    ),
    WriteRoute(
        "PATCH",
        "/api/v1/practitioners/me/locations/{location_id}",
        200,
        lambda _: {"address": "Rua Velha 9"},
    ),
    WriteRoute("DELETE", "/api/v1/practitioners/me/locations/{location_id}", 204),
    WriteRoute(
        "POST", "/api/v1/services", 201, lambda held: session_body(held.category_id, "Evening")
    ),
    WriteRoute(
        "PATCH",
        "/api/v1/services/{service_id}",
        200,
        lambda _: {"price": {"amount_minor": 5200, "currency": "EUR"}},
    ),
    WriteRoute("POST", "/api/v1/services/{service_id}/archive", 200),
    WriteRoute(
        "POST",
        "/api/v1/bookings/{booking_id}/review",
        201,
        lambda _: {"rating": 4, "text": "Good, once my account was back."},
        "client",
    ),
    WriteRoute("POST", "/api/v1/reviews/{review_id}/reply", 200, lambda _: {"text": "Thanks!"}),
    WriteRoute(
        "POST",
        "/api/v1/auth/password/change",
        204,
        lambda _: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    ),
    WriteRoute("POST", "/api/v1/auth/logout", 204),
    WriteRoute("POST", "/api/v1/auth/logout-all", 200),
    WriteRoute("DELETE", "/api/v1/users/me", 204),
]

ANONYMOUS = "anonymous: no account token is involved, so there is no suspended bearer to refuse"
STAFF_ONLY = (
    "staff only: a non-staff token is 403 there whatever its account's status; a suspended "
    "staff member's token is refused there too "
    "(test_a_suspended_staff_members_token_is_refused_on_staff_routes)"
)
EXEMPT = {
    ("POST", "/api/v1/auth/register"): ANONYMOUS,
    ("POST", "/api/v1/auth/login"): ANONYMOUS + " (a suspended user's login is 403, test_admin)",
    ("POST", "/api/v1/auth/token/refresh"): ANONYMOUS + " (suspension revokes refresh tokens)",
    ("POST", "/api/v1/auth/verify-email"): ANONYMOUS,
    ("POST", "/api/v1/auth/password/reset"): ANONYMOUS,
    ("POST", "/api/v1/auth/password/reset/confirm"): ANONYMOUS,
    ("POST", "/api/v1/admin/users/{user_id}/suspend"): STAFF_ONLY,
    ("POST", "/api/v1/admin/users/{user_id}/reactivate"): STAFF_ONLY,
    ("PUT", "/api/v1/admin/users/{user_id}/roles"): STAFF_ONLY,
    ("POST", "/api/v1/practitioners/{practitioner_id}/approve"): STAFF_ONLY,
    ("POST", "/api/v1/practitioners/{practitioner_id}/reject"): STAFF_ONLY,
    ("POST", "/api/v1/practitioners/{practitioner_id}/feature"): STAFF_ONLY,
    ("POST", "/api/v1/services/categories"): STAFF_ONLY,
    ("PATCH", "/api/v1/services/categories/{category_id}"): STAFF_ONLY,
    ("DELETE", "/api/v1/services/categories/{category_id}"): STAFF_ONLY,
    ("POST", "/api/v1/reviews/{review_id}/hide"): STAFF_ONLY,
    ("POST", "/api/v1/admin/promo-codes"): STAFF_ONLY,
    ("POST", "/api/v1/admin/ledger/adjustments"): STAFF_ONLY,
    ("POST", "/api/v1/admin/payouts/{payout_id}/retry"): STAFF_ONLY,
    ("POST", "/api/v1/admin/partner-webhooks"): STAFF_ONLY,
    ("PATCH", "/api/v1/admin/partner-webhooks/{webhook_id}"): STAFF_ONLY,
    ("DELETE", "/api/v1/admin/partner-webhooks/{webhook_id}"): STAFF_ONLY,
    ("POST", "/api/v1/admin/partner-webhooks/{webhook_id}/rotate-secret"): STAFF_ONLY,
    ("POST", "/api/v1/admin/partner-webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): (
        STAFF_ONLY
    ),
    ("POST", "/api/v1/webhooks/stripe"): (
        "Stripe's call: no account token, only its signature (checked by payments)"
    ),
    ("POST", "/api/v1/media-uploads"): (
        "an upload by a form a service signed: no account token, only the form's signature "
        "(checked by the folder media store); a suspended user gets no form from the service"
    ),
    ("POST", "/api/v1/webhooks/livekit"): (
        "LiveKit's call: no account token, only its signature (checked by streams)"
    ),
}


def test_every_write_route_of_the_gateway_is_in_the_table_or_exempt_with_a_reason():
    paths = create_app(GatewaySettings()).openapi()["paths"]
    served = {
        (method.upper(), path): operation
        for path, operations in paths.items()
        for method, operation in operations.items()
        if path.startswith("/api/v1/") and method in ("post", "put", "patch", "delete")
    }
    assert ("PATCH", "/api/v1/services/{service_id}") in served, "route discovery is broken"
    # Booking's, messaging's, payments' and streams' write routes have their own scenarios
    # (test_booking_accounts.py, test_messaging.py, test_payments_accounts.py,
    # test_streams.py).
    tabled = (
        {(r.method, r.path) for r in WRITE_ROUTES}
        | set(BOOKING_WRITE_ROUTES)
        | set(MESSAGING_WRITE_ROUTES)
        | set(PAYMENTS_WRITE_ROUTES)
        | set(STREAM_WRITE_ROUTES)
    )
    missing = set(served) - tabled - set(EXEMPT)
    assert not missing, f"write routes in neither WRITE_ROUTES nor EXEMPT: {sorted(missing)}"
    stale = (tabled | set(EXEMPT)) - set(served)
    assert not stale, f"listed but not served: {sorted(stale)}"
    assert not tabled & set(EXEMPT)
    # The table holds what a bearer token acts through; the anonymous exemptions take none.
    for route in tabled:
        assert served[route].get("security"), f"{route} takes no bearer token"
    for route, why in EXEMPT.items():
        assert bool(served[route].get("security")) == (why is STAFF_ONLY), route


async def send(
    client: httpx.AsyncClient, route: WriteRoute, held: Holdings, token_of: dict[str, Account]
) -> httpx.Response:
    return await client.request(
        route.method,
        route.url(held),
        json=route.body(held),
        headers=token_of[route.actor].headers,
    )


async def first_refusal(
    request: Callable[[], Any], code: str, meanwhile: tuple[int, ...] = (200,)
) -> float:
    """Repeats a harmless write (answered `meanwhile` while the account is known active)
    until it is refused with `code`; the seconds that took."""
    started = time.monotonic()
    while True:
        answer = await request()
        if answer.status_code == 403 and answer.json()["code"] == code:
            return time.monotonic() - started
        assert answer.status_code in meanwhile, answer.text
        if time.monotonic() - started > BOUND_SECONDS:
            raise AssertionError(f"still accepted {BOUND_SECONDS} s after the change: {answer}")
        await asyncio.sleep(0.02)


async def until(check: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {BOUND_SECONDS} s: {what}")
        await asyncio.sleep(0.05)


async def discovered(client: httpx.AsyncClient, held: Holdings, profile: dict) -> set[str]:
    """Which of the practitioner's profile and service anonymous discovery shows."""
    services = (await client.get("/api/v1/services", params={"q": held.service_title})).json()
    people = (
        await client.get("/api/v1/practitioners", params={"q": profile["display_name"]})
    ).json()
    return ({s["id"] for s in services["results"]} & {held.service_id}) | (
        {p["id"] for p in people["results"]} & {profile["id"]}
    )


async def test_a_suspended_users_token_is_refused_on_every_write_and_their_listings_leave_discovery(
    stack: Stack,
):
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pat, profile = await open_practice(client, admin, display_name=f"Pat {tag}")
        bea = await sign_up(client)
        yoga = await category(client, admin)
        title = f"Sunrise {tag}"
        created = await client.post(
            "/api/v1/services", json=session_body(yoga["id"], title), headers=pat.headers
        )
        assert created.status_code == 201, created.text
        studio = next(p for p in profile["locations"] if p["kind"] == "in_person")
        held = Holdings(created.json()["id"], title, studio["id"], yoga["id"])
        assert await discovered(client, held, profile) == {held.service_id, profile["id"]}
        stranger = await sign_up(client)
        # Bea's session took place (she may review it); the stranger's too, and he did.
        held.booking_id = await publish_completed(stack, created.json(), bea)
        theirs = await publish_completed(stack, created.json(), stranger)
        held.review_id = (await write_review(client, stranger, theirs, 5, "Lovely."))["id"]
        old = {"practitioner": pat, "client": bea}

        # A harmless write (the title it already has) probes when catalog learns of it.
        def probe(account: Account) -> Callable[[], Any]:
            return lambda: client.patch(
                f"/api/v1/services/{held.service_id}",
                json={"title": title},
                headers=account.headers,
            )

        for who in (bea, pat):
            suspended = await client.post(
                f"{USERS}/{who.id}/suspend", headers=admin.headers, json={"reason": "review"}
            )
            assert suspended.status_code == 200, suspended.text
        took = await first_refusal(probe(pat), "ACCOUNT_SUSPENDED")
        print(f"\n[{stack.name}] suspension -> first refused catalog write: {took * 1000:.0f} ms")
        # Bea has no service: her probe is a profile edit, 404 until catalog knows.
        await first_refusal(
            lambda: client.patch(
                "/api/v1/practitioners/me", json={"bio": "x"}, headers=bea.headers
            ),
            "ACCOUNT_SUSPENDED",
            meanwhile=(404,),
        )

        for route in WRITE_ROUTES:
            refused = await send(client, route, held, old)
            assert refused.status_code == 403, (route, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED", (route, refused.text)

        # ... and nothing changed: read through staff's view, and the owner's (reads still work).
        service = (
            await client.get(f"/api/v1/services/{held.service_id}", headers=admin.headers)
        ).json()
        assert service["price"]["amount_minor"] == 4500 and service["status"] == "active"
        seen = (
            await client.get(f"/api/v1/practitioners/{profile['id']}", headers=admin.headers)
        ).json()
        assert seen["bio"] == APPLICATION["bio"]
        assert {p["id"] for p in seen["locations"]} == {p["id"] for p in profile["locations"]}
        user = (await client.get(f"{USERS}/{pat.id}", headers=admin.headers)).json()
        assert user["status"] == "suspended" and user["bio"] != "Back from a break."
        me = await client.get("/api/v1/users/me", headers=pat.headers)
        assert me.status_code == 200 and me.json()["status"] == "suspended"
        mine = await client.get("/api/v1/services/mine", headers=pat.headers)
        assert mine.status_code == 200 and mine.json()["total"] == 1
        own = await client.get(f"/api/v1/services/{held.service_id}", headers=pat.headers)
        assert own.status_code == 200
        assert (
            await client.get("/api/v1/practitioners/me", headers=pat.headers)
        ).status_code == 200
        no_profile = await client.get("/api/v1/practitioners/me", headers=bea.headers)
        assert no_profile.status_code == 404  # her refused application made nothing

        # Out of discovery and public reads; staff still see them.
        assert await discovered(client, held, profile) == set()
        for path in (
            f"/api/v1/practitioners/{profile['id']}",
            f"/api/v1/services/{held.service_id}",
        ):
            assert (await client.get(path)).status_code == 404, path
            assert (await client.get(path, headers=stranger.headers)).status_code == 404, path
            assert (await client.get(path, headers=admin.headers)).status_code == 200, path

        for who in (bea, pat):
            back = await client.post(
                f"{USERS}/{who.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
            )
            assert back.status_code == 200, back.text

        # The old access token (still within its life) writes again once catalog knows.
        async def accepted_again() -> bool:
            answer = await probe(pat)()
            assert answer.status_code in (200, 403), answer.text
            return answer.status_code == 200

        await until(accepted_again, "the old token writes again after reactivation")

        async def listed_again() -> bool:
            return await discovered(client, held, profile) == {held.service_id, profile["id"]}

        await until(listed_again, "the listings are back in discovery")
        assert (await client.get(f"/api/v1/practitioners/{profile['id']}")).status_code == 200
        assert (await client.get(f"/api/v1/services/{held.service_id}")).status_code == 200

        # Every request of the table succeeds now, with the same old tokens: they were
        # refused for the suspension alone.
        for route in WRITE_ROUTES:
            done = await send(client, route, held, old)
            assert done.status_code == route.ok, (route, done.text)


async def test_a_deleted_practitioner_is_anonymised_their_services_archived_and_writes_refused(
    stack: Stack,
    tap: EventTap,
):
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pat, profile = await open_practice(client, admin, display_name=f"Pat {tag}")
        yoga = await category(client, admin)
        studio = next(p for p in profile["locations"] if p["kind"] == "in_person")
        services = []
        for body in (
            session_body(yoga["id"], f"Online {tag}"),
            session_body(
                yoga["id"],
                f"Studio {tag}",
                location={"kind": "in_person", "location_id": studio["id"]},
            ),
        ):
            created = await client.post("/api/v1/services", json=body, headers=pat.headers)
            assert created.status_code == 201, created.text
            services.append(created.json()["id"])
        found = (await client.get("/api/v1/services", params={"q": tag})).json()
        assert {s["id"] for s in found["results"]} == set(services)

        erased = await client.delete("/api/v1/users/me", headers=pat.headers)
        assert erased.status_code == 204, erased.text
        took = await first_refusal(
            lambda: client.patch(
                f"/api/v1/services/{services[0]}",
                json={"title": f"Online {tag}"},
                headers=pat.headers,
            ),
            "ACCOUNT_DELETED",
            # A probe that passed the door just before catalog heard of the deletion finds
            # the service archived by it.
            meanwhile=(200, 409),
        )
        print(f"\n[{stack.name}] deletion -> first refused catalog write: {took * 1000:.0f} ms")
        for method, path, body in (
            ("PATCH", "/api/v1/practitioners/me", {"bio": "still here"}),
            ("POST", "/api/v1/services", session_body(yoga["id"], "After")),
            ("POST", "/api/v1/practitioners/me/locations", {"kind": "virtual"}),
            ("POST", f"/api/v1/services/{services[1]}/archive", None),
            ("PATCH", "/api/v1/users/me", {"bio": "still here"}),
        ):
            refused = await client.request(method, path, json=body, headers=pat.headers)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["code"] == "ACCOUNT_DELETED", (path, refused.text)

        for service_id in services:
            await tap.next("service.archived", service_id=service_id)
        seen = await client.get(f"/api/v1/practitioners/{profile['id']}", headers=admin.headers)
        assert seen.status_code == 200
        shown = seen.json()
        assert shown["display_name"] == "Deleted practitioner"
        assert shown["bio"] == "" and shown["specializations"] == []
        assert shown["certifications"] == [] and shown["languages"] == []
        assert shown["locations"] == [] and shown["services"] == []
        assert tag not in seen.text
        for service_id in services:
            service = await client.get(f"/api/v1/services/{service_id}", headers=admin.headers)
            assert service.status_code == 200 and service.json()["status"] == "archived"
            # Erasure reaches every copy: the studio's address is gone from the service too.
            assert studio["address"] not in service.text, service.text
            assert (await client.get(f"/api/v1/services/{service_id}")).status_code == 404
        assert (await client.get(f"/api/v1/practitioners/{profile['id']}")).status_code == 404
        assert (await client.get("/api/v1/services", params={"q": tag})).json()["total"] == 0


async def test_a_suspended_staff_members_token_is_refused_on_staff_routes(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        sam = await make_staff(client, admin)
        applicant = await sign_up(client)
        applied = await client.post(
            "/api/v1/practitioners/apply", json=APPLICATION, headers=applicant.headers
        )
        assert applied.status_code == 201
        suspended = await client.post(f"{USERS}/{sam.id}/suspend", headers=admin.headers, json={})
        assert suspended.status_code == 200

        # A harmless staff write (a category with a slug already taken: 409 while active).
        taken = await category(client, admin)
        await first_refusal(
            lambda: client.post(
                "/api/v1/services/categories",
                json={"slug": taken["slug"], "name": "Taken"},
                headers=sam.headers,
            ),
            "ACCOUNT_SUSPENDED",
            meanwhile=(409,),
        )
        for path, body in (
            (f"/api/v1/practitioners/{applied.json()['id']}/approve", None),
            (f"{USERS}/{applicant.id}/suspend", {"reason": "by a suspended hand"}),
        ):
            refused = await client.post(path, json=body, headers=sam.headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED"
        pending = await client.get(
            f"/api/v1/practitioners/{applied.json()['id']}", headers=admin.headers
        )
        assert pending.json()["status"] == "pending"
        still = await client.get(f"{USERS}/{applicant.id}", headers=admin.headers)
        assert still.json()["status"] == "active"


async def test_writes_let_in_just_before_the_deletion_is_known_do_not_survive_the_erasure(
    stack: Stack,
):
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pat, profile = await open_practice(client, admin)
        yoga = await category(client, admin)
        erased = await client.delete("/api/v1/users/me", headers=pat.headers)
        assert erased.status_code == 204, erased.text
        # The practitioner's app keeps saving a new place and a new service until refused:
        # whatever it was let do must be undone by the erasure, as if done a moment earlier.
        places: list[str] = []
        services: list[str] = []
        deadline = time.monotonic() + BOUND_SECONDS
        while True:
            place, service = await asyncio.gather(
                client.post(
                    "/api/v1/practitioners/me/locations",
                    json={
                        "kind": "in_person",
                        "address": f"Rua {tag} {len(places)}",
                        "city": "Porto",
                        "country": "PT",
                        "lat": 41.15,
                        "lng": -8.61,
                    },
                    headers=pat.headers,
                ),
                client.post(
                    "/api/v1/services",
                    json=session_body(yoga["id"], f"Late {tag} {len(services)}"),
                    headers=pat.headers,
                ),
            )
            for answer, made in ((place, places), (service, services)):
                assert answer.status_code in (201, 403), answer.text
                if answer.status_code == 201:
                    made.append(answer.json()["id"])
            if place.status_code == service.status_code == 403:
                assert {place.json()["code"], service.json()["code"]} == {"ACCOUNT_DELETED"}
                break
            assert time.monotonic() < deadline, "still accepted after the bound"
        print(
            f"\n[{stack.name}] accepted after the deletion's 204: "
            f"{len(places)} location adds, {len(services)} service creates"
        )

        seen = await client.get(f"/api/v1/practitioners/{profile['id']}", headers=admin.headers)
        assert seen.json()["display_name"] == "Deleted practitioner"
        assert seen.json()["locations"] == [], seen.text
        assert tag not in seen.text
        for service_id in services:
            late = await client.get(f"/api/v1/services/{service_id}", headers=admin.headers)
            assert late.json()["status"] == "archived", late.text
