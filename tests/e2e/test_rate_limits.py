"""Rate limits at the gateway: the hourly budget of each kind of caller, the stricter
per-minute limits on registration and login, and one budget shared by every replica (the
limit on messages too, counted at each replica between reconciliations)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.ratelimit import RedisCounter
from gateway.settings import GatewaySettings
from tests.e2e.accounts import PASSWORD, bearer, new_email, register, sign_in_admin, sign_up
from tests.e2e.stacks import EmbeddedStack, start_embedded
from tests.infrastructure import require_redis, unique

HOUR = 3600
MINUTE = 60
# Hashing at its cheapest: these tests count requests, and dozens of logins should not take
# seconds each on a busy machine.
CHEAP_HASHING = {"identity": {"argon2_time_cost": 1, "argon2_memory_kib": 8}}


async def a_fresh_window(window_seconds: int, needed_seconds: float = 5.0) -> None:
    """Waits for the next fixed window when this one would end before the test is through,
    so that no budget is silently refilled half-way."""
    left = window_seconds - time.time() % window_seconds
    if left < needed_seconds:
        await asyncio.sleep(left + 0.1)


@asynccontextmanager
async def limited_stack(data_dir: Path, **limits: Any) -> AsyncIterator[EmbeddedStack]:
    stack = await start_embedded(data_dir, service_overrides=CHEAP_HASHING, **limits)
    try:
        yield stack
    finally:
        await stack.suite.stop()


def assert_throttled(answer: httpx.Response, window_seconds: int) -> None:
    """A 429 a client can act on: problem+json saying how long to wait."""
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "RATE_LIMITED"
    assert 0 < int(answer.headers["retry-after"]) <= window_seconds


def assert_budget_spent(answer: httpx.Response, limit: int) -> None:
    """The budget headers of a 429 describe the one budget that ran out, and only it."""
    assert answer.headers.get_list("ratelimit-limit") == [str(limit)]
    assert answer.headers.get_list("ratelimit-remaining") == ["0"]
    assert answer.headers.get_list("ratelimit-reset") == [answer.headers["retry-after"]]


async def test_an_anonymous_caller_gets_its_hourly_budget_then_429(tmp_path):
    await a_fresh_window(HOUR)
    async with (
        limited_stack(tmp_path, rate_limit_anonymous_per_hour=3) as stack,
        stack.client() as client,
    ):
        for remaining in ("2", "1", "0"):
            answer = await client.get("/api/v1/users/me")
            assert answer.status_code == 401
            assert answer.headers["ratelimit-limit"] == "3"
            assert answer.headers["ratelimit-remaining"] == remaining
        throttled = await client.get("/api/v1/users/me")
        assert_throttled(throttled, HOUR)
        assert_budget_spent(throttled, 3)
        # A bad token is no way around the budget either: it gets a 401, which tells the
        # client its token is bad (a 429 would have it wait and retry the same token), and
        # reaches no backend; without it the budget is still spent.
        for headers in (bearer("forged"), {"Authorization": "Basic YW5hOnNlY3JldA=="}):
            for path in ("/api/v1/users/me", "/api/v1/services/categories"):
                refused = await client.get(path, headers=headers)
                assert refused.status_code == 401, (path, refused.text)
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert refused.headers["ratelimit-remaining"] == "0"
        assert_throttled(await client.get("/api/v1/services/categories"), HOUR)
        # Probes and public keys stay reachable: orchestrators and verifiers are not users.
        for path in ("/healthz", "/readyz", "/.well-known/jwks.json"):
            assert (await client.get(path)).status_code == 200, path


async def test_a_made_up_forwarding_header_buys_no_fresh_budget(tmp_path):
    await a_fresh_window(HOUR)
    # Not behind our proxy (the default): X-Forwarded-For is whatever the client typed.
    async with (
        limited_stack(tmp_path, rate_limit_anonymous_per_hour=2) as stack,
        stack.client() as client,
    ):
        for n in range(2):
            await client.get("/api/v1/users/me", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        spoofed = await client.get("/api/v1/users/me", headers={"X-Forwarded-For": "192.0.2.9"})
        assert_throttled(spoofed, HOUR)


async def test_each_signed_in_user_has_a_larger_budget_of_their_own(tmp_path):
    await a_fresh_window(HOUR, needed_seconds=10)
    async with (
        limited_stack(
            tmp_path,
            rate_limit_anonymous_per_hour=5,
            rate_limit_client_per_hour=6,
            rate_limit_practitioner_per_hour=9,
        ) as stack,
        stack.client() as client,
    ):
        # Five anonymous requests: two sign-ups and three logins.
        ana = await sign_up(client)
        bea = await sign_up(client)
        admin = await sign_in_admin(stack, client)
        assert_throttled(await client.get("/api/v1/users/me"), HOUR)

        # Signing in read Ana's profile once: five of her six requests are left.
        remaining = [
            (await client.get("/api/v1/users/me", headers=ana.headers)).headers[
                "ratelimit-remaining"
            ]
            for _ in range(5)
        ]
        assert remaining == ["4", "3", "2", "1", "0"]
        assert_throttled(await client.get("/api/v1/users/me", headers=ana.headers), HOUR)

        theirs = await client.get("/api/v1/users/me", headers=bea.headers)
        assert theirs.status_code == 200 and theirs.headers["ratelimit-limit"] == "6"
        staff = await client.get("/api/v1/users/me", headers=admin.headers)
        assert staff.status_code == 200 and staff.headers["ratelimit-limit"] == "9"


async def test_registration_is_limited_per_address(tmp_path):
    await a_fresh_window(MINUTE)
    # Behind our proxy, which names each client's address in X-Forwarded-For.
    async with (
        limited_stack(
            tmp_path, rate_limit_register_per_minute=5, trust_forwarded_for=True
        ) as stack,
        stack.client() as client,
    ):
        here = {"X-Forwarded-For": "203.0.113.10"}
        for _ in range(5):
            await register(client, headers=here)
        refused_email = new_email()
        refused = await client.post(
            "/api/v1/auth/register",
            headers=here,
            json={"email": refused_email, "password": PASSWORD, "full_name": "Ana Sousa"},
        )
        assert_throttled(refused, MINUTE)
        never_made = await client.post(
            "/api/v1/auth/login", json={"email": refused_email, "password": PASSWORD}
        )
        assert never_made.status_code == 401
        await register(client, headers={"X-Forwarded-For": "203.0.113.11"})


async def test_behind_our_proxy_only_the_address_it_saw_counts(tmp_path):
    await a_fresh_window(MINUTE)
    # Our proxy appends the address it saw to whatever X-Forwarded-For the client sent.
    async with (
        limited_stack(
            tmp_path, rate_limit_register_per_minute=2, trust_forwarded_for=True
        ) as stack,
        stack.client() as client,
    ):
        for n in range(2):
            await register(client, headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.30"})
        refused = await client.post(
            "/api/v1/auth/register",
            headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.30"},
            json={"email": new_email(), "password": PASSWORD, "full_name": "Ana Sousa"},
        )
        assert_throttled(refused, MINUTE)


async def login(
    client: httpx.AsyncClient, email: str, password: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", headers=headers, json={"email": email, "password": password}
    )


async def test_login_is_limited_per_address_and_email(tmp_path):
    await a_fresh_window(MINUTE)
    async with (
        limited_stack(tmp_path, rate_limit_login_per_minute=10, trust_forwarded_for=True) as stack,
        stack.client() as client,
    ):
        ana = (await register(client))["email"]
        bea = (await register(client))["email"]
        here = {"X-Forwarded-For": "203.0.113.20"}
        for _ in range(10):
            assert (await login(client, ana, "guessing-her-password", here)).status_code == 401
        # Now even the right password waits, and so does the same address in capitals.
        assert_throttled(await login(client, ana, PASSWORD, here), MINUTE)
        assert_throttled(await login(client, ana.upper(), PASSWORD, here), MINUTE)
        # The limit is on this email from this address: others carry on.
        assert (await login(client, bea, PASSWORD, here)).status_code == 200
        elsewhere = {"X-Forwarded-For": "203.0.113.21"}
        assert (await login(client, ana, PASSWORD, elsewhere)).status_code == 200


FULL_WIDTH_OFFSET = 0xFEE0  # from an ASCII letter to its full-width twin (U+FF41 for a)


def spellings(email: str, count: int) -> list[str]:
    """The address with one of its letters, in turn, written full-width: the same account."""
    letters = [n for n, c in enumerate(email) if c.isascii() and c.isalpha()]
    assert len(letters) >= count
    return [email[:n] + chr(ord(email[n]) + FULL_WIDTH_OFFSET) + email[n + 1 :] for n in letters][
        :count
    ]


async def test_no_spelling_of_an_address_gets_a_fresh_login_limit(tmp_path):
    await a_fresh_window(MINUTE)
    async with (
        limited_stack(tmp_path, rate_limit_login_per_minute=10) as stack,
        stack.client() as client,
    ):
        ana = (await register(client))["email"]
        for _ in range(10):
            assert (await login(client, ana, "guessing-her-password", {})).status_code == 401
        answers = [await login(client, spelling, PASSWORD, {}) for spelling in spellings(ana, 13)]
        logged_in = [a for a in answers if a.status_code == 200]
        assert (len(answers), len(logged_in)) == (13, 0)
        for answer in answers:
            assert_throttled(answer, MINUTE)


async def test_an_access_token_buys_no_attempts_at_login_register_or_reset(tmp_path):
    await a_fresh_window(HOUR, needed_seconds=10)
    async with (
        limited_stack(tmp_path, rate_limit_anonymous_per_hour=4) as stack,
        stack.client() as client,
    ):
        ana = await sign_up(client)  # two anonymous requests, then one on her own budget
        for _ in range(2):
            await client.get("/api/v1/services/categories")
        assert_throttled(await client.get("/api/v1/services/categories"), HOUR)
        # Her token is worth her own budget on her own business...
        assert (await client.get("/api/v1/users/me", headers=ana.headers)).status_code == 200
        # ...and nothing on the routes where the caller is whoever the body names.
        for path, body in (
            ("/api/v1/auth/login", {"email": ana.email, "password": PASSWORD}),
            (
                "/api/v1/auth/register",
                {"email": new_email(), "password": PASSWORD, "full_name": "Ana Sousa"},
            ),
            ("/api/v1/auth/password/reset", {"email": ana.email}),
            ("/api/v1/auth/token/refresh", {"refresh_token": ana.refresh_token}),
        ):
            throttled = await client.post(path, json=body, headers=ana.headers)
            assert_throttled(throttled, HOUR)
            assert_budget_spent(throttled, 4)


async def test_reset_and_registration_are_limited_per_email_from_any_address(tmp_path):
    await a_fresh_window(MINUTE)
    async with (
        limited_stack(
            tmp_path,
            rate_limit_login_per_minute=3,
            rate_limit_register_per_minute=2,
            trust_forwarded_for=True,
        ) as stack,
        stack.client() as client,
    ):
        ana = await sign_up(client)
        addresses = [{"X-Forwarded-For": f"198.51.100.{n}", **ana.headers} for n in range(4)]
        for n in range(3):
            answer = await client.post(
                "/api/v1/auth/password/reset",
                json={"email": spellings(ana.email, 3)[n]},
                headers=addresses[n],
            )
            assert answer.status_code == 202, answer.text
        refused = await client.post(
            "/api/v1/auth/password/reset", json={"email": ana.email}, headers=addresses[3]
        )
        assert_throttled(refused, MINUTE)

        bea = new_email("bea")
        for n, expected in ((0, 201), (1, 409)):
            answer = await client.post(
                "/api/v1/auth/register",
                json={"email": bea, "password": PASSWORD, "full_name": "Bea"},
                headers=addresses[n],
            )
            assert answer.status_code == expected, answer.text
        refused = await client.post(
            "/api/v1/auth/register",
            json={"email": bea.upper(), "password": PASSWORD, "full_name": "Bea"},
            headers=addresses[2],
        )
        assert_throttled(refused, MINUTE)


async def test_a_throttled_login_reports_the_login_budget_alone(tmp_path):
    await a_fresh_window(MINUTE)
    async with (
        limited_stack(tmp_path, rate_limit_login_per_minute=2) as stack,
        stack.client() as client,
    ):
        ana = (await register(client))["email"]
        for _ in range(2):
            await login(client, ana, "guessing-her-password", {})
        throttled = await login(client, ana, PASSWORD, {})
        assert_throttled(throttled, MINUTE)
        assert_budget_spent(throttled, 2)


@asynccontextmanager
async def clients_of(
    replicas: list[Any],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two gateway replicas started, and a client of each."""
    one_app, two_app = replicas
    async with (
        one_app.router.lifespan_context(one_app),
        two_app.router.lifespan_context(two_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=one_app), base_url="http://one") as one,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=two_app), base_url="http://two") as two,
    ):
        yield one, two


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own in the shared Redis, deleted afterwards."""
    url = require_redis()
    prefix = unique("estuary:test:ratelimit") + ":"
    yield prefix
    redis = Redis.from_url(url)
    async with redis:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)


# Longer than RedisCounter's flush interval (0.1 s), with room for a busy machine.
FLUSH_WAIT = 0.5


@pytest.mark.redis
async def test_gateway_replicas_share_one_budget_through_redis(tmp_path, redis_prefix):
    await a_fresh_window(HOUR)
    url = require_redis()
    async with limited_stack(tmp_path) as stack:
        settings = GatewaySettings(
            identity_address=stack.identity_address,
            catalog_address=f"127.0.0.1:{stack.suite.ports['catalog']}",
            rate_limit_anonymous_per_hour=3,
        )
        replicas = [
            create_app(settings, counter=RedisCounter(url, prefix=redis_prefix)) for _ in range(2)
        ]
        async with clients_of(replicas) as (one, two):
            remaining = [
                (await one.get("/api/v1/users/me")).headers["ratelimit-remaining"] for _ in range(2)
            ]
            assert remaining == ["2", "1"]
            # Hourly budgets reach Redis in batches: after a flush the other replica counts
            # the first one's hits with its own.
            await asyncio.sleep(FLUSH_WAIT)
            assert (await two.get("/api/v1/users/me")).headers["ratelimit-remaining"] == "0"
            await asyncio.sleep(FLUSH_WAIT)
            assert_throttled(await two.get("/api/v1/users/me"), HOUR)
            assert_throttled(await one.get("/api/v1/users/me"), HOUR)


class CountingCounter(RedisCounter):
    """RedisCounter that notes which keys it was asked to count exactly (a round trip to
    Redis per hit) and which at the replica."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self.asked: list[tuple[str, bool]] = []

    async def hit(self, key: str, window_seconds: int, *, exact: bool = True) -> tuple[int, int]:
        self.asked.append((key.split(":")[0], exact))
        return await super().hit(key, window_seconds, exact=exact)


