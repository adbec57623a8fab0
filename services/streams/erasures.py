"""An erased creator's streams close: gone for readers (NOT_FOUND, as a stream that never
was, so nobody learns that a person erased their account), in no feed and no one's saved
posts, followed by no one, with nothing more sold (payments asks streams for a sale's terms
and is told NOT_FOUND), their posts' words erased and their media deleted from the store.
What readers paid stays as money records; they name no words of the creator's.

The media store is outside the transaction, so the erasure deletes no object itself: it
marks every upload to the stream discarded, in the transaction that closes it and records
the event in the inbox, and the media sweeper (chassis.media.sweeper, the job
streams.sweep_post_media) deletes each object, then its row. A crash before the commit
leaves nothing marked and the redelivered event does it all; after it, the rows stay until
their objects are gone; a crash between an object's deletion and its row's leaves the row,
and the next run deletes the object again, which the store takes as done. No URL to one is
handed out meanwhile: the stream is closed, and a discarded medium has no key to read."""

from __future__ import annotations

from services.streams.domain.streams import STREAM_PREFIX
from services.streams.uow import StreamsUnitOfWork


def creator_lock(user_id: str) -> str:
    """The lock a creator's erasure and the making of their stream take, so that one sees
    the other: a stream made at the erasure's moment is closed with the rest, or refused."""
    return f"streams.creator.{user_id}"


async def close_streams_of(uow: StreamsUnitOfWork, user_id: str) -> None:
    """Closes an erased creator's streams, once: a redelivery finds them closed already."""
    await uow.serialize(creator_lock(user_id))
    now = uow.clock.now()
    for stream_id in await uow.streams.close_owned_by(user_id, now):
        for post_id in await uow.posts.erase(stream_id):
            # The outbox keeps its announcement, which carries its title.
            await uow.forget_subject(f"{STREAM_PREFIX}{stream_id}/posts/{post_id}")
        await uow.media.discard_stream(stream_id)
        await uow.follows.end_stream(stream_id, now)
        await uow.engagement.unsave_stream(stream_id)
