"""People the end-to-end tests sign up: clients and admins, with the tokens they hold."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION

PASSWORD = "river-stone-42-lantern"


def new_email(first_name: str = "ana") -> str:
    """An address no other test uses."""
    return f"{first_name}.{secrets.token_hex(4)}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    """A signed-in user: who they are and the session they hold."""

    id: str
    email: str
    access_token: str
    refresh_token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Account:
    """Logs in, failing the test with the gateway's answer if that is refused."""
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    tokens = login.json()
    me = await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    return Account(
        me.json()["id"], email, tokens["access_token"], tokens["refresh_token"], password
    )


async def register(
    client: httpx.AsyncClient,
    email: str | None = None,
    full_name: str = "Ana Sousa",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Registers a client account; answers the new user as the gateway shows it."""
    created = await client.post(
        "/api/v1/auth/register",
        headers=headers,
        json={"email": email or new_email(), "password": PASSWORD, "full_name": full_name},
    )
    assert created.status_code == 201, created.text
    return created.json()


async def sign_up(
    client: httpx.AsyncClient, email: str | None = None, full_name: str = "Ana Sousa"
) -> Account:
    """Registers a client account and signs it in."""
    user = await register(client, email, full_name)
    return await sign_in(client, user["email"])


async def sign_in_admin(stack: Stack, client: httpx.AsyncClient) -> Account:
    """The stack's admin (made the way an operator makes one), signed in afresh."""
    return await sign_in(client, await stack.standing_admin(PASSWORD))


async def refreshed(client: httpx.AsyncClient, account: Account) -> Account:
    """The account after a token refresh, which is when new roles reach its access token."""
    answer = await client.post(
        "/api/v1/auth/token/refresh", json={"refresh_token": account.refresh_token}
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    return Account(
        account.id, account.email, tokens["access_token"], tokens["refresh_token"], account.password
    )


async def make_staff(
    client: httpx.AsyncClient, admin: Account, roles: tuple[str, ...] = ("client", "staff")
) -> Account:
    """A new account an admin gives these roles, signed in with a token that carries them."""
    account = await sign_up(client, full_name="Sam Staff")
    granted = await client.put(
        f"/api/v1/admin/users/{account.id}/roles", headers=admin.headers, json={"roles": [*roles]}
    )
    assert granted.status_code == 200, granted.text
    return await refreshed(client, account)


async def open_practice(
    client: httpx.AsyncClient, staff: Account, applicant: Account | None = None, **profile: Any
) -> tuple[Account, dict[str, Any]]:
    """A practitioner approved by staff: their account (a new one unless given) and their
    approved profile. `profile` changes fields of the journey's sample application."""
    account = applicant or await sign_up(client)
    applied = await client.post(
        "/api/v1/practitioners/apply", json=APPLICATION | profile, headers=account.headers
    )
    assert applied.status_code == 201, applied.text
    approved = await client.post(
        f"/api/v1/practitioners/{applied.json()['id']}/approve", headers=staff.headers
    )
    assert approved.status_code == 200, approved.text
    return account, approved.json()


def token_roles(token: str) -> list[str]:
    """The roles an access token carries (its payload read, not verified: the test's own)."""
    payload = token.split(".")[1]
    return list(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["roles"])


async def holding_role(
    client: httpx.AsyncClient, account: Account, role: str, timeout: float = 15.0
) -> Account:
    """The account with a token that carries a role it was granted: roles reach a token when
    it is issued, and a practitioner's arrives at identity as an event, so this refreshes
    until it shows."""
    deadline = time.monotonic() + timeout
    while True:
        account = await refreshed(client, account)
        # The token's own claim, not /users/me: the grant can land between the refresh and
        # that read, and the account would come back with a token issued without the role.
        if role in token_roles(account.access_token):
            return account
        if time.monotonic() > deadline:
            raise AssertionError(f"{account.email} holds no {role} role after {timeout} s")
        await asyncio.sleep(0.1)
