"""The whole auth journey through the gateway over real HTTP, on both shapes."""

from __future__ import annotations

import secrets

from tests.e2e.stacks import EventTap, Stack, wait_ready

PASSWORD = "river-stone-42-lantern"


def email() -> str:
    return f"ana.{secrets.token_hex(4)}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client, address: str, password: str = PASSWORD, **extra):
    return await client.post(
        "/api/v1/auth/register",
        json={"email": address, "password": password, "full_name": "Ana Sousa", **extra},
    )


async def login(client, address: str, password: str = PASSWORD):
    return await client.post("/api/v1/auth/login", json={"email": address, "password": password})


async def test_register_verify_login_profile_refresh_logout(stack: Stack, tap: EventTap):
    address = email()
    async with stack.client() as client:
        created = await register(client, address)
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["email"] == address and user["roles"] == ["client"]
        assert user["email_verified"] is False and "password" not in created.text

        registered = await tap.next("user.registered", user_id=user["id"])
        assert registered.subject == f"users/{user['id']}"
        verified = await client.post(
            "/api/v1/auth/verify-email", json={"token": registered.message.verification_token}
        )
        assert verified.status_code == 200 and verified.json()["email_verified"] is True
        await tap.next("user.email_verified", user_id=user["id"])
        again = await client.post(
            "/api/v1/auth/verify-email", json={"token": registered.message.verification_token}
        )
        assert again.status_code == 400 and again.json()["errors"][0]["field"] == "token"

        tokens = (await login(client, address.upper())).json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 3600
        me = await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200 and me.json()["id"] == user["id"]

        patched = await client.patch(
            "/api/v1/users/me",
            headers=bearer(tokens["access_token"]),
            json={"timezone": "Europe/Lisbon", "bio": "Yoga teacher", "preferences": {"sms": True}},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["timezone"] == "Europe/Lisbon"
        assert patched.json()["preferences"] == {"sms": True}

        refreshed = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200
        new = refreshed.json()
        assert new["refresh_token"] != tokens["refresh_token"]

        out = await client.post("/api/v1/auth/logout", headers=bearer(new["access_token"]))
        assert out.status_code == 204
        dead = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": new["refresh_token"]}
        )
        assert dead.status_code == 401


async def test_email_is_unique_case_insensitively_and_bad_input_names_the_field(stack: Stack):
    address = email()
    async with stack.client() as client:
        assert (await register(client, address)).status_code == 201
        taken = await register(client, address.upper())
        assert taken.status_code == 409
        assert taken.headers["content-type"] == "application/problem+json"
        assert taken.json()["errors"][0]["field"] == "email"

        weak = await register(client, email(), password="short")
        assert weak.status_code == 400
        assert [e["field"] for e in weak.json()["errors"]] == ["password"]
        malformed = await register(client, "not-an-email")
        assert malformed.status_code == 400
        assert malformed.json()["errors"][0]["field"] == "email"
        sneaky = await register(client, email(), roles=["admin"])
        assert sneaky.status_code == 422
        assert sneaky.json()["errors"][0]["field"] == "roles"


async def test_wrong_credentials_get_one_generic_answer(stack: Stack):
    address = email()
    async with stack.client() as client:
        await register(client, address)
        wrong_password = await login(client, address, "not-the-password-at-all")
        no_account = await login(client, email(), "not-the-password-at-all")
        assert wrong_password.status_code == no_account.status_code == 401
        assert wrong_password.json()["detail"] == no_account.json()["detail"]
        assert wrong_password.json()["code"] == no_account.json()["code"]


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(stack: Stack):
    address = email()
    async with stack.client() as client:
        await register(client, address)
        first = (await login(client, address)).json()
        second = (
            await client.post(
                "/api/v1/auth/token/refresh", json={"refresh_token": first["refresh_token"]}
            )
        ).json()
        thief = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert thief.status_code == 401
        victim = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert victim.status_code == 401
        other_session = (await login(client, address)).json()
        still_fine = await client.post(
            "/api/v1/auth/token/refresh", json={"refresh_token": other_session["refresh_token"]}
        )
        assert still_fine.status_code == 200


