"""Messaging through the gateway, on both shapes: a newcomer reads the verification mail
(the embedded mode's files, or the production shape's SMTP server) and verifies the address
with its token; notifications are their recipient's alone; bad input names the field; a
suspended user's notification writes are refused, and accepted again once reactivated. And
the README's way: `estuary mail list` / `show` on the embedded data folder, then verify."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from chassis.bus.envelope import encode_event
from chassis.ids import new_id
from estuary.catalog.v1 import events_pb2 as catalog_pb
from services.messaging.events import PRACTITIONER_REJECTED
from tests.e2e.accounts import Account, new_email, register, sign_in, sign_in_admin, sign_up
from tests.e2e.messaging_steps import (
    MESSAGING_WRITE_ROUTES,
    NOTIFICATIONS,
    PREFERENCES,
    SWITCH_OFF_REMINDERS,
    nobodys,
)
from tests.e2e.stacks import Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_newcomer import embedded, estuary
from tests.partner_receiver import partner_receiver

BOUND_SECONDS = 30
IN_APP_VERIFICATION = {"kind": "email_verification", "channel": "in_app", "enabled": True}


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def mail_to(stack: Stack, address: str, count: int = 1) -> list[EmailMessage]:
    """The mail to an address once `count` have arrived."""
    deadline = time.monotonic() + BOUND_SECONDS
    while len(found := stack.mail_to(address)) < count:
        assert time.monotonic() < deadline, f"no mail to {address} within {BOUND_SECONDS} s"
        await asyncio.sleep(0.1)
    return found


async def rejected(stack: Stack, user_id: str, reason: str) -> None:
    """Catalog's word that a practitioner application was turned down."""
    message = catalog_pb.PractitionerRejected(
        practitioner_id=new_id(), user_id=user_id, reason=reason
    )
    await stack.publish(
        encode_event(
            PRACTITIONER_REJECTED,
            message,
            event_id=new_id(),
            source="/estuary/catalog",
            subject=f"practitioners/{message.practitioner_id}",
            time=datetime.now(UTC),
        )
    )


async def unread(client: httpx.AsyncClient, account: Account) -> int:
    answer = await client.get(f"{NOTIFICATIONS}/unread-count", headers=account.headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["unread"])


async def test_a_newcomer_reads_the_verification_mail_and_verifies_with_its_token(stack: Stack):
    email = new_email("newcomer")
    async with stack.client() as client:
        user = await register(client, email, "Nia Costa")
        assert user["email_verified"] is False
        [mail] = await mail_to(stack, email)
        assert mail["Subject"] == "Verify your email address"
        text = plain_text(mail)
        assert "Hello Nia Costa" in text
        token = re.search(r"/verify-email\?token=(\S+)", text)
        assert token is not None, text
        verified = await client.post("/api/v1/auth/verify-email", json={"token": token[1]})
        assert verified.status_code == 200, verified.text
        assert verified.json()["email_verified"] is True
        account = await sign_in(client, email)
        me = await client.get("/api/v1/users/me", headers=account.headers)
        assert me.json()["email_verified"] is True
        # Once: the mail is not sent again, and verification mail has no in-app twin.
        assert len(stack.mail_to(email)) == 1
        assert await unread(client, account) == 0


async def test_a_forgotten_password_is_reset_with_the_token_from_the_reset_mail(stack: Stack):
    email = new_email("forgetful")
    async with stack.client() as client:
        await register(client, email)
        asked = await client.post("/api/v1/auth/password/reset", json={"email": email})
        assert asked.status_code == 202, asked.text
        [reset] = [
            m for m in await mail_to(stack, email, 2) if m["Subject"] == "Reset your password"
        ]
        token = re.search(r"/reset-password\?token=(\S+)", plain_text(reset))
        assert token is not None, plain_text(reset)
        new_password = "harbour-lamp-17-meadow"
        confirmed = await client.post(
            "/api/v1/auth/password/reset/confirm",
            json={"token": token[1], "new_password": new_password},
        )
        assert confirmed.status_code in (200, 204), confirmed.text
        account = await sign_in(client, email, new_password)
        assert account.email == email
        # An address with no account gets the same answer and no mail.
        nobody = new_email("nobody")
        quiet = await client.post("/api/v1/auth/password/reset", json={"email": nobody})
        assert quiet.status_code == 202
        await asyncio.sleep(1.5)
        assert stack.mail_to(nobody) == []


