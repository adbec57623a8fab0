"""Streams' gRPC servicers (streams and their posts; video rooms): proto messages in and out,
nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chassis.context import current_user
from chassis.money import Money, money_from_proto
from chassis.wire import optional_instant
from estuary.streams.v1 import rooms_pb2, rooms_pb2_grpc, streams_pb2_grpc
from estuary.streams.v1 import streams_pb2 as pb
from services.streams.analytics import AnalyticsDesk
from services.streams.desk import StreamDesk
from services.streams.engagement import EngagementDesk
from services.streams.media import MediaDesk
from services.streams.rooms import RoomDesk
from services.streams.sales import SalesDesk
from services.streams.wire import (
    analytics_to_proto,
    comment_to_proto,
    follow_to_proto,
    live_to_proto,
    media_ids,
    media_upload_to_proto,
    media_url_to_proto,
    poll_texts,
    post_kind,
    post_to_proto,
    revenue_to_proto,
    room_pass_to_proto,
    sale_terms_to_proto,
    stream_to_proto,
    tier_to_proto,
)


class StreamsServicer(streams_pb2_grpc.StreamsServiceServicer):
    def __init__(
        self,
        desk: StreamDesk,
        engagement: EngagementDesk,
        sales: SalesDesk,
        media: MediaDesk,
        analytics: AnalyticsDesk,
    ) -> None:
        self._desk = desk
        self._engagement = engagement
        self._sales = sales
        self._media = media
        self._analytics = analytics

    async def GetSaleTerms(self, request: pb.GetSaleTermsRequest, context: Any) -> pb.SaleTerms:
        return sale_terms_to_proto(await self._sales.sale_terms(request.name))

    async def GetStreamRevenue(
        self, request: pb.GetStreamRevenueRequest, context: Any
    ) -> pb.StreamRevenue:
        return revenue_to_proto(await self._sales.revenue(current_user(), request.name))

    async def CreateStream(self, request: pb.CreateStreamRequest, context: Any) -> pb.Stream:
        stream = await self._desk.create_stream(
            current_user(), request.stream.title, request.stream.description
        )
        return stream_to_proto(stream)

    async def GetStream(self, request: pb.GetStreamRequest, context: Any) -> pb.Stream:
        return stream_to_proto(await self._desk.get_stream(request.name))

    async def UpdateStream(self, request: pb.UpdateStreamRequest, context: Any) -> pb.Stream:
        stream = await self._desk.update_stream(
            current_user(),
            request.stream.name,
            list(request.update_mask.paths),
            request.stream.title,
            request.stream.description,
        )
        return stream_to_proto(stream)

    async def CreateTier(self, request: pb.CreateTierRequest, context: Any) -> pb.Tier:
        tier = await self._desk.create_tier(
            current_user(),
            request.parent,
            request.tier.display_name,
            money_from_proto(request.tier.price, "tier.price"),
        )
        return tier_to_proto(tier)

    async def UpdateTier(self, request: pb.UpdateTierRequest, context: Any) -> pb.Tier:
        paths = list(request.update_mask.paths)
        # The price is read only when it changes; an absent one is not an error then.
        price = money_from_proto(request.tier.price, "tier.price") if "price" in paths else None
        tier = await self._desk.update_tier(
            current_user(), request.tier.name, paths, request.tier.display_name, price
        )
        return tier_to_proto(tier)

    async def CreatePost(self, request: pb.CreatePostRequest, context: Any) -> pb.Post:
        post = await self._desk.create_post(
            current_user(),
            request.parent,
            request.post.title,
            request.post.body,
            request.post.level,
            poll_texts(request.post),
            _schedule_time(request.post),
            _unlock_price(request.post),
            post_kind(request.post),
            media_ids(request.post),
        )
        return post_to_proto(post)

    async def UpdatePost(self, request: pb.UpdatePostRequest, context: Any) -> pb.Post:
        post = await self._desk.update_post(
            current_user(),
            request.post.name,
            list(request.update_mask.paths),
            request.post.title,
            request.post.body,
            request.post.level,
            poll_texts(request.post),
            _schedule_time(request.post),
            _unlock_price(request.post),
            post_kind(request.post),
            media_ids(request.post),
        )
        return post_to_proto(post)

    async def PublishPost(self, request: pb.PublishPostRequest, context: Any) -> pb.Post:
        return post_to_proto(await self._desk.publish_post(current_user(), request.name))

    async def GetPost(self, request: pb.GetPostRequest, context: Any) -> pb.Post:
        return post_to_proto(await self._desk.get_post(current_user(), request.name))

    async def ListPosts(self, request: pb.ListPostsRequest, context: Any) -> pb.ListPostsResponse:
        page = await self._desk.list_posts(
            current_user(), request.parent, request.page_size, request.page_token
        )
        return pb.ListPostsResponse(
            posts=[post_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListFollowers(
        self, request: pb.ListFollowersRequest, context: Any
    ) -> pb.ListFollowersResponse:
        page = await self._desk.followers(
            request.parent, request.min_level, request.page_size, request.page_token
        )
        return pb.ListFollowersResponse(user_ids=page.items, next_page_token=page.next_page_token)

    async def FollowStream(self, request: pb.FollowStreamRequest, context: Any) -> pb.Follow:
        return follow_to_proto(await self._desk.follow(current_user(), request.name))

    async def UnfollowStream(
        self, request: pb.UnfollowStreamRequest, context: Any
    ) -> pb.UnfollowStreamResponse:
        await self._desk.unfollow(current_user(), request.name)
        return pb.UnfollowStreamResponse()

    async def ListFeed(self, request: pb.ListFeedRequest, context: Any) -> pb.ListFeedResponse:
        page = await self._desk.feed(current_user(), request.page_size, request.page_token)
        return pb.ListFeedResponse(
            posts=[post_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def LikePost(self, request: pb.LikePostRequest, context: Any) -> pb.Post:
        return post_to_proto(await self._engagement.like(current_user(), request.name))

    async def UnlikePost(self, request: pb.UnlikePostRequest, context: Any) -> pb.Post:
        return post_to_proto(await self._engagement.unlike(current_user(), request.name))

    async def SavePost(self, request: pb.SavePostRequest, context: Any) -> pb.Post:
        return post_to_proto(await self._engagement.save(current_user(), request.name))

    async def UnsavePost(self, request: pb.UnsavePostRequest, context: Any) -> pb.Post:
        return post_to_proto(await self._engagement.unsave(current_user(), request.name))

    async def ListSavedPosts(
        self, request: pb.ListSavedPostsRequest, context: Any
    ) -> pb.ListSavedPostsResponse:
        page = await self._engagement.saved_posts(
            current_user(), request.page_size, request.page_token
        )
        return pb.ListSavedPostsResponse(
            posts=[post_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def VotePoll(self, request: pb.VotePollRequest, context: Any) -> pb.Post:
        post = await self._engagement.vote(current_user(), request.name, request.option)
        return post_to_proto(post)

    async def CreateComment(self, request: pb.CreateCommentRequest, context: Any) -> pb.Comment:
        comment = await self._engagement.comment(
            current_user(), request.parent, request.comment.text, request.comment.reply_to
        )
        return comment_to_proto(comment)

    async def ListComments(
        self, request: pb.ListCommentsRequest, context: Any
    ) -> pb.ListCommentsResponse:
        page = await self._engagement.comments(
            current_user(), request.parent, request.page_size, request.page_token
        )
        return pb.ListCommentsResponse(
            comments=[comment_to_proto(c) for c in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def UpdateComment(self, request: pb.UpdateCommentRequest, context: Any) -> pb.Comment:
        comment = await self._engagement.edit_comment(
            current_user(),
            request.comment.name,
            list(request.update_mask.paths),
            request.comment.text,
        )
        return comment_to_proto(comment)

    async def DeleteComment(self, request: pb.DeleteCommentRequest, context: Any) -> pb.Comment:
        return comment_to_proto(await self._engagement.delete_comment(current_user(), request.name))

    async def HideComment(self, request: pb.HideCommentRequest, context: Any) -> pb.Comment:
        comment = await self._engagement.hide_comment(current_user(), request.name, hidden=True)
        return comment_to_proto(comment)

    async def UnhideComment(self, request: pb.UnhideCommentRequest, context: Any) -> pb.Comment:
        comment = await self._engagement.hide_comment(current_user(), request.name, hidden=False)
        return comment_to_proto(comment)

    async def CreatePostMediaUpload(
        self, request: pb.CreatePostMediaUploadRequest, context: Any
    ) -> pb.PostMediaUpload:
        media_id, form = await self._media.upload(
            current_user(), request.parent, request.content_type
        )
        return media_upload_to_proto(media_id, form)

    async def GetPostMediaUrl(
        self, request: pb.GetPostMediaUrlRequest, context: Any
    ) -> pb.PostMediaUrl:
        return media_url_to_proto(await self._media.url(current_user(), request.name))

    async def GetStreamAnalytics(
        self, request: pb.GetStreamAnalyticsRequest, context: Any
    ) -> pb.StreamAnalytics:
        found = await self._analytics.analytics(current_user(), request.name, request.days)
        return analytics_to_proto(found)


class RoomsServicer(rooms_pb2_grpc.RoomsServiceServicer):
    def __init__(self, desk: RoomDesk) -> None:
        self._desk = desk

    async def StartLive(self, request: rooms_pb2.StartLiveRequest, context: Any) -> rooms_pb2.Live:
        live = await self._desk.start_live(current_user(), request.parent, request.level)
        return live_to_proto(live)

    async def EndLive(
        self, request: rooms_pb2.EndLiveRequest, context: Any
    ) -> rooms_pb2.EndLiveResponse:
        await self._desk.end_live(current_user(), request.name)
        return rooms_pb2.EndLiveResponse()

    async def CreateLiveToken(
        self, request: rooms_pb2.CreateLiveTokenRequest, context: Any
    ) -> rooms_pb2.RoomToken:
        return room_pass_to_proto(await self._desk.live_token(current_user(), request.name))

    async def CreateSessionToken(
        self, request: rooms_pb2.CreateSessionTokenRequest, context: Any
    ) -> rooms_pb2.RoomToken:
        granted = await self._desk.session_token(current_user(), request.booking)
        return room_pass_to_proto(granted)

    async def ReceiveLiveKitWebhook(
        self, request: rooms_pb2.ReceiveLiveKitWebhookRequest, context: Any
    ) -> rooms_pb2.ReceiveLiveKitWebhookResponse:
        event_id, applied = await self._desk.receive_webhook(request.payload, request.authorization)
        return rooms_pb2.ReceiveLiveKitWebhookResponse(event_id=event_id, applied=applied)


def _schedule_time(post: pb.Post) -> datetime | None:
    return optional_instant(post.schedule_time, post.HasField("schedule_time"))


def _unlock_price(post: pb.Post) -> Money | None:
    """The post's one-off price, when it carries one (none: not sold alone)."""
    if not post.HasField("unlock_price"):
        return None
    return money_from_proto(post.unlock_price, "post.unlock_price")
