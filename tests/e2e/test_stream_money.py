"""Money to creators through the gateway, on both shapes, with the sandbox standing in for
Stripe: a client tips a practitioner's post (a retry with its key answers the same tip),
pays at the sandbox's card step, and the signed webhook makes stream_order.paid and the
creator's pending earning less the Free tier's commission, with the ledger sound. A client
at the free level buys a paid-tier post at its price and then reads it whole, alone of its
followers. Streams' word (asked by payments) refuses tips to one's own stream, unknown
streams and posts, drafts, other currencies, and unlocking a post not sold alone. A
suspended client's token tips and unlocks nothing until reactivated."""

from __future__ import annotations

import httpx

from chassis.ids import new_id
from tests.e2e.accounts import Account, sign_in_admin, sign_up
from tests.e2e.payments_steps import STREAM_ORDER_WRITE_ROUTES
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_catalog_journey import eventually
from tests.e2e.test_payments_journey import card_step, earnings_of, ledger_check
from tests.e2e.test_streams import created, practitioner, stream_with_a_paid_tier

EVENT_SECONDS = 20.0


def eur(minor: int, currency: str = "EUR") -> dict[str, object]:
    return {"amount_minor": minor, "currency": currency}


async def published_post(
    client: httpx.AsyncClient, owner: Account, base: str, level: int, **fields: object
) -> str:
    """A published post of the stream at `level`; its path."""
    draft = await created(
        await client.post(
            f"{base}/posts",
            json={"title": "Evening", "body": "Breathe out slowly.", "level": level, **fields},
            headers=owner.headers,
        )
    )
    path = f"{base}/posts/{draft['post_id']}"
    published = await client.post(f"{path}/publish", headers=owner.headers)
    assert published.status_code == 200, published.text
    return path


async def tip(
    client: httpx.AsyncClient, who: Account, path: str, amount: dict, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"{path}/tips",
        json={"amount": amount},
        headers={**who.headers, "Idempotency-Key": key or new_id()},
    )