@pytest.mark.redis
async def test_the_message_limit_is_counted_at_each_replica_and_shared(tmp_path, redis_prefix):
    await a_fresh_window(MINUTE)
    url = require_redis()
    async with limited_stack(tmp_path, rate_limit_messages_per_minute=3) as stack:
        counters = [CountingCounter(url, redis_prefix) for _ in range(2)]
        replicas = [
            create_app(stack.suite.gateway_settings(), counter=counter) for counter in counters
        ]
        async with clients_of(replicas) as (one, two):
            ana = await sign_up(one, new_email("ana"))
            # No such conversation: messaging answers 404, after the limit counted the send.
            path = "/api/v1/conversations/00000000-0000-4000-8000-000000000000/messages"
            for _ in range(3):
                sent = await one.post(path, json={"text": "hi"}, headers=ana.headers)
                assert sent.status_code == 404, sent.text
            refused = await one.post(path, json={"text": "hi"}, headers=ana.headers)
            assert_throttled(refused, MINUTE)
            assert_budget_spent(refused, 3)
            # Sends are not credentials: no send waits on Redis but a window's first.
            assert [exact for key, exact in counters[0].asked if key == "messages"] == [False] * 4
            await asyncio.sleep(FLUSH_WAIT)
            assert_throttled(await two.post(path, json={"text": "hi"}, headers=ana.headers), MINUTE)