async def test_notifications_are_their_recipients_alone(stack: Stack):
    async with stack.client() as client:
        ana, eve = await sign_up(client, new_email("ana")), await sign_up(client, new_email("eve"))
        reason = f"no certificate {secrets.token_hex(3)}"
        await rejected(stack, ana.id, reason)
        await until(lambda: _has_unread(client, ana), "ana's notification arrives")
        page = (await client.get(NOTIFICATIONS, headers=ana.headers)).json()
        [notice] = page["results"]
        assert notice["kind"] == "practitioner_rejected" and notice["read_at"] is None
        assert reason in notice["body"]
        [mail] = [m for m in await mail_to(stack, ana.email, 2) if "application" in m["Subject"]]
        assert reason in plain_text(mail)

        theirs = f"{NOTIFICATIONS}/{notice['id']}/read"
        refused = await client.post(theirs, headers=eve.headers)
        assert refused.status_code == 404 and refused.json()["code"] == "NOTIFICATION_NOT_FOUND"
        assert (await client.get(NOTIFICATIONS, headers=eve.headers)).json()["results"] == []
        assert await unread(client, eve) == 0
        assert (await client.post(f"{NOTIFICATIONS}/read-all", headers=eve.headers)).json() == {
            "marked": 0
        }
        assert await unread(client, ana) == 1
        assert (await client.get(NOTIFICATIONS)).status_code == 401

        read = await client.post(theirs, headers=ana.headers)
        assert read.status_code == 200 and read.json()["read_at"] is not None
        assert await unread(client, ana) == 0
        listed = await client.get(NOTIFICATIONS, params={"unread": "true"}, headers=ana.headers)
        assert listed.json()["results"] == []


async def _has_unread(client: httpx.AsyncClient, account: Account) -> bool:
    return await unread(client, account) > 0


async def test_preferences_are_kept_and_bad_input_names_the_field(stack: Stack):
    async with stack.client() as client:
        ana = await sign_up(client, new_email("ana"))
        shown = await client.get(PREFERENCES, headers=ana.headers)
        assert shown.status_code == 200, shown.text
        pairs = {(p["kind"], p["channel"]): p for p in shown.json()["preferences"]}
        assert pairs["password_reset", "email"] == {
            "kind": "password_reset",
            "channel": "email",
            "enabled": True,
            "required": True,
        }
        changed = await client.put(PREFERENCES, json=SWITCH_OFF_REMINDERS, headers=ana.headers)
        assert changed.status_code == 200, changed.text
        again = (await client.get(PREFERENCES, headers=ana.headers)).json()["preferences"]
        off = {(p["kind"], p["channel"]) for p in again if not p["enabled"]}
        # Text, and push for all but booking news, are off until chosen.
        assert off - {("booking_reminder", "email")} == {
            (p["kind"], p["channel"]) for p in shown.json()["preferences"] if not p["enabled"]
        }
        assert ("booking_reminder", "email") in off
        assert ("booking_reminder", "sms") in off and ("booking_reminder", "push") not in off

        cases = [
            (
                {"preferences": [{"kind": "password_reset", "channel": "email", "enabled": False}]},
                400,
                "preferences[0].enabled",
            ),
            (
                {
                    "preferences": [
                        {"kind": "email_verification", "channel": "in_app", "enabled": True}
                    ]
                },
                400,
                "preferences[0].channel",
            ),
            (
                {"preferences": [{"kind": "gossip", "channel": "email", "enabled": True}]},
                422,
                "preferences.0.kind",
            ),
            ({"preferences": []}, 422, "preferences"),
            ({"preferences": [], "extra": 1}, 422, "extra"),
        ]
        for body, status, field in cases:
            answer = await client.put(PREFERENCES, json=body, headers=ana.headers)
            assert answer.status_code == status, (body, answer.text)
            assert field in [e["field"] for e in answer.json()["errors"]], (body, answer.text)
        # Nothing changed by the refusals.
        assert (await client.get(PREFERENCES, headers=ana.headers)).json()["preferences"] == again

        for params, field in (({"limit": 0}, "limit"), ({"cursor": "not-a-cursor"}, "cursor")):
            answer = await client.get(NOTIFICATIONS, params=params, headers=ana.headers)
            assert answer.status_code in (400, 422), answer.text
            assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text
        not_an_id = await client.post(f"{NOTIFICATIONS}/nope/read", headers=ana.headers)
        assert not_an_id.status_code == 422
        assert [e["field"] for e in not_an_id.json()["errors"]] == ["notification_id"]