async def test_a_tip_paid_by_card_is_the_creators_earning_less_commission(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        post = await published_post(client, pia, base, 1)
        cleo = await sign_up(client)

        key = new_id()
        made = await tip(client, cleo, post, eur(500), key)
        assert made.status_code == 201, made.text
        order = made.json()
        assert (order["kind"], order["status"], order["amount"]) == ("tip", "open", eur(500))
        assert order["post_id"] == post.rsplit("/", 1)[-1]
        again = await tip(client, cleo, post, eur(500), key)
        assert again.json()["order_id"] == order["order_id"]

        paid = await card_step(client, cleo, order["payment_intent_id"], "pm_card_visa")
        assert paid.status_code == 200, paid.text
        assert paid.json()["order_id"] == order["order_id"]
        event = await tap.next(
            "stream_order.paid", timeout=EVENT_SECONDS, order=f"streamOrders/{order['order_id']}"
        )
        assert (event.message.creator_user_id, event.message.earning.amount_minor) == (pia.id, 400)

        async def earned() -> dict | None:
            found = await earnings_of(stack, pia)
            return found if found else None

        assert await eventually(earned, timeout=EVENT_SECONDS) == {"EUR": (400, 0, 0)}

        async def revenue() -> dict | None:
            found = (await client.get(f"{base}/revenue", headers=pia.headers)).json()
            return found if found["totals"] else None

        [total] = (await eventually(revenue, timeout=EVENT_SECONDS))["totals"]
        assert (total["tips"], total["tip_count"], total["earning"]) == (eur(500), 1, eur(400))
        others = await client.get(f"{base}/revenue", headers=cleo.headers)
        assert (others.status_code, others.json()["code"]) == (403, "NOT_STREAM_OWNER")
        # Nobody else pays the tipper's intent.
        stranger = await sign_up(client)
        theirs = await card_step(client, stranger, order["payment_intent_id"], "pm_card_visa")
        assert theirs.status_code == 404, theirs.text
        assert "every invariant holds" in ledger_check(stack)


async def test_a_bought_post_reads_whole_for_its_buyer_whatever_their_tier(stack: Stack):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        post = await published_post(client, pia, base, 1, unlock_price=eur(300))
        free = await published_post(client, pia, base, 0)
        cleo, other = await sign_up(client), await sign_up(client)
        for reader in (cleo, other):
            followed = await client.post(f"{base}/follow", headers=reader.headers)
            assert followed.status_code == 200, followed.text
        teaser = (await client.get(post, headers=cleo.headers)).json()
        assert (teaser["locked"], teaser["unlock_price"], teaser["unlocked"]) == (
            True,
            eur(300),
            False,
        )
        not_sold = await client.post(f"{free}/unlock", headers=cleo.headers)
        assert (not_sold.status_code, not_sold.json()["code"]) == (409, "NOT_FOR_SALE")

        made = await client.post(f"{post}/unlock", headers=cleo.headers)
        assert made.status_code == 201, made.text
        order = made.json()
        assert (order["kind"], order["amount"]) == ("unlock", eur(300))
        again = await client.post(f"{post}/unlock", headers=cleo.headers)
        assert again.json()["order_id"] == order["order_id"]
        paid = await card_step(client, cleo, order["payment_intent_id"], "pm_card_visa")
        assert paid.status_code == 200, paid.text

        async def whole() -> dict | None:
            read = (await client.get(post, headers=cleo.headers)).json()
            return read if not read["locked"] else None

        read = await eventually(whole, timeout=EVENT_SECONDS)
        assert (read["body"], read["unlocked"]) == ("Breathe out slowly.", True)
        feed = (await client.get("/api/v1/me/feed", headers=cleo.headers)).json()["results"]
        assert [p["locked"] for p in feed if p["post_id"] == read["post_id"]] == [False]
        assert (await client.get(post, headers=other.headers)).json()["locked"]
        assert "every invariant holds" in ledger_check(stack)


async def test_streams_word_refuses_what_it_does_not_sell(stack: Stack):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        cleo = await sign_up(client)
        own = await tip(client, pia, base, eur(500))
        assert (own.status_code, own.json()["code"]) == (409, "OWN_STREAM"), own.text
        for unknown in (f"/api/v1/streams/{new_id()}", f"{base}/posts/{new_id()}"):
            missing = await tip(client, cleo, unknown, eur(500))
            assert missing.status_code == 404, missing.text
        draft = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Soon", "body": "Not yet.", "level": 0},
                headers=pia.headers,
            )
        )
        unpublished = await tip(client, cleo, f"{base}/posts/{draft['post_id']}", eur(500))
        assert unpublished.status_code == 404, unpublished.text
        # A negative amount is refused at the edge (422), the others by payments (400).
        for amount, status, field in (
            (eur(-500), 422, "amount.amount_minor"),
            (eur(50), 400, "amount.amount_minor"),
            (eur(50_001), 400, "amount.amount_minor"),
            (eur(500, "USD"), 400, "amount.currency"),
        ):
            refused = await tip(client, cleo, base, amount)
            assert refused.status_code == status, refused.text
            assert [v["field"] for v in refused.json()["errors"]] == [field], refused.text


async def test_a_suspended_client_tips_nothing_until_reactivated(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        post = await published_post(client, pia, base, 0)
        priced = await published_post(client, pia, base, 1, unlock_price=eur(200))
        cleo = await sign_up(client)
        key = new_id()

        def tips_the_stream():
            return tip(client, cleo, base, eur(300), key)

        def tips_the_post():
            return tip(client, cleo, post, eur(300), key)

        def unlocks_the_post():
            return client.post(f"{priced}/unlock", headers=cleo.headers)

        steps = [
            ("POST", "/api/v1/streams/{stream_id}/tips", tips_the_stream),
            ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/tips", tips_the_post),
            ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/unlock", unlocks_the_post),
        ]
        assert [(m, p) for m, p, _ in steps] == STREAM_ORDER_WRITE_ROUTES
        first = await tips_the_stream()
        assert first.status_code == 201, first.text

        suspended = await client.post(
            f"{USERS}/{cleo.id}/suspend", headers=admin.headers, json={"reason": "chargebacks"}
        )
        assert suspended.status_code == 200, suspended.text
        await first_refusal(tips_the_stream, "ACCOUNT_SUSPENDED", meanwhile=(201,))
        for method, path, send in steps:
            refused = await send()
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, refused.text)

        back = await client.post(
            f"{USERS}/{cleo.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await tips_the_stream()
            assert answer.status_code in (201, 403), answer.text
            return answer.status_code == 201

        await until(accepted_again, "the old token tips again")
        assert (await tips_the_stream()).json()["order_id"] == first.json()["order_id"]
