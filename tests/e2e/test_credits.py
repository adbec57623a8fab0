"""A client's credits through the gateway, on both shapes, with the sandbox standing in for
Stripe: a top-up paid with pm_card_visa through the sandbox's card step reaches the balance by
the signed webhook (a retry with its key answers the same top-up; nobody else pays its
intent); staff make a promo code (it lands in the audit log) and the client redeems it once;
then a booking's checkout is paid wholly by credit (succeeded at once, the booking
confirmed), and the history shows each movement newest first with the ledger sound. A gift
card bought and paid at the sandbox's card step is redeemed once by another client. A
suspended client's token neither tops up, redeems nor buys a gift card until reactivated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from chassis.ids import new_id
from tests.e2e.accounts import Account, make_staff, sign_in_admin
from tests.e2e.booking_steps import booking_becomes, new_client
from tests.e2e.payments_steps import CREDIT_WRITE_ROUTES
from tests.e2e.stacks import Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_catalog_journey import eventually
from tests.e2e.test_payments_journey import card_step, checkout, held_booking, ledger_check

CREDITS = "/api/v1/me/credits"
PROMO_CODES = "/api/v1/admin/promo-codes"
GIFT_CARDS = "/api/v1/me/gift-cards"
WEBHOOK_SECONDS = 20.0


def eur(minor: int) -> dict[str, object]:
    return {"amount_minor": minor, "currency": "EUR"}


async def top_up(
    client: httpx.AsyncClient, who: Account, minor: int, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"{CREDITS}/top-ups",
        json={"amount": eur(minor)},
        headers={**who.headers, "Idempotency-Key": key or new_id()},
    )


async def credits_of(client: httpx.AsyncClient, who: Account, **params: str | int) -> dict:
    answer = await client.get(CREDITS, params=params, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def balance_becomes(client: httpx.AsyncClient, who: Account, minor: int) -> dict:
    """The caller's credits once their EUR balance is minor (the webhook is asynchronous)."""

    async def check() -> dict | None:
        found = await credits_of(client, who)
        return found if found["balances"] == [eur(minor)] else None

    return await eventually(check, timeout=WEBHOOK_SECONDS)


async def promo_code(
    client: httpx.AsyncClient, staff: Account, code: str, minor: int, limit: int = 10
) -> httpx.Response:
    expires = datetime.now(UTC) + timedelta(days=30)
    return await client.post(
        PROMO_CODES,
        json={
            "code": code,
            "amount": eur(minor),
            "max_redemptions": limit,
            "expires_at": expires.isoformat(),
        },
        headers=staff.headers,
    )


async def redeem(client: httpx.AsyncClient, who: Account, code: str) -> httpx.Response:
    return await client.post(f"{CREDITS}/redemptions", json={"code": code}, headers=who.headers)


async def buy_gift_card(
    client: httpx.AsyncClient, who: Account, minor: int, key: str
) -> httpx.Response:
    return await client.post(
        GIFT_CARDS,
        json={"amount": eur(minor)},
        headers={**who.headers, "Idempotency-Key": key},
    )


async def redeem_gift_card(client: httpx.AsyncClient, who: Account, code: str) -> httpx.Response:
    return await client.post(f"{GIFT_CARDS}/redemptions", json={"code": code}, headers=who.headers)