async def test_a_suspended_users_notification_writes_are_refused_then_accepted_again(
    stack: Stack,
):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client, new_email("ana"))

        async def each_write() -> list[tuple[tuple[str, str], tuple[int, str | None], Any]]:
            answers = []
            for (method, path), (body, ok, code) in MESSAGING_WRITE_ROUTES.items():
                answer = await client.request(method, nobodys(path), json=body, headers=ana.headers)
                answers.append(((method, path), (ok, code), answer))
            return answers

        suspended = await client.post(
            f"{USERS}/{ana.id}/suspend", headers=admin.headers, json={"reason": "review"}
        )
        assert suspended.status_code == 200, suspended.text
        await first_refusal(
            lambda: client.put(PREFERENCES, json=SWITCH_OFF_REMINDERS, headers=ana.headers),
            "ACCOUNT_SUSPENDED",
        )
        for route, _, answer in await each_write():
            assert answer.status_code == 403, (route, answer.text)
            assert answer.json()["code"] == "ACCOUNT_SUSPENDED", (route, answer.text)
        # Reads still work.
        assert (await client.get(PREFERENCES, headers=ana.headers)).status_code == 200

        back = await client.post(
            f"{USERS}/{ana.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await client.post(f"{NOTIFICATIONS}/read-all", headers=ana.headers)
            assert answer.status_code in (200, 403), answer.text
            return answer.status_code == 200

        await until(accepted_again, "the old token writes notifications again")
        for route, (ok, code), answer in await each_write():
            assert answer.status_code == ok, (route, answer.text)
            assert code is None or answer.json()["code"] == code, (route, answer.text)


async def test_a_newcomer_verifies_their_address_with_estuary_mail_as_the_readme_says(
    tmp_path: Path,
):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    suite = embedded(data)
    await suite.start()
    try:
        email = new_email("newcomer")
        async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=15.0) as client:
            await register(client, email)
            deadline = time.monotonic() + BOUND_SECONDS
            while True:
                listed = await asyncio.to_thread(
                    estuary, "mail", "list", "--data-dir", str(data), cwd=elsewhere
                )
                assert listed.returncode == 0, listed.stderr
                line = next((x for x in listed.stdout.splitlines() if email in x), None)
                if line is not None:
                    break
                assert time.monotonic() < deadline, listed.stdout
                await asyncio.sleep(0.2)
            assert "Verify your email address" in line
            # An id's first characters will do, as the README says.
            shown = await asyncio.to_thread(
                estuary,
                "mail",
                "show",
                line.split()[0][:13],
                "--data-dir",
                str(data),
                cwd=elsewhere,
            )
            assert shown.returncode == 0, shown.stderr
            assert f"To: {email}" in shown.stdout
            token = re.search(r"/verify-email\?token=(\S+)", shown.stdout)
            assert token is not None, shown.stdout
            verified = await client.post("/api/v1/auth/verify-email", json={"token": token[1]})
            assert verified.status_code == 200, verified.text
            assert verified.json()["email_verified"] is True
    finally:
        await suite.stop()