async def test_webhook_deliveries_have_a_budget_of_their_own(tmp_path):
    await a_fresh_window(MINUTE)
    async with (
        limited_stack(
            tmp_path, rate_limit_anonymous_per_hour=2, rate_limit_webhooks_per_minute=4
        ) as stack,
        stack.client() as client,
    ):
        # Unsigned or forged, so refused by payments (400) and streams (401), but none spends
        # the anonymous budget; LiveKit's Authorization is its signature, not a user's token.
        for _ in range(2):
            delivered = await client.post("/api/v1/webhooks/stripe", content=b"{}")
            assert delivered.status_code == 400, delivered.text
            assert delivered.headers["ratelimit-limit"] == "4"
            forged = await client.post(
                "/api/v1/webhooks/livekit",
                content=b"{}",
                headers={"Authorization": "Bearer a.forged.signature"},
            )
            assert (forged.status_code, forged.json()["code"]) == (
                401,
                "WEBHOOK_BAD_SIGNATURE",
            ), forged.text
            assert forged.headers["ratelimit-limit"] == "4"
        assert_throttled(await client.post("/api/v1/webhooks/stripe", content=b"{}"), MINUTE)
        for _ in range(2):
            anonymous = await client.get("/api/v1/users/me")
            assert anonymous.status_code == 401, anonymous.text
        assert_throttled(await client.get("/api/v1/users/me"), HOUR)