async def test_top_up_by_card_redeem_a_code_and_pay_a_booking_wholly_by_credit(stack: Stack):
    async with stack.client() as client:
        cleo, booking = await held_booking(client, stack)
        assert (await credits_of(client, cleo))["balances"] == []

        key = new_id()
        made = await top_up(client, cleo, 5_000, key)
        assert made.status_code == 201, made.text
        purchase = made.json()
        assert purchase["status"] == "pending" and purchase["amount"] == eur(5_000)
        assert purchase["payment_intent_id"].startswith("pi_") and purchase["client_secret"]
        again = await top_up(client, cleo, 5_000, key)
        assert again.json()["top_up_id"] == purchase["top_up_id"]
        too_small = await top_up(client, cleo, 100)
        assert too_small.status_code == 400, too_small.text
        assert [v["field"] for v in too_small.json()["errors"]] == ["amount.amount_minor"]

        stranger = await new_client(client)
        theirs = await card_step(client, stranger, purchase["payment_intent_id"], "pm_card_visa")
        assert theirs.status_code == 404, theirs.text
        paid = await card_step(client, cleo, purchase["payment_intent_id"], "pm_card_visa")
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "succeeded"
        assert paid.json()["order_id"] == purchase["top_up_id"]
        await balance_becomes(client, cleo, 5_000)

        admin = await sign_in_admin(stack, client)
        staff = await make_staff(client, admin)
        code = f"WELCOME-{new_id()[-8:]}".upper()
        made_code = await promo_code(client, staff, code.lower(), 500)
        assert made_code.status_code == 201, made_code.text
        assert made_code.json()["code"] == code
        refused = await promo_code(client, cleo, f"MINE-{new_id()[-8:]}", 500)
        assert refused.status_code == 403, refused.text
        redeemed = await redeem(client, cleo, code)
        assert redeemed.status_code == 201, redeemed.text
        assert redeemed.json()["amount"] == eur(500)
        twice = await redeem(client, cleo, code)
        assert twice.status_code == 409, twice.text
        assert twice.json()["code"] == "PROMO_CODE_ALREADY_REDEEMED"
        unknown = await redeem(client, cleo, "NO-SUCH-CODE")
        assert unknown.status_code == 404, unknown.text
        listed = await client.get(PROMO_CODES, headers=staff.headers)
        mine = [p for p in listed.json()["results"] if p["code"] == code]
        assert [p["redemptions"] for p in mine] == [1]

        async def audited() -> list[dict]:
            log = await client.get(
                "/api/v1/admin/audit-log",
                params={"service": "payments", "actor_id": staff.id},
                headers=admin.headers,
            )
            return log.json()["results"]

        [entry] = await eventually(audited, timeout=WEBHOOK_SECONDS)
        assert entry["action"] == "promo_code.create"
        assert entry["target"] == f"promoCodes/{made_code.json()['promo_code_id']}"

        ordered = await checkout(client, cleo, booking["id"])
        assert ordered.status_code == 201, ordered.text
        order = ordered.json()
        assert order["status"] == "succeeded"
        assert (order["credit_applied"], order["amount_due"]) == (eur(4_500), eur(0))
        assert order["payment_intent_id"] is None
        await booking_becomes(client, cleo, booking["id"], "confirmed")

        first = await credits_of(client, cleo, limit=2)
        assert first["balances"] == [eur(1_000)]
        history = first["history"]
        assert history["total"] == 3 and history["has_more"]
        rest = await credits_of(client, cleo, limit=2, cursor=history["next_cursor"])
        moved = [(m["kind"], m["amount"]) for m in history["results"] + rest["history"]["results"]]
        assert moved == [
            ("credit_spend", eur(-4_500)),
            ("promotion", eur(500)),
            ("credit_purchase", eur(5_000)),
        ]
        assert history["results"][0]["booking_id"] == booking["id"]

        bought = await buy_gift_card(client, cleo, 2_000, new_id())
        assert bought.status_code == 201, bought.text
        card = bought.json()
        assert card["status"] == "pending" and card["code"]
        early = await redeem_gift_card(client, stranger, card["code"])
        assert early.status_code == 409, early.text
        assert early.json()["code"] == "GIFT_CARD_NOT_PAID"
        paid_card = await card_step(client, cleo, card["payment_intent_id"], "pm_card_visa")
        assert paid_card.status_code == 200, paid_card.text

        async def redeemed_card() -> httpx.Response | None:
            answer = await redeem_gift_card(client, stranger, card["code"])
            return None if answer.status_code == 409 else answer

        gift = await eventually(redeemed_card, timeout=WEBHOOK_SECONDS)
        assert gift.status_code == 201, gift.text
        assert (gift.json()["gift_card_id"], gift.json()["amount"]) == (
            card["gift_card_id"],
            eur(2_000),
        )
        again_card = await redeem_gift_card(client, cleo, card["code"])
        assert again_card.status_code == 409, again_card.text
        assert again_card.json()["code"] == "GIFT_CARD_ALREADY_REDEEMED"
        assert (await credits_of(client, stranger))["balances"] == [eur(2_000)]
        assert (await credits_of(client, cleo))["balances"] == [eur(1_000)]
        assert "every invariant holds" in ledger_check(stack)