async def test_password_reset_answers_the_same_and_revokes_every_session(
    stack: Stack, tap: EventTap
):
    address = email()
    async with stack.client() as client:
        user = (await register(client, address)).json()
        session = (await login(client, address)).json()
        known = await client.post("/api/v1/auth/password/reset", json={"email": address})
        unknown = await client.post("/api/v1/auth/password/reset", json={"email": email()})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        event = await tap.next("user.password_reset_requested", user_id=user["id"])
        confirm = await client.post(
            "/api/v1/auth/password/reset/confirm",
            json={"token": event.message.reset_token, "new_password": "a-whole-new-password-7"},
        )
        assert confirm.status_code == 204
        assert (
            await client.post(
                "/api/v1/auth/token/refresh", json={"refresh_token": session["refresh_token"]}
            )
        ).status_code == 401
        assert (await login(client, address)).status_code == 401
        assert (await login(client, address, "a-whole-new-password-7")).status_code == 200
        reused = await client.post(
            "/api/v1/auth/password/reset/confirm",
            json={"token": event.message.reset_token, "new_password": "yet-another-password-8"},
        )
        assert reused.status_code == 400


async def test_change_password_needs_the_current_one_and_ends_other_sessions(stack: Stack):
    address = email()
    async with stack.client() as client:
        await register(client, address)
        here = (await login(client, address)).json()
        elsewhere = (await login(client, address)).json()
        wrong = await client.post(
            "/api/v1/auth/password/change",
            headers=bearer(here["access_token"]),
            json={"current_password": "not-it-at-all-123", "new_password": "fresh-password-99"},
        )
        assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == (
            "current_password"
        )
        changed = await client.post(
            "/api/v1/auth/password/change",
            headers=bearer(here["access_token"]),
            json={"current_password": PASSWORD, "new_password": "fresh-password-99"},
        )
        assert changed.status_code == 204
        assert (
            await client.post(
                "/api/v1/auth/token/refresh", json={"refresh_token": elsewhere["refresh_token"]}
            )
        ).status_code == 401
        assert (
            await client.post(
                "/api/v1/auth/token/refresh", json={"refresh_token": here["refresh_token"]}
            )
        ).status_code == 200


async def test_profile_refuses_protected_fields_and_changes_nothing(stack: Stack):
    address = email()
    async with stack.client() as client:
        await register(client, address)
        token = (await login(client, address)).json()["access_token"]
        before = (await client.get("/api/v1/users/me", headers=bearer(token))).json()
        for body in (
            {"email": "x@example.com"},
            {"roles": ["admin"]},
            {"status": "active"},
            {"id": before["id"]},
            {"bio": "ok", "roles": ["staff"]},
        ):
            refused = await client.patch("/api/v1/users/me", headers=bearer(token), json=body)
            assert refused.status_code == 422, body
            assert {e["field"] for e in refused.json()["errors"]} & set(body) - {"bio"}
        bad_zone = await client.patch(
            "/api/v1/users/me", headers=bearer(token), json={"timezone": "Mars/Olympus"}
        )
        assert bad_zone.status_code == 400 and bad_zone.json()["errors"][0]["field"] == "timezone"
        after = (await client.get("/api/v1/users/me", headers=bearer(token))).json()
        assert after == before


async def test_deleting_the_account_erases_it_and_emits_user_deleted(stack: Stack, tap: EventTap):
    address = email()
    async with stack.client() as client:
        user = (await register(client, address)).json()
        tokens = (await login(client, address)).json()
        gone = await client.delete("/api/v1/users/me", headers=bearer(tokens["access_token"]))
        assert gone.status_code == 204
        await tap.next("user.deleted", user_id=user["id"])
        assert (await login(client, address)).status_code == 401
        assert (
            await client.post(
                "/api/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
        ).status_code == 401
        assert (await register(client, address)).status_code == 201


async def test_health_readiness_and_public_keys(stack: Stack):
    async with stack.client() as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        ready = await wait_ready(client)
        assert ready.status_code == 200 and ready.json()["backends"]["identity"] == "SERVING"
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
        key = await stack.signing_key()
        assert key.kid in {k["kid"] for k in keys}
        assert all(k["kty"] == "OKP" and "d" not in k for k in keys)
