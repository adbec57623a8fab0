"""A subscriber's feed, through the gateway.

**GET /me/feed (16 conns)**: one client follows 50 streams of 20 published posts each (1,000
posts; half the streams at their paid level, so the other half's paid posts come as locked
teasers; every fifth post an image post with its medium, every tenth a poll, five likes
each). 16 connections, each a session of that client, ask for the feed's first page (20
posts, newest published first) again and again. Each is gateway -> streams over gRPC -> the
feed's statements (the page and its count, then likes, comments, the reader's likes and
saves, polls and media of the page's posts). Reported: requests/s, p50, p99 and the
servers' CPU per request (divided between the gateway and streams in production).

The streams, posts and follows are written straight into streams' database through its own
repositories before the load (setting them up is not what is measured); the client signs
up through the gateway.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx

from bench.figures import Figure, say
from bench.loadgen import Endpoint
from bench.rest import RestBench, open_account
from bench.shapes import BenchRun, Shape
from chassis.clock import Clock
from chassis.db import Database
from chassis.ids import new_id
from chassis.money import Money
from services.streams.domain.engagement import Poll, PollOption
from services.streams.domain.media import MediaUpload, PostKind
from services.streams.domain.streams import Follow, Post, PostState, Stream, Tier
from services.streams.uow import StreamsUnitOfWork

STREAMS = 50
POSTS_EACH = 20
LIKES_EACH = 5
CONNECTIONS = 16
PAGE = 20
FEED_PATH = f"/api/v1/me/feed?limit={PAGE}"
FEED_P99_TARGET_MS = 50.0


async def seed_feed(database_url: str, reader_id: str) -> None:
    """STREAMS streams of POSTS_EACH published posts, the reader following every one (every
    other one at its paid level), written through streams' repositories."""
    database = Database(database_url, pool_size=1)
    clock = Clock()
    now = clock.now()
    try:
        for s in range(STREAMS):
            async with StreamsUnitOfWork(database, source="bench", clock=clock) as uow:
                stream_id, owner_id = new_id(), new_id()
                tiers = (
                    Tier(stream_id, 0, "Free", Money(0, "EUR")),
                    Tier(stream_id, 1, "Circle", Money(500, "EUR")),
                )
                await uow.streams.add(
                    Stream(stream_id, owner_id, f"Bench stream {s}", "", now, now, tiers)
                )
                for p in range(POSTS_EACH):
                    # The streams' posts interleave in time, as a real feed's do.
                    published = now - timedelta(minutes=p * STREAMS + s)
                    image = p % 5 == 0
                    post = Post(
                        new_id(),
                        stream_id,
                        f"Post {p} of stream {s}",
                        "A few lines of practice for the day. " * 8,
                        p % 2,
                        PostState.PUBLISHED,
                        published,
                        published,
                        kind=PostKind.IMAGE if image else PostKind.TEXT,
                    )
                    await uow.posts.add(post)
                    if p % 10 == 0:
                        options = (PollOption("Morning"), PollOption("Evening"))
                        await uow.engagement.set_poll(post.id, Poll(options))
                    if image:
                        upload = MediaUpload(
                            new_id(), stream_id, owner_id, "image/jpeg", 1 << 20, published
                        )
                        await uow.media.add_pending(upload)
                        await uow.media.attach(upload.id, post.id, 0, 180_000)
                    for _ in range(LIKES_EACH):
                        await uow.engagement.like(post.id, new_id(), published)
                await uow.follows.add(Follow(stream_id, reader_id, 0, now))
                if s % 2:
                    await uow.follows.set_level(stream_id, reader_id, 1, now)
                await uow.commit()
    finally:
        await database.dispose()


async def feed_figures(rest: RestBench, shape: Shape, run: BenchRun) -> list[Figure]:
    """The first page of a feed of 1,000 posts from 50 streams, at 16 connections."""
    account = await open_account(shape, run, CONNECTIONS)
    say(f"{shape.name}: feed: {STREAMS} streams of {POSTS_EACH} posts, followed by one client")
    await seed_feed(shape.database_url("streams"), account.user_id)
    async with httpx.AsyncClient(
        base_url=shape.base_url, timeout=60.0, headers={"X-Forwarded-For": run.client_address}
    ) as client:
        first = await client.get(
            FEED_PATH, headers={"Authorization": f"Bearer {account.sessions[0].access_token}"}
        )
    page = first.json()
    if first.status_code != 200 or (len(page["results"]), page.get("total")) != (
        PAGE,
        STREAMS * POSTS_EACH,
    ):
        raise RuntimeError(f"the feed answered {first.status_code}: {first.text[:500]}")
    say(f"{shape.name}: GET /me/feed, {CONNECTIONS} connections")
    found, split = await rest.measure_by_process(
        [Endpoint("GET", FEED_PATH, bearer=s.access_token) for s in account.sessions]
    )
    label = f"GET /me/feed, 50 streams x 20 posts ({CONNECTIONS} conns)"
    p99 = found.latencies.p99_ms
    return [
        replace(f, target=f"< {FEED_P99_TARGET_MS:.0f} ms", met=p99 < FEED_P99_TARGET_MS)
        if f.name == f"{label} p99"
        else replace(f, detail=f.detail + split)
        if f.name == f"{label} server CPU/request"
        else f
        for f in rest.summarise(label, found)
    ]
