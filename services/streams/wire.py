"""Streams' proto mapping: streams, tiers, posts and follows."""

from __future__ import annotations

from chassis.wire import ProtoEnum, timestamp
from estuary.streams.v1 import streams_pb2 as pb
from services.streams.domain.streams import STREAM_PREFIX, Follow, Post, PostState, Stream, Tier

POST_STATES = ProtoEnum(pb.PostState, PostState)


def tier_to_proto(tier: Tier) -> pb.Tier:
    return pb.Tier(
        name=f"{STREAM_PREFIX}{tier.stream_id}/tiers/{tier.level}",
        level=tier.level,
        display_name=tier.display_name,
        price=tier.price.to_proto(),
    )


def stream_to_proto(stream: Stream) -> pb.Stream:
    return pb.Stream(
        name=STREAM_PREFIX + stream.id,
        owner_user_id=stream.owner_user_id,
        title=stream.title,
        description=stream.description,
        tiers=[tier_to_proto(t) for t in stream.tiers],
        create_time=timestamp(stream.created_at),
        update_time=timestamp(stream.updated_at),
    )


def post_to_proto(post: Post) -> pb.Post:
    stream = STREAM_PREFIX + post.stream_id
    message = pb.Post(
        name=f"{stream}/posts/{post.id}",
        stream=stream,
        title=post.title,
        body=post.body,
        level=post.level,
        state=POST_STATES.to_proto(post.state),  # type: ignore[arg-type]
        locked=post.locked,
        create_time=timestamp(post.created_at),
    )
    if post.published_at is not None:
        message.publish_time.CopyFrom(timestamp(post.published_at))
    return message


def follow_to_proto(follow: Follow) -> pb.Follow:
    return pb.Follow(
        name=f"{STREAM_PREFIX}{follow.stream_id}/follows/{follow.user_id}",
        user_id=follow.user_id,
        level=follow.level,
        create_time=timestamp(follow.created_at),
    )
