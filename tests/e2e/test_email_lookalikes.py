"""Look-alike addresses: full-width spellings are the same account, mixed scripts are refused."""

from __future__ import annotations

import secrets

from tests.e2e.accounts import PASSWORD, register
from tests.e2e.stacks import Stack

FULL_WIDTH_OFFSET = 0xFEE0  # from an ASCII letter to its full-width twin (U+FF41 for a)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + FULL_WIDTH_OFFSET) if c.isalpha() else c for c in text)


async def test_a_full_width_spelling_is_the_same_account(stack: Stack):
    local = f"ana.{secrets.token_hex(4)}"
    async with stack.client() as client:
        await register(client, f"{local}@example.com")
        spelling = f"{full_width(local)}@example.{full_width('com')}"
        taken = await client.post(
            "/api/v1/auth/register",
            json={"email": spelling, "password": PASSWORD, "full_name": "Ana Impostor"},
        )
        assert taken.status_code == 409, taken.text
        assert taken.json()["code"] == "EMAIL_TAKEN"
        signed_in = await client.post(
            "/api/v1/auth/login", json={"email": spelling, "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text


async def test_an_address_mixing_scripts_is_refused_naming_the_email(stack: Stack):
    local = f"admin{secrets.token_hex(4)}"
    cyrillic_a = "\u0430"
    async with stack.client() as client:
        await register(client, f"{local}@example.com")
        for lookalike in (
            f"{cyrillic_a}{local[1:]}@example.com",
            f"{local}@ex{cyrillic_a}mple.com",
            f"{local}@xn--exmple-4nf.com",  # the same Cyrillic a, in punycode
        ):
            refused = await client.post(
                "/api/v1/auth/register",
                json={"email": lookalike, "password": PASSWORD, "full_name": "Not Admin"},
            )
            assert refused.status_code == 400, (lookalike, refused.text)
            assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
                ("email", "mixed_scripts")
            ], lookalike