async def test_a_suspended_client_neither_tops_up_nor_redeems_until_reactivated(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        staff = await make_staff(client, admin)
        code = f"BACK-{new_id()[-8:]}".upper()
        assert (await promo_code(client, staff, code, 300)).status_code == 201
        cleo = await new_client(client)
        key = new_id()

        def tops_up():
            return top_up(client, cleo, 1_000, key)

        def redeems():
            return redeem(client, cleo, code)

        card_key = new_id()

        def buys_a_card():
            return buy_gift_card(client, cleo, 1_000, card_key)

        first_card = await buys_a_card()
        assert first_card.status_code == 201, first_card.text

        def redeems_a_card():
            return redeem_gift_card(client, cleo, first_card.json()["code"])

        steps = [
            ("POST", f"{CREDITS}/top-ups", tops_up),
            ("POST", f"{CREDITS}/redemptions", redeems),
            ("POST", GIFT_CARDS, buys_a_card),
            ("POST", f"{GIFT_CARDS}/redemptions", redeems_a_card),
        ]
        assert [(m, p) for m, p, _ in steps] == CREDIT_WRITE_ROUTES
        first = await tops_up()
        assert first.status_code == 201, first.text

        suspended = await client.post(
            f"{USERS}/{cleo.id}/suspend", headers=admin.headers, json={"reason": "chargebacks"}
        )
        assert suspended.status_code == 200, suspended.text
        # The top-up replayed with its key is harmless: it probes when payments learns of it.
        await first_refusal(tops_up, "ACCOUNT_SUSPENDED", meanwhile=(201,))
        for method, path, send in steps:
            refused = await send()
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, refused.text)
        assert (await credits_of(client, cleo))["balances"] == []

        back = await client.post(
            f"{USERS}/{cleo.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await tops_up()
            assert answer.status_code in (201, 403), answer.text
            return answer.status_code == 201

        await until(accepted_again, "the old token tops up again")
        assert (await tops_up()).json()["top_up_id"] == first.json()["top_up_id"]
        redeemed = await redeems()
        assert redeemed.status_code == 201, redeemed.text
        assert (await credits_of(client, cleo))["balances"] == [eur(300)]


async def test_a_client_reads_their_payments_and_staff_adjust_their_credit(stack: Stack):
    async with stack.client() as client:
        cleo, booking = await held_booking(client, stack)
        admin = await sign_in_admin(stack, client)
        staff = await make_staff(client, admin)
        code = f"SORRY-{new_id()[-8:]}".upper()
        assert (await promo_code(client, staff, code, 500)).status_code == 201
        assert (await redeem(client, cleo, code)).status_code == 201
        ordered = await checkout(client, cleo, booking["id"])
        assert ordered.status_code == 201, ordered.text

        mine = await client.get("/api/v1/me/payments", headers=cleo.headers)
        assert mine.status_code == 200, mine.text
        [payment] = mine.json()["results"]
        assert (payment["order_id"], payment["status"], payment["credit_applied"]) == (
            ordered.json()["order_id"],
            "open",
            eur(500),
        )
        stranger = await new_client(client)
        theirs = await client.get("/api/v1/me/payments", headers=stranger.headers)
        assert theirs.json()["results"] == []

        accounts = "/api/v1/admin/ledger/accounts"
        refused = await client.get(accounts, headers=cleo.headers)
        assert refused.status_code == 403, refused.text
        wallets = await client.get(
            accounts,
            params={"owner": f"users/{cleo.id}", "kind": "client_credit"},
            headers=staff.headers,
        )
        [wallet] = wallets.json()["results"]
        assert wallet["balance"] == eur(0)
        promotions = await client.get(
            accounts,
            params={"owner": "platform", "kind": "platform_promotions", "currency": "EUR"},
            headers=staff.headers,
        )
        [given] = promotions.json()["results"]

        def adjustment(*amounts: int) -> dict[str, object]:
            return {
                "reason": "goodwill for a late session",
                "currency": "EUR",
                "legs": [
                    {"account_id": account["account_id"], "amount_minor": amount}
                    for account, amount in zip((wallet, given), amounts, strict=True)
                ],
            }

        adjustments = "/api/v1/admin/ledger/adjustments"
        key = {"Idempotency-Key": new_id()}
        made = await client.post(
            adjustments, json=adjustment(300, -300), headers={**staff.headers, **key}
        )
        assert made.status_code == 201, made.text
        again = await client.post(
            adjustments, json=adjustment(300, -300), headers={**staff.headers, **key}
        )
        assert again.json()["transaction_id"] == made.json()["transaction_id"]
        overdrawn = await client.post(
            adjustments, json=adjustment(-1_000, 1_000), headers=staff.headers
        )
        assert overdrawn.status_code == 409, overdrawn.text
        assert overdrawn.json()["code"] == "INSUFFICIENT_FUNDS"
        assert overdrawn.json()["detail"].startswith("legs[0]")
        unbalanced = await client.post(
            adjustments, json=adjustment(300, -200), headers=staff.headers
        )
        assert unbalanced.status_code == 400, unbalanced.text
        assert [v["field"] for v in unbalanced.json()["errors"]] == ["legs"]
        not_staff = await client.post(adjustments, json=adjustment(300, -300), headers=cleo.headers)
        assert not_staff.status_code == 403, not_staff.text

        entries = await client.get(
            f"{accounts}/{wallet['account_id']}/entries", headers=staff.headers
        )
        newest = entries.json()["results"][0]
        assert (newest["transaction_kind"], newest["amount"], newest["balance_after"]) == (
            "adjustment",
            eur(300),
            eur(300),
        )
        assert (await credits_of(client, cleo))["balances"] == [eur(300)]

        async def audited() -> list[dict] | None:
            log = await client.get(
                "/api/v1/admin/audit-log",
                params={"service": "payments", "actor_id": staff.id},
                headers=admin.headers,
            )
            found = [e for e in log.json()["results"] if e["action"] == "ledger.adjust"]
            return found or None

        [entry] = await eventually(audited, timeout=WEBHOOK_SECONDS)
        assert entry["target"] == f"ledgerTransactions/{made.json()['transaction_id']}"
        assert "every invariant holds" in ledger_check(stack)
