"""Streams' proto mapping: streams, tiers, posts (with their polls), follows, comments, lives
and room tokens."""

from __future__ import annotations

from chassis.media import SignedUrl, UploadForm
from chassis.wire import ProtoEnum, timestamp
from estuary.streams.v1 import rooms_pb2 as pb_rooms
from estuary.streams.v1 import streams_pb2 as pb
from estuary.type.v1 import money_pb2
from services.streams.domain.analytics import StreamAnalytics
from services.streams.domain.engagement import Comment, Poll
from services.streams.domain.media import PostKind
from services.streams.domain.rooms import Live
from services.streams.domain.sales import Amounts, Breakdown, Revenue, SaleTerms
from services.streams.domain.streams import STREAM_PREFIX, Follow, Post, PostState, Stream, Tier
from services.streams.rooms import RoomPass

POST_STATES = ProtoEnum(pb.PostState, PostState)
POST_KINDS = ProtoEnum(pb.PostKind, PostKind)


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
        like_count=post.like_count,
        comment_count=post.comment_count,
        liked_by_me=post.liked_by_me,
        saved_by_me=post.saved_by_me,
        kind=POST_KINDS.to_proto(post.kind),  # type: ignore[arg-type]
        media=[
            pb.PostMedium(media_id=m.id, content_type=m.content_type, size_bytes=m.size)
            for m in post.media
        ],
    )
    if post.published_at is not None:
        message.publish_time.CopyFrom(timestamp(post.published_at))
    if post.scheduled_for is not None:
        message.schedule_time.CopyFrom(timestamp(post.scheduled_for))
    if post.poll is not None:
        message.poll.CopyFrom(poll_to_proto(post.poll))
    if post.unlock_price is not None:
        message.unlock_price.CopyFrom(post.unlock_price.to_proto())
    message.unlocked = post.unlocked
    return message


def post_kind(post: pb.Post) -> PostKind:
    """The kind a written post names (unspecified: text)."""
    return POST_KINDS.from_proto(post.kind) or PostKind.TEXT


def media_ids(post: pb.Post) -> list[str]:
    """The uploads a written post names, in order."""
    return [m.media_id for m in post.media]


def media_upload_to_proto(media_id: str, form: UploadForm) -> pb.PostMediaUpload:
    return pb.PostMediaUpload(
        media_id=media_id,
        upload_url=form.url,
        upload_fields=form.fields,
        content_type=form.content_type,
        max_bytes=form.max_bytes,
        expire_time=timestamp(form.expires_at),
    )


def media_url_to_proto(signed: SignedUrl) -> pb.PostMediaUrl:
    return pb.PostMediaUrl(url=signed.url, expire_time=timestamp(signed.expires_at))


def poll_to_proto(poll: Poll) -> pb.Poll:
    return pb.Poll(
        options=[
            pb.PollOption(text=o.text, vote_count=o.votes, chosen_by_me=o.chosen_by_me)
            for o in poll.options
        ]
    )


def poll_texts(post: pb.Post) -> list[str]:
    """The option texts a post's poll names (none: no poll)."""
    return [o.text for o in post.poll.options]


def comment_name(stream_id: str, post_id: str, comment_id: str) -> str:
    return f"{STREAM_PREFIX}{stream_id}/posts/{post_id}/comments/{comment_id}"


def comment_to_proto(comment: Comment) -> pb.Comment:
    message = pb.Comment(
        name=comment_name(comment.stream_id, comment.post_id, comment.id),
        reply_to=""
        if comment.reply_to is None
        else comment_name(comment.stream_id, comment.post_id, comment.reply_to),
        author_user_id=comment.author_user_id,
        text=comment.text,
        deleted=comment.deleted,
        hidden=comment.hidden,
        create_time=timestamp(comment.created_at),
    )
    if comment.edited_at is not None:
        message.edit_time.CopyFrom(timestamp(comment.edited_at))
    return message


def follow_to_proto(follow: Follow) -> pb.Follow:
    return pb.Follow(
        name=f"{STREAM_PREFIX}{follow.stream_id}/follows/{follow.user_id}",
        user_id=follow.user_id,
        level=follow.level,
        create_time=timestamp(follow.created_at),
    )


def live_to_proto(live: Live) -> pb_rooms.Live:
    stream = STREAM_PREFIX + live.stream_id
    return pb_rooms.Live(
        name=f"{stream}/live",
        stream=stream,
        room=live.room,
        level=live.level,
        start_time=timestamp(live.started_at),
    )


def room_pass_to_proto(granted: RoomPass) -> pb_rooms.RoomToken:
    return pb_rooms.RoomToken(
        room=granted.admission.room,
        token=granted.token,
        url=granted.url,
        identity=granted.admission.user_id,
        can_publish=granted.admission.can_publish,
        expire_time=timestamp(granted.expires_at),
    )


def sale_terms_to_proto(terms: SaleTerms) -> pb.SaleTerms:
    stream = STREAM_PREFIX + terms.stream_id
    message = pb.SaleTerms(
        stream=stream,
        post=f"{stream}/posts/{terms.post_id}" if terms.post_id else "",
        owner_user_id=terms.owner_user_id,
        currency=terms.currency,
    )
    if terms.unlock_price is not None:
        message.unlock_price.CopyFrom(terms.unlock_price.to_proto())
    if terms.tier is not None:
        message.tier = f"{stream}/tiers/{terms.tier.level}"
        message.level = terms.tier.level
        message.tier_display_name = terms.tier.display_name
        message.tier_price.CopyFrom(terms.tier.price.to_proto())
    return message


def _amounts(breakdown: Breakdown) -> list[pb.RevenueAmounts]:
    return [
        pb.RevenueAmounts(
            currency=a.currency,
            tips=_in(a, a.tips_minor),
            tip_count=a.tip_count,
            unlocks=_in(a, a.unlocks_minor),
            unlock_count=a.unlock_count,
            earning=_in(a, a.earning_minor),
            subscriptions=_in(a, a.subscriptions_minor),
            subscription_count=a.subscription_count,
        )
        for a in breakdown
    ]


def _in(amounts: Amounts, minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=minor, currency=amounts.currency)


def revenue_to_proto(revenue: Revenue) -> pb.StreamRevenue:
    stream = STREAM_PREFIX + revenue.stream_id
    return pb.StreamRevenue(
        name=f"{stream}/revenue",
        totals=_amounts(revenue.totals),
        months=[pb.MonthRevenue(month=m, amounts=_amounts(a)) for m, a in revenue.months],
        posts=[
            pb.PostRevenue(post=f"{stream}/posts/{p}", amounts=_amounts(a))
            for p, a in revenue.posts
        ],
    )


def analytics_to_proto(found: StreamAnalytics) -> pb.StreamAnalytics:
    stream = STREAM_PREFIX + found.stream_id
    return pb.StreamAnalytics(
        name=f"{stream}/analytics",
        subscribers=[
            pb.SubscriberDay(
                date=day.day.isoformat(),
                levels=[pb.LevelFollowers(level=lv, followers=n) for lv, n in day.by_level],
                total=day.total,
            )
            for day in found.subscribers
        ],
        posts=[
            pb.PostEngagement(
                post=f"{stream}/posts/{p.post_id}",
                title=p.title,
                level=p.level,
                publish_time=timestamp(p.published_at),
                like_count=p.likes,
                save_count=p.saves,
                comment_count=p.comments,
                poll_vote_count=p.poll_votes,
            )
            for p in found.posts
        ],
    )
