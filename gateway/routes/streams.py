"""Streams at the edge: a practitioner's stream, its tiers and posts
(/api/v1/streams/...), following one, the reader's feed (/api/v1/me/feed) and saved posts
(/api/v1/me/saved-posts), likes, saves, poll votes and comments on posts. Who may change or
read what is the streams service's to decide."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Query
from google.protobuf.field_mask_pb2 import FieldMask
from starlette.responses import Response

from chassis.wire import timestamp
from estuary.streams.v1 import streams_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, backends, json_response
from gateway.schemas.common import (
    DEFAULT_LIMIT,
    ID_PATTERN,
    INT32_MAX,
    Cursor,
    Limit,
    Page,
    page_of,
)
from gateway.schemas.streams import (
    POST_KINDS,
    AnalyticsOut,
    CommentBody,
    CommentOut,
    CommentPatch,
    FollowOut,
    MediaUploadBody,
    MediaUploadOut,
    MediaUrlOut,
    PostBody,
    PostOut,
    PostPatch,
    StreamBody,
    StreamOut,
    StreamPatch,
    TierBody,
    TierOut,
    TierPatch,
    VoteBody,
    media_to_proto,
    poll_to_proto,
)

router = GatewayRouter(prefix="/api/v1")
STREAMS: list[str | Enum] = ["streams"]
POSTS: list[str | Enum] = ["stream_posts"]
FEED: list[str | Enum] = ["feed"]
SAVED: list[str | Enum] = ["saved_posts"]
COMMENTS: list[str | Enum] = ["stream_comments"]

Id = Annotated[str, Path(pattern=ID_PATTERN)]
# A patch's fields as the service's update mask names them.
PATCHED = {"scheduled_for": "schedule_time", "kind": "media", "media_ids": "media"}
Level = Annotated[int, Path(ge=0, le=INT32_MAX)]


def _stream(stream_id: str) -> str:
    return f"streams/{stream_id}"


def _post(stream_id: str, post_id: str) -> str:
    return f"streams/{stream_id}/posts/{post_id}"


def _comment(stream_id: str, post_id: str, comment_id: str) -> str:
    return f"streams/{stream_id}/posts/{post_id}/comments/{comment_id}"


@router.post(
    "/streams",
    operation_id="streams.create",
    tags=STREAMS,
    status_code=201,
    response_model=StreamOut,
    responses=responses(400, 403, 409),
)
async def create_stream(
    body: StreamBody, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Starts your stream, with its free tier (level 0). Practitioners only (403 otherwise);
    one each (409 STREAM_EXISTS)."""
    stream = await api.streams.CreateStream(
        pb.CreateStreamRequest(stream=pb.Stream(title=body.title, description=body.description)),
        metadata=caller.metadata(),
    )
    return json_response(StreamOut.from_proto(stream), 201)


