"""A forged cursor, on any paginated list, is a 400 naming `cursor`, never a 5xx.

Cursors are unsigned base64 JSON: a client can read one and write another. Each list hands
out a real cursor, and the test sends it back altered in every way a forger would try: parts
of the wrong type, numbers out of range, sort values the order lacks, wrong lengths and
shapes, and text that is not a cursor at all.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.accounts import Account, sign_in_admin, sign_up
from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body
from tests.e2e.test_catalog_manage import approved_practitioner, category

# Values no part of any key may be: a sort value is a number (or null), an id a UUID.
NEVER_A_KEY_PART = [
    [1, 2],
    {"a": 1},
    True,
    False,
    "4500",
    "not-an-id",
    2**63,
    2**64 - 1,
    "",
]
NOT_AN_ID = [None, 123, 1.5, "ABC", "00000000000070008000000000000000"]
# Raw text that is not a cursor at all.
NOT_A_CURSOR = [
    "not-a-cursor",
    "!!!!",
    "eyJ",
    "a",
    "A" * 1024,
    base64.urlsafe_b64encode(b"\xff\xfe{").decode(),
    base64.urlsafe_b64encode(b"[" * 700).decode(),
]
# Longer than the gateway takes: refused there, as a 422 naming the same parameter.
OVER_LONG = "A" * 1025


def cursor_of(payload: Any) -> str:
    """A cursor as a forger writes one (the standard library writes integers of any size)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def read(cursor: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def forgeries(real: str) -> list[str]:
    """Every alteration of a real cursor that must be refused."""
    issued = read(real)
    key, query = issued["k"], issued["q"]
    last_id = key[-1]
    keys: list[Any] = []
    for position in range(len(key)):
        wrong = NEVER_A_KEY_PART + (NOT_AN_ID if position == len(key) - 1 else [])
        keys += [[*key[:position], value, *key[position + 1 :]] for value in wrong]
    if len(key) == 2:
        # A sort value the order lacks, or none where the order has one.
        keys.append([1.5 if key[0] is None else None, last_id])
    keys += [[], [last_id, last_id], [*key, last_id], {"0": last_id}, last_id, None]
    payloads: list[Any] = [{"k": k, "q": query} for k in keys]
    payloads += [
        {"k": key},
        {"q": query},
        {"k": key, "q": query, "extra": 1},
        {"k": key, "q": "0" * 16},
        {"k": key, "q": [query]},
        [key, query],
        query,
        None,
    ]
    return [cursor_of(p) for p in payloads] + NOT_A_CURSOR


@dataclass
class Outcomes:
    """What every forged request got back."""

    attempts: int = 0
    server_errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


async def forge_on(
    client, outcomes: Outcomes, path: str, params: dict[str, Any], headers: dict[str, str]
) -> None:
    first = await client.get(path, params={**params, "limit": 1}, headers=headers)
    assert first.status_code == 200, (path, params, first.text)
    real = first.json()["next_cursor"]
    assert real, (path, params, "needs a second page")
    again = await client.get(path, params={**params, "limit": 1, "cursor": real}, headers=headers)
    assert again.status_code == 200, (path, params, again.text)
    for forged in [*forgeries(real), OVER_LONG]:
        answer = await client.get(
            path, params={**params, "limit": 1, "cursor": forged}, headers=headers
        )
        outcomes.attempts += 1
        where = f"{path} {params} cursor={forged[:60]!r}"
        if answer.status_code >= 500:
            outcomes.server_errors.append(where)
            continue
        expected = 422 if forged is OVER_LONG else 400
        fields = [e["field"] for e in answer.json().get("errors", [])]
        if answer.status_code != expected or fields != ["cursor"]:
            outcomes.wrong.append(f"{where}: {answer.status_code} {answer.text[:200]}")


async def pending_application(client) -> None:
    applicant = await sign_up(client)
    applied = await client.post(
        "/api/v1/practitioners/apply", json=APPLICATION, headers=applicant.headers
    )
    assert applied.status_code == 201, applied.text


async def test_every_forged_cursor_on_every_list_is_a_400_naming_cursor(stack: Stack):
    outcomes = Outcomes()
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        # Two of everything, so that every list has a second page and hands out a cursor.
        tag = f"forged{secrets.token_hex(4)}"
        practice = await category(client, staff)
        seller: Account | None = None
        for _ in range(2):
            seller, _ = await approved_practitioner(client, staff)
        assert seller is not None
        for price in (3000, 4500):
            created = await client.post(
                "/api/v1/services",
                json={
                    **session_body(practice["id"], f"Calm {tag} {price}"),
                    "price": {"amount_minor": price, "currency": "EUR"},
                },
                headers=seller.headers,
            )
            assert created.status_code == 201, created.text
        for _ in range(2):
            await pending_application(client)
        target = await sign_up(client)
        for action in ("suspend", "reactivate"):
            acted = await client.post(
                f"/api/v1/admin/users/{target.id}/{action}",
                json={"reason": "checking cursors"},
                headers=staff.headers,
            )
            assert acted.status_code == 200, acted.text

        anyone: dict[str, str] = {}
        near = {"lat": 38.71, "lng": -9.14}
        lists: list[tuple[str, dict[str, Any], dict[str, str]]] = [
            ("/api/v1/services", {}, anyone),
            ("/api/v1/services", {"q": tag, "sort": "relevance"}, anyone),
            ("/api/v1/services", {"q": tag, "sort": "price_asc"}, anyone),
            ("/api/v1/services", {"q": tag, "sort": "price_desc"}, anyone),
            ("/api/v1/services", {"sort": "rating"}, anyone),
            ("/api/v1/services", {**near, "sort": "distance"}, anyone),
            ("/api/v1/services/mine", {}, seller.headers),
            ("/api/v1/practitioners", {}, anyone),
            ("/api/v1/practitioners", {"q": "breathwork", "sort": "relevance"}, anyone),
            ("/api/v1/practitioners", {"sort": "rating"}, anyone),
            ("/api/v1/practitioners", {**near, "sort": "distance"}, anyone),
            ("/api/v1/admin/practitioners", {"status": "pending"}, staff.headers),
            ("/api/v1/admin/users", {}, staff.headers),
            ("/api/v1/admin/audit-log", {"target_user_id": target.id}, staff.headers),
        ]
        for path, params, headers in lists:
            await forge_on(client, outcomes, path, params, headers)
    print(f"forged cursors: {outcomes.attempts} attempts, {len(outcomes.server_errors)} 5xx")
    assert outcomes.attempts > 400
    assert outcomes.server_errors == []
    assert outcomes.wrong == []
