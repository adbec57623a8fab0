"""A stream's whole life with a reader, on both shapes, as the streams issue tells it: a
practitioner opens a stream with two paid tiers and posts an image at the first; a client
subscribes to that tier and pays, reads the post whole in their feed and views its image
through a short-lived link, while the second tier's post stays a teaser; they tip the post;
they cancel and keep the tier to the period's end; at the period's end the provider ends the
subscription and the post, and its image, are locked to them again. The ledger is sound at
the end."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.e2e.accounts import Account, sign_up
from tests.e2e.payments_steps import bill_due_subscriptions
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.test_catalog_journey import eventually
from tests.e2e.test_payments_journey import card_step, ledger_check
from tests.e2e.test_stream_money import eur, published_post, tip
from tests.e2e.test_stream_subscriptions import subscribe
from tests.e2e.test_streams import PNG, STREAMS, created, practitioner

EVENT_SECONDS = 20.0


async def image_post(client: httpx.AsyncClient, owner: Account, base: str, level: int) -> str:
    """A published image post at `level`, its image uploaded straight to the store; the
    post's path."""
    form = await created(
        await client.post(
            f"{base}/media", json={"content_type": "image/png"}, headers=owner.headers
        )
    )
    uploaded = await client.post(
        form["url"], data=form["fields"], files={"file": ("view.png", PNG, "image/png")}
    )
    assert uploaded.status_code == 204, uploaded.text
    return await published_post(
        client, owner, base, level, kind="image", media_ids=[form["media_id"]]
    )


async def test_a_reader_subscribes_reads_tips_cancels_and_loses_the_tier_at_the_periods_end(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        stream = await created(
            await client.post(STREAMS, json={"title": "Breath"}, headers=pia.headers)
        )
        base = f"{STREAMS}/{stream['stream_id']}"
        for name, price in (("Friends", 500), ("Circle", 900)):
            await created(
                await client.post(
                    f"{base}/tiers",
                    json={"display_name": name, "price": eur(price)},
                    headers=pia.headers,
                )
            )
        post = await image_post(client, pia, base, 1)
        inner = await published_post(client, pia, base, 2)

        cleo = await sign_up(client)
        made = await subscribe(client, cleo, base, 1)
        assert made.status_code == 201, made.text
        subscription = made.json()
        assert (subscription["price"], subscription["granted_level"]) == (eur(500), 1)
        name = f"streamSubscriptions/{subscription['subscription_id']}"
        granted = await tap.next(
            "stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name, sequence=1
        )
        assert granted.message.granted_level == 1

        async def in_feed() -> dict | None:
            feed = (await client.get("/api/v1/me/feed", headers=cleo.headers)).json()
            posts = {f"{base}/posts/{p['post_id']}": p for p in feed["results"]}
            return posts if post in posts and not posts[post]["locked"] else None

        feed = await eventually(in_feed, timeout=EVENT_SECONDS)
        assert feed[inner]["locked"]
        [medium] = feed[post]["media"]
        image = f"{post}/media/{medium['media_id']}"
        link = await client.get(image, headers=cleo.headers)
        assert link.status_code == 200, link.text
        viewed = await client.get(link.json()["url"])
        assert (viewed.status_code, viewed.content) == (200, PNG)

        tipped = await tip(client, cleo, post, eur(300))
        assert tipped.status_code == 201, tipped.text
        paid = await card_step(client, cleo, tipped.json()["payment_intent_id"], "pm_card_visa")
        assert paid.status_code == 200, paid.text
        order = f"streamOrders/{tipped.json()['order_id']}"
        assert (await tap.next("stream_order.paid", timeout=EVENT_SECONDS, order=order)).message

        path = f"/api/v1/stream-subscriptions/{subscription['subscription_id']}"
        cancelled = await client.post(f"{path}/cancel", headers=cleo.headers)
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["cancel_at_period_end"], cancelled.json()["granted_level"]) == (
            True,
            1,
        )
        assert not (await client.get(post, headers=cleo.headers)).json()["locked"]

        period_end = datetime.fromisoformat(cancelled.json()["current_period_end"])
        await bill_due_subscriptions(stack, period_end + timedelta(seconds=1))
        ended = await tap.next(
            "stream_subscription.changed", timeout=EVENT_SECONDS, subscription=name, sequence=3
        )
        assert ended.message.granted_level == 0

        async def locked_again() -> bool:
            return bool((await client.get(post, headers=cleo.headers)).json()["locked"])

        assert await eventually(locked_again, timeout=EVENT_SECONDS)
        refused = await client.get(image, headers=cleo.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "POST_LOCKED"), refused.text
        assert "every invariant holds" in ledger_check(stack)