@router.get(
    "/streams/{stream_id}",
    operation_id="streams.get",
    tags=STREAMS,
    response_model=StreamOut,
    responses=responses(400, 404),
)
async def get_stream(
    stream_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """A stream and its tiers (their names and monthly prices), lowest level first."""
    stream = await api.streams.GetStream(
        pb.GetStreamRequest(name=_stream(stream_id)), metadata=caller.metadata()
    )
    return json_response(StreamOut.from_proto(stream))


@router.patch(
    "/streams/{stream_id}",
    operation_id="streams.update",
    tags=STREAMS,
    response_model=StreamOut,
    responses=responses(400, 403, 404),
)
async def update_stream(
    stream_id: Id,
    body: StreamPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes the fields sent (title, description) of your stream; 403 for anyone else's."""
    paths = sorted(body.model_fields_set)
    stream = await api.streams.UpdateStream(
        pb.UpdateStreamRequest(
            stream=pb.Stream(
                name=_stream(stream_id),
                title=body.title or "",
                description=body.description or "",
            ),
            update_mask=FieldMask(paths=paths),
        ),
        metadata=caller.metadata(),
    )
    return json_response(StreamOut.from_proto(stream))


@router.post(
    "/streams/{stream_id}/tiers",
    operation_id="streams.create_tier",
    tags=STREAMS,
    status_code=201,
    response_model=TierOut,
    responses=responses(400, 403, 404, 409),
)
async def create_tier(
    stream_id: Id,
    body: TierBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Adds a paid tier one level above your stream's highest; 403 for anyone else's stream."""
    tier = await api.streams.CreateTier(
        pb.CreateTierRequest(
            parent=_stream(stream_id),
            tier=pb.Tier(display_name=body.display_name, price=body.price.to_proto()),
        ),
        metadata=caller.metadata(),
    )
    return json_response(TierOut.from_proto(tier), 201)


@router.patch(
    "/streams/{stream_id}/tiers/{level}",
    operation_id="streams.update_tier",
    tags=STREAMS,
    response_model=TierOut,
    responses=responses(400, 403, 404),
)
async def update_tier(
    stream_id: Id,
    level: Level,
    body: TierPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Renames or reprices a tier of your stream (the free tier keeps its price of 0); a new
    price is billed to the tier's subscribers from their next renewal."""
    paths = sorted(body.model_fields_set)
    tier = pb.Tier(name=f"{_stream(stream_id)}/tiers/{level}", display_name=body.display_name or "")
    if body.price is not None:
        tier.price.CopyFrom(body.price.to_proto())
    found = await api.streams.UpdateTier(
        pb.UpdateTierRequest(tier=tier, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(TierOut.from_proto(found))


@router.post(
    "/streams/{stream_id}/posts",
    operation_id="stream_posts.create",
    tags=POSTS,
    status_code=201,
    response_model=PostOut,
    responses=responses(400, 403, 404),
)
async def create_post(
    stream_id: Id,
    body: PostBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Writes a draft on your stream, for readers at `level` (a level your stream has) and
    above, with a poll if `poll` has options, carrying the uploads `media_ids` names as its
    `kind` takes them (400 naming post.media[i] for one that is not your upload to this
    stream, not uploaded, of another type or carried by another post); nobody else sees it
    until it is published, by you or by itself at `scheduled_for`."""
    post = await api.streams.CreatePost(
        pb.CreatePostRequest(
            parent=_stream(stream_id),
            post=pb.Post(
                title=body.title,
                body=body.body,
                level=body.level,
                poll=poll_to_proto(body.poll),
                schedule_time=timestamp(body.scheduled_for) if body.scheduled_for else None,
                unlock_price=body.unlock_price.to_proto() if body.unlock_price else None,
                kind=POST_KINDS.to_proto(body.kind),  # type: ignore[arg-type]
                media=media_to_proto(body.media_ids),
            ),
        ),
        metadata=caller.metadata(),
    )
    return json_response(PostOut.from_proto(post), 201)


@router.patch(
    "/streams/{stream_id}/posts/{post_id}",
    operation_id="stream_posts.update",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 403, 404),
)
async def update_post(
    stream_id: Id,
    post_id: Id,
    body: PostPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes the fields sent (title, body, level, poll, scheduled_for, unlock_price, kind
    and media_ids together) of a post of yours; the poll, the schedule and the media only
    while a draft (409 POST_PUBLISHED after)."""
    paths = sorted({PATCHED.get(name, name) for name in body.model_fields_set})
    post = await api.streams.UpdatePost(
        pb.UpdatePostRequest(
            post=pb.Post(
                name=_post(stream_id, post_id),
                title=body.title or "",
                body=body.body or "",
                level=body.level or 0,
                poll=poll_to_proto(body.poll),
                schedule_time=timestamp(body.scheduled_for) if body.scheduled_for else None,
                unlock_price=body.unlock_price.to_proto() if body.unlock_price else None,
                kind=POST_KINDS.to_proto(body.kind or "text"),  # type: ignore[arg-type]
                media=media_to_proto(body.media_ids),
            ),
            update_mask=FieldMask(paths=paths),
        ),
        metadata=caller.metadata(),
    )
    return json_response(PostOut.from_proto(post))


@router.post(
    "/streams/{stream_id}/posts/{post_id}/publish",
    operation_id="stream_posts.publish",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 403, 404, 409),
)
async def publish_post(
    stream_id: Id,
    post_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Publishes a draft of yours: it reaches your followers' feeds. 409 POST_PUBLISHED
    when it is out already."""
    post = await api.streams.PublishPost(
        pb.PublishPostRequest(name=_post(stream_id, post_id)), metadata=caller.metadata()
    )
    return json_response(PostOut.from_proto(post))


@router.get(
    "/streams/{stream_id}/posts",
    operation_id="stream_posts.list",
    tags=POSTS,
    response_model=Page[PostOut],
    responses=responses(400, 404),
)
async def list_posts(
    stream_id: Id,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """A stream's posts, newest first: whole at or below the level you follow it at, locked
    teasers (title and level) above it or when you do not follow; drafts for the owner."""
    found = await api.streams.ListPosts(
        pb.ListPostsRequest(parent=_stream(stream_id), page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [PostOut.from_proto(p) for p in found.posts], found.next_page_token, found.total_size
        )
    )


@router.get(
    "/streams/{stream_id}/posts/{post_id}",
    operation_id="stream_posts.get",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 404),
)
async def get_post(
    stream_id: Id,
    post_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """A post as you may read it (a draft is 404 to anyone but its owner)."""
    post = await api.streams.GetPost(
        pb.GetPostRequest(name=_post(stream_id, post_id)), metadata=caller.metadata()
    )
    return json_response(PostOut.from_proto(post))


@router.post(
    "/streams/{stream_id}/follow",
    operation_id="streams.follow",
    tags=STREAMS,
    response_model=FollowOut,
    responses=responses(400, 404),
)
async def follow_stream(
    stream_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Follows a stream at the free level (again: nothing changes, a paid level stays)."""
    follow = await api.streams.FollowStream(
        pb.FollowStreamRequest(name=_stream(stream_id)), metadata=caller.metadata()
    )
    return json_response(FollowOut.from_proto(stream_id, follow))


@router.delete(
    "/streams/{stream_id}/follow",
    operation_id="streams.unfollow",
    tags=STREAMS,
    status_code=204,
    responses=responses(400, 404, 409),
)
async def unfollow_stream(
    stream_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Stops following a stream; 409 SUBSCRIPTION_ACTIVE while a subscription to one of its
    paid tiers grants you its level (cancel it first)."""
    await api.streams.UnfollowStream(
        pb.UnfollowStreamRequest(name=_stream(stream_id)), metadata=caller.metadata()
    )
    return Response(status_code=204)


@router.get(
    "/me/feed",
    operation_id="feed.list",
    tags=FEED,
    response_model=Page[PostOut],
    responses=responses(400),
)
async def list_feed(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The posts of the streams you follow, newest first, each whole or locked as your
    level allows."""
    found = await api.streams.ListFeed(
        pb.ListFeedRequest(page_size=limit, page_token=cursor or ""), metadata=caller.metadata()
    )
    return json_response(
        page_of(
            [PostOut.from_proto(p) for p in found.posts], found.next_page_token, found.total_size
        )
    )


@router.post(
    "/streams/{stream_id}/posts/{post_id}/like",
    operation_id="stream_posts.like",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 403, 404, 409),
)
async def like_post(
    stream_id: Id,
    post_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Likes a post you read whole (again: nothing changes); answers it with its new count.
    403 POST_LOCKED for a post above your level; 409 POST_NOT_PUBLISHED for your draft."""
    post = await api.streams.LikePost(
        pb.LikePostRequest(name=_post(stream_id, post_id)), metadata=caller.metadata()
    )
    return json_response(PostOut.from_proto(post))


@router.delete(
    "/streams/{stream_id}/posts/{post_id}/like",
    operation_id="stream_posts.unlike",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 404),
)
async def unlike_post(
    stream_id: Id,
    post_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Takes back your like, if any; answers the post as you read it now."""
    post = await api.streams.UnlikePost(
        pb.UnlikePostRequest(name=_post(stream_id, post_id)), metadata=caller.metadata()
    )
    return json_response(PostOut.from_proto(post))


@router.post(
    "/streams/{stream_id}/posts/{post_id}/save",
    operation_id="stream_posts.save",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 403, 404, 409),
)
async def save_post(
    stream_id: Id,
    post_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Adds a post you read whole to your saved posts (again: nothing changes). 403
    POST_LOCKED for a post above your level."""
    post = await api.streams.SavePost(
        pb.SavePostRequest(name=_post(stream_id, post_id)), metadata=caller.metadata()
    )
    return json_response(PostOut.from_proto(post))


@router.delete(
    "/streams/{stream_id}/posts/{post_id}/save",
    operation_id="stream_posts.unsave",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 404),
)
async def unsave_post(
    stream_id: Id,
    post_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Removes a post from your saved posts, if it was there."""
    post = await api.streams.UnsavePost(
        pb.UnsavePostRequest(name=_post(stream_id, post_id)), metadata=caller.metadata()
    )
    return json_response(PostOut.from_proto(post))


@router.post(
    "/streams/{stream_id}/posts/{post_id}/poll/vote",
    operation_id="stream_posts.vote",
    tags=POSTS,
    response_model=PostOut,
    responses=responses(400, 403, 404, 409),
)
async def vote_in_poll(
    stream_id: Id,
    post_id: Id,
    body: VoteBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your one vote in a post's poll, for the option at `option`; answers the post with the
    results. A vote is final: 409 ALREADY_VOTED for a second, 409 NO_POLL without a poll."""
    post = await api.streams.VotePoll(
        pb.VotePollRequest(name=_post(stream_id, post_id), option=body.option),
        metadata=caller.metadata(),
    )
    return json_response(PostOut.from_proto(post))


@router.get(
    "/me/saved-posts",
    operation_id="saved_posts.list",
    tags=SAVED,
    response_model=Page[PostOut],
    responses=responses(400),
)
async def list_saved_posts(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The posts you saved, newest saved first, each whole or locked as your level allows
    now."""
    found = await api.streams.ListSavedPosts(
        pb.ListSavedPostsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [PostOut.from_proto(p) for p in found.posts], found.next_page_token, found.total_size
        )
    )


@router.post(
    "/streams/{stream_id}/posts/{post_id}/comments",
    operation_id="stream_comments.create",
    tags=COMMENTS,
    status_code=201,
    response_model=CommentOut,
    responses=responses(400, 403, 404, 409),
)
async def create_comment(
    stream_id: Id,
    post_id: Id,
    body: CommentBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Comments on a post you read whole, or replies to one of its top-level comments
    (`reply_to`; a reply to a reply is 400). 403 POST_LOCKED above your level."""
    reply_to = "" if body.reply_to is None else _comment(stream_id, post_id, body.reply_to)
    comment = await api.streams.CreateComment(
        pb.CreateCommentRequest(
            parent=_post(stream_id, post_id),
            comment=pb.Comment(text=body.text, reply_to=reply_to),
        ),
        metadata=caller.metadata(),
    )
    return json_response(CommentOut.from_proto(comment), 201)


@router.get(
    "/streams/{stream_id}/posts/{post_id}/comments",
    operation_id="stream_comments.list",
    tags=COMMENTS,
    response_model=Page[CommentOut],
    responses=responses(400, 403, 404, 409),
)
async def list_comments(
    stream_id: Id,
    post_id: Id,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """A post's comments and replies, oldest first (a reply names its top-level comment in
    `reply_to`); hidden ones only to the stream's owner and their author. 403 POST_LOCKED
    above your level."""
    found = await api.streams.ListComments(
        pb.ListCommentsRequest(
            parent=_post(stream_id, post_id), page_size=limit, page_token=cursor or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [CommentOut.from_proto(c) for c in found.comments],
            found.next_page_token,
            found.total_size,
        )
    )


@router.patch(
    "/streams/{stream_id}/posts/{post_id}/comments/{comment_id}",
    operation_id="stream_comments.update",
    tags=COMMENTS,
    response_model=CommentOut,
    responses=responses(400, 403, 404, 409),
)
async def update_comment(
    stream_id: Id,
    post_id: Id,
    comment_id: Id,
    body: CommentPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """New text for your own comment; it shows when it was edited. 403 NOT_COMMENT_AUTHOR
    for anyone else's; 409 COMMENT_DELETED once deleted."""
    comment = await api.streams.UpdateComment(
        pb.UpdateCommentRequest(
            comment=pb.Comment(name=_comment(stream_id, post_id, comment_id), text=body.text),
            update_mask=FieldMask(paths=sorted(body.model_fields_set)),
        ),
        metadata=caller.metadata(),
    )
    return json_response(CommentOut.from_proto(comment))


@router.delete(
    "/streams/{stream_id}/posts/{post_id}/comments/{comment_id}",
    operation_id="stream_comments.delete",
    tags=COMMENTS,
    response_model=CommentOut,
    responses=responses(400, 403, 404),
)
async def delete_comment(
    stream_id: Id,
    post_id: Id,
    comment_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Erases your own comment's text; a placeholder keeps its place in the thread, which it
    answers. 403 NOT_COMMENT_AUTHOR for anyone else's."""
    comment = await api.streams.DeleteComment(
        pb.DeleteCommentRequest(name=_comment(stream_id, post_id, comment_id)),
        metadata=caller.metadata(),
    )
    return json_response(CommentOut.from_proto(comment))


@router.post(
    "/streams/{stream_id}/posts/{post_id}/comments/{comment_id}/hide",
    operation_id="stream_comments.hide",
    tags=COMMENTS,
    response_model=CommentOut,
    responses=responses(400, 403, 404),
)
async def hide_comment(
    stream_id: Id,
    post_id: Id,
    comment_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Hides a comment on your stream's post from everyone but its author. 403
    NOT_STREAM_OWNER for anyone else's stream."""
    comment = await api.streams.HideComment(
        pb.HideCommentRequest(name=_comment(stream_id, post_id, comment_id)),
        metadata=caller.metadata(),
    )
    return json_response(CommentOut.from_proto(comment))


@router.post(
    "/streams/{stream_id}/posts/{post_id}/comments/{comment_id}/unhide",
    operation_id="stream_comments.unhide",
    tags=COMMENTS,
    response_model=CommentOut,
    responses=responses(400, 403, 404),
)
async def unhide_comment(
    stream_id: Id,
    post_id: Id,
    comment_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Shows a comment you hid again. 403 NOT_STREAM_OWNER for anyone else's stream."""
    comment = await api.streams.UnhideComment(
        pb.UnhideCommentRequest(name=_comment(stream_id, post_id, comment_id)),
        metadata=caller.metadata(),
    )
    return json_response(CommentOut.from_proto(comment))


@router.post(
    "/streams/{stream_id}/media",
    operation_id="stream_posts.upload_media",
    tags=POSTS,
    status_code=201,
    response_model=MediaUploadOut,
    responses=responses(400, 403, 404),
)
async def upload_media(
    stream_id: Id,
    body: MediaUploadBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """An upload slot on your stream for an image, video or audio file: POST the form's
    fields, then the file, to url (straight to the media store, which refuses another type
    or a bigger file); then name media_id in a post. 400 naming content_type for a type not
    allowed; 403 for anyone else's stream."""
    upload = await api.streams.CreatePostMediaUpload(
        pb.CreatePostMediaUploadRequest(parent=_stream(stream_id), content_type=body.content_type),
        metadata=caller.metadata(),
    )
    return json_response(MediaUploadOut.from_proto(upload), 201)


@router.get(
    "/streams/{stream_id}/posts/{post_id}/media/{media_id}",
    operation_id="stream_posts.media_url",
    tags=POSTS,
    response_model=MediaUrlOut,
    responses=responses(400, 403, 404),
)
async def media_url(
    stream_id: Id,
    post_id: Id,
    media_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """A URL that reads one of a post's files for a few minutes, if you read the post whole
    (its owner, or a follower at its level or above): 403 POST_LOCKED otherwise."""
    signed = await api.streams.GetPostMediaUrl(
        pb.GetPostMediaUrlRequest(name=f"{_post(stream_id, post_id)}/media/{media_id}"),
        metadata=caller.metadata(),
    )
    return json_response(MediaUrlOut.from_proto(signed))


@router.get(
    "/streams/{stream_id}/analytics",
    operation_id="streams.analytics",
    tags=STREAMS,
    response_model=AnalyticsOut,
    responses=responses(400, 403, 404),
)
async def analytics(
    stream_id: Id,
    days: Annotated[
        int, Query(ge=1, le=366, description="The window: this many UTC days, today the last.")
    ] = 30,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your stream's followers per tier level at the end of each day of the window (from
    every follow, paid level change and unfollow), and the likes, saves, comments and poll
    votes of the posts published in it. The owner and staff only (403 NOT_STREAM_OWNER)."""
    found = await api.streams.GetStreamAnalytics(
        pb.GetStreamAnalyticsRequest(name=f"{_stream(stream_id)}/analytics", days=days),
        metadata=caller.metadata(),
    )
    return json_response(AnalyticsOut.from_proto(found))