async def test_staff_subscribe_a_partner_that_receives_signed_events_and_replays(stack: Stack):
    hooks = "/api/v1/admin/partner-webhooks"
    async with stack.client() as client, partner_receiver() as partner:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client, new_email("ana"))
        wanted = {"url": partner.url, "event_types": ["practitioner.rejected"]}
        refused = await client.post(hooks, json=wanted, headers=ana.headers)
        assert refused.status_code == 403, refused.text
        bad = await client.post(
            hooks, json={**wanted, "url": "http://partner.example/"}, headers=admin.headers
        )
        assert bad.status_code == 400, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == ["url"]

        made = await client.post(hooks, json=wanted, headers=admin.headers)
        assert made.status_code == 201, made.text
        partner.secret = made.json()["secret"]
        hook = f"{hooks}/{made.json()['id']}"
        try:
            listed = (await client.get(hooks, headers=admin.headers)).json()["results"]
            assert made.json()["id"] in [h["id"] for h in listed]
            assert all("secret" not in h for h in listed)

            await rejected(stack, ana.id, "Incomplete certificates")

            async def log() -> list[dict[str, Any]]:
                answer = await client.get(f"{hook}/deliveries", headers=admin.headers)
                return list(answer.json()["results"])

            async def delivered() -> bool:
                return [d["state"] for d in await log()] == ["delivered"]

            await until(delivered, "the partner took the delivery")
            [got] = partner.received
            assert got.verified
            assert got.payload["type"] == "practitioner.rejected"
            assert got.payload["data"]["reason"] == "Incomplete certificates"
            [delivery] = await log()
            assert delivery["id"] == got.webhook_id

            replayed = await client.post(
                f"{hook}/deliveries/{delivery['id']}/replay", headers=admin.headers
            )
            assert (replayed.status_code, replayed.json()["state"]) == (200, "pending")
            await until(delivered, "the replay was taken")
            assert [r.webhook_id for r in partner.received] == [got.webhook_id] * 2
            assert partner.received[1].verified

            rotated = await client.post(f"{hook}/rotate-secret", headers=admin.headers)
            assert rotated.json()["secret"] not in ("", partner.secret)

            async def audited() -> list[dict[str, Any]]:
                answer = await client.get(
                    "/api/v1/admin/audit-log",
                    params={
                        "service": "messaging",
                        "target": f"partnerWebhooks/{made.json()['id']}",
                    },
                    headers=admin.headers,
                )
                return list(answer.json()["results"])

            async def both_audited() -> bool:
                return len(await audited()) == 2

            # Filed in the one audit log by identity; the secrets are in neither entry.
            await until(both_audited, "messaging's staff actions reached the audit log")
            entries = await audited()
            assert sorted(e["action"] for e in entries) == [
                "partner_webhook.create",
                "partner_webhook.rotate_secret",
            ]
            for secret in (partner.secret, rotated.json()["secret"]):
                assert secret.removeprefix("whsec_") not in str(entries)
            moved = await client.patch(
                hook, json={"url": "https://elsewhere.example/"}, headers=admin.headers
            )
            assert moved.status_code == 422, moved.text
            assert [e["field"] for e in moved.json()["errors"]] == ["url"]
            off = await client.patch(hook, json={"enabled": False}, headers=admin.headers)
            assert (off.status_code, off.json()["enabled"]) == (200, False)
        finally:
            gone = await client.delete(hook, headers=admin.headers)
        assert gone.status_code == 204, gone.text
        assert (await client.get(hook, headers=admin.headers)).status_code == 404
