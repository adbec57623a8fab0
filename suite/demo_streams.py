"""The demo's streams: the first practitioners each run a stream with a free and a paid tier,
published posts (one for the paid tier, one a poll, one an image post whose small picture is
in the data folder's media store) and a draft that publishes itself tomorrow; the demo
client follows them at the free level, so their feed shows posts whole and the paid one as a
locked teaser. The posts' stream.post_published events wait in streams' outbox: on the next
`estuary up` messaging tells the demo client of each post they may read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from chassis.auth.principal import Role
from chassis.media import FolderMediaStore
from chassis.money import Money
from services.streams.domain.media import PostKind
from suite.demo_bookings import _user

STREAMS = (
    ("Morning breath", "Ten minutes to start the day, every weekday.", "Inner circle", 900),
    ("Move well", "Short routines for the minutes between meetings.", "Studio", 1200),
)
# Title, text, the tier level that reads it whole, a poll's options.
POSTS = (
    ("Welcome", "Sit tall, breathe out longer than you breathe in, and notice.", 0, ()),
    ("Deep practice", "Twenty minutes, step by step, for those in the paid tier.", 1, ()),
    ("When suits you?", "Tell me when you would join a live session.", 0, ("Mornings", "Evenings")),
)
SCHEDULED = ("Next week's plan", "What we will practise next week, day by day.")
IMAGE_POST = ("The view from the mat", "Where I practise in the morning.")
# A 2x2 steel-blue PNG: the demo's picture, small enough to live in the code.
PICTURE = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000104944415478da"
    "63706bda02440c100a0027e605f1ce0be46f0000000049454e44ae426082"
)


async def seed_streams(
    streams: Any, *, practitioner_user_ids: Sequence[str], client_id: str
) -> int:
    """Streams of the first practitioners, followed by the demo client; how many (none
    without a new client: a seeded demo keeps what it had)."""
    if not client_id:
        return 0
    desk = streams.desk
    reader = _user(client_id)
    owners = list(practitioner_user_ids)[: len(STREAMS)]
    for owner_id, (title, about, tier, price) in zip(owners, STREAMS, strict=False):
        owner = _user(owner_id, Role.CLIENT, Role.PRACTITIONER)
        stream = await desk.create_stream(owner, title, about)
        parent = f"streams/{stream.id}"
        await desk.create_tier(owner, parent, tier, Money(price, "EUR"))
        for post_title, text, level, poll in POSTS:
            post = await desk.create_post(owner, parent, post_title, text, level, list(poll))
            await desk.publish_post(owner, f"{parent}/posts/{post.id}")
        picture = await _uploaded_picture(streams, owner, parent)
        post = await desk.create_post(
            owner, parent, *IMAGE_POST, 0, kind=PostKind.IMAGE, media_ids=[picture]
        )
        await desk.publish_post(owner, f"{parent}/posts/{post.id}")
        tomorrow = streams.runtime.clock.now() + timedelta(days=1)
        await desk.create_post(owner, parent, *SCHEDULED, 0, scheduled_for=tomorrow)
        await desk.follow(reader, parent)
    return len(owners)


async def _uploaded_picture(streams: Any, owner: Any, parent: str) -> str:
    """The demo picture uploaded with the form streams hands out, stored as the gateway's
    upload route stores it (no gateway runs while seeding); its media id."""
    store = streams.media.store
    if not isinstance(store, FolderMediaStore):
        raise RuntimeError("the demo seeds embedded data only: the folder media store")
    media_id, form = await streams.media.upload(owner, parent, "image/png")
    await store.accept_upload(form.fields, _once(PICTURE))
    return str(media_id)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
