"""What the end-to-end tests know of payments' routes, and payments' offline steps: the
running suite's payments database and sandbox file, reached as booking_steps reaches
booking's, for what time does (an earning's hold ending); and the provider's onboarding pages,
which the sandbox has the gateway serve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from chassis.clock import FrozenClock
from services.payments.bootstrap import WEBHOOK_ROUTE
from tests.builders import built_payments
from tests.e2e.stacks import EmbeddedStack, ProductionStack, Stack

# Every write route payments serves to a bearer, each with its account-status scenario in
# test_payments_accounts.py, test_platform_subscriptions.py, test_credits.py or
# test_stream_money.py or test_stream_subscriptions.py (test_account_status.py holds that none
# is left out): a client's checkout, a practitioner's payouts, their platform subscription, a
# client's credits and gift cards, their tips and unlocks, and their stream subscriptions.
CHECKOUT_WRITE_ROUTES = [
    ("POST", "/api/v1/checkout"),
    ("POST", "/api/v1/sandbox/payment-intents/{payment_intent_id}/confirm"),
]
PAYOUT_WRITE_ROUTES = [
    ("POST", "/api/v1/me/payout-account"),
    ("POST", "/api/v1/me/payouts"),
]
SUBSCRIPTION_WRITE_ROUTES = [
    ("POST", "/api/v1/me/platform-subscription"),
    ("PATCH", "/api/v1/me/platform-subscription"),
    ("DELETE", "/api/v1/me/platform-subscription"),
]
CREDIT_WRITE_ROUTES = [
    ("POST", "/api/v1/me/credits/top-ups"),
    ("POST", "/api/v1/me/credits/redemptions"),
    ("POST", "/api/v1/me/gift-cards"),
    ("POST", "/api/v1/me/gift-cards/redemptions"),
]
STREAM_ORDER_WRITE_ROUTES = [
    ("POST", "/api/v1/streams/{stream_id}/tips"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/tips"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/unlock"),
]
STREAM_SUBSCRIPTION_WRITE_ROUTES = [
    ("POST", "/api/v1/streams/{stream_id}/subscriptions"),
    ("PATCH", "/api/v1/stream-subscriptions/{subscription_id}"),
    ("POST", "/api/v1/stream-subscriptions/{subscription_id}/cancel"),
]
PAYMENTS_WRITE_ROUTES = (
    CHECKOUT_WRITE_ROUTES
    + PAYOUT_WRITE_ROUTES
    + SUBSCRIPTION_WRITE_ROUTES
    + CREDIT_WRITE_ROUTES
    + STREAM_ORDER_WRITE_ROUTES
    + STREAM_SUBSCRIPTION_WRITE_ROUTES
)


@asynccontextmanager
async def offline_payments(stack: Stack, **settings: Any) -> AsyncIterator[Any]:
    """Payments built on the running suite's payments database and sandbox file: what it
    writes goes out through the running payments (its outbox's relay, the sandbox's
    deliveries), as its own would."""
    if isinstance(stack, EmbeddedStack):
        url, sandbox = stack.suite.database_url("payments"), stack.suite.data_dir
    else:
        assert isinstance(stack, ProductionStack)
        url, sandbox = stack.database_urls["payments"], stack.workdir
    async with built_payments(url, sandbox_dir=str(sandbox), **settings) as offline:
        yield offline


async def bill_due_subscriptions(stack: Stack, at: datetime) -> None:
    """The sandbox's billing run as of `at` (Stripe's own at a period's end: renewals charged,
    subscriptions set to cancel ended), then its webhooks sent now to this stack's gateway, as
    Stripe sends them. The production shape's sandbox is shared by the session's tests, so
    others' subscriptions due by then move too: a test looks at its own."""
    async with offline_payments(stack, clock=FrozenClock(at)) as then:
        await then.provider.renew_subscriptions()
    webhooks = {"sandbox_webhook_url": stack.base_url + WEBHOOK_ROUTE}
    async with offline_payments(stack, **webhooks) as now:
        await now.provider.deliver_webhooks()


async def release_earnings(stack: Stack, at: datetime) -> int:
    """Payments' release job as of `at` (an earning's hold ended), on the running suite's
    database; how many earnings became available."""
    async with offline_payments(stack) as offline:
        released: int = await offline.treasury.release_earnings(now=at)
    return released


async def finish_onboarding(stack: Stack, onboarding_url: str) -> str:
    """The practitioner's browser at their account link: the sandbox's stand-in for Stripe's
    hosted pages, served by this stack's gateway (a page, then its one button); where they
    are sent back to."""
    assert onboarding_url.startswith(stack.base_url + "/sandbox/payout-onboarding/"), onboarding_url
    async with stack.client() as browser:
        page = await browser.get(onboarding_url)
        assert page.status_code == 200 and "Finish onboarding" in page.text, page.text
        finished = await browser.post(onboarding_url)
        assert finished.status_code == 303, finished.text
        again = await browser.post(onboarding_url)
        # Single-use: a second visit is sent to the refresh URL and changes nothing.
        assert again.status_code == 303, again.text
    return finished.headers["location"]
