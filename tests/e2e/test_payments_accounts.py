"""Account status in payments, on both shapes: a suspended client's still-valid token can
neither check a booking out nor pay it, nothing changes meanwhile (the booking waits for its
payment), and once reactivated the same token checks out and pays, and the booking confirms.
A suspended practitioner's token neither opens a payout account nor asks for a payout, and
both answer again once reactivated.

PAYMENTS_WRITE_ROUTES (payments_steps.py) lists every write route payments serves to a
bearer; test_account_status.py's guard holds that each is in a scenario or exempt.
"""

from __future__ import annotations

from chassis.ids import new_id
from tests.e2e.accounts import holding_role, make_staff, open_practice, sign_in_admin
from tests.e2e.booking_steps import booking_becomes
from tests.e2e.payments_steps import CHECKOUT_WRITE_ROUTES, PAYOUT_WRITE_ROUTES
from tests.e2e.stacks import Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_payments_journey import card_step, checkout, held_booking


async def test_a_suspended_client_neither_checks_out_nor_pays_until_reactivated(stack: Stack):
    async with stack.client() as client:
        cleo, booking = await held_booking(client, stack)
        key = new_id()
        ordered = await checkout(client, cleo, booking["id"], key)
        assert ordered.status_code == 201, ordered.text
        intent = ordered.json()["payment_intent_id"]

        def checks_out():
            return client.post(
                "/api/v1/checkout",
                json={"booking_id": booking["id"]},
                headers={**cleo.headers, "Idempotency-Key": key},
            )

        def pays():
            return card_step(client, cleo, intent, "pm_card_visa")

        steps = [
            ("POST", "/api/v1/checkout", checks_out),
            ("POST", "/api/v1/sandbox/payment-intents/{payment_intent_id}/confirm", pays),
        ]
        assert [(m, p) for m, p, _ in steps] == CHECKOUT_WRITE_ROUTES

        admin = await sign_in_admin(stack, client)
        suspended = await client.post(
            f"{USERS}/{cleo.id}/suspend", headers=admin.headers, json={"reason": "chargebacks"}
        )
        assert suspended.status_code == 200, suspended.text
        # The checkout replayed with its key is harmless: it probes when payments learns of it.
        await first_refusal(checks_out, "ACCOUNT_SUSPENDED", meanwhile=(201,))
        for method, path, send in steps:
            refused = await send()
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, refused.text)
        unpaid = await client.get(f"/api/v1/bookings/{booking['id']}", headers=cleo.headers)
        assert unpaid.json()["status"] == "pending_payment", unpaid.text

        back = await client.post(
            f"{USERS}/{cleo.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await checks_out()
            assert answer.status_code in (201, 403), answer.text
            return answer.status_code == 201

        await until(accepted_again, "the old token checks out again")
        again = await checks_out()
        assert again.json()["order_id"] == ordered.json()["order_id"]
        paid = await pays()
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "succeeded"
        await booking_becomes(client, cleo, booking["id"], "confirmed")


async def test_a_suspended_practitioner_neither_onboards_nor_is_paid_out_until_reactivated(
    stack: Stack,
):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        staff = await make_staff(client, admin)
        applicant, _ = await open_practice(client, staff)
        pia = await holding_role(client, applicant, "practitioner")
        key = new_id()

        def onboards():
            return client.post("/api/v1/me/payout-account", headers=pia.headers)

        def asks_for_payout():
            return client.post(
                "/api/v1/me/payouts",
                json={"currency": "EUR"},
                headers={**pia.headers, "Idempotency-Key": key},
            )

        steps = [
            ("POST", "/api/v1/me/payout-account", onboards),
            ("POST", "/api/v1/me/payouts", asks_for_payout),
        ]
        assert [(m, p) for m, p, _ in steps] == PAYOUT_WRITE_ROUTES
        opened = await onboards()
        assert opened.status_code == 201, opened.text
        account_id = opened.json()["payout_account"]["account_id"]
        refused = await asks_for_payout()
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "PAYOUTS_NOT_ENABLED"

        suspended = await client.post(
            f"{USERS}/{pia.id}/suspend", headers=admin.headers, json={"reason": "fraud review"}
        )
        assert suspended.status_code == 200, suspended.text
        await first_refusal(onboards, "ACCOUNT_SUSPENDED", meanwhile=(201,))
        for method, path, send in steps:
            answer = await send()
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, answer.text)

        back = await client.post(
            f"{USERS}/{pia.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await onboards()
            assert answer.status_code in (201, 403), answer.text
            return answer.status_code == 201

        await until(accepted_again, "the old token opens the payout account again")
        again = await onboards()
        assert again.json()["payout_account"]["account_id"] == account_id
        still = await asks_for_payout()
        assert still.status_code == 409, still.text
        assert still.json()["code"] == "PAYOUTS_NOT_ENABLED"
