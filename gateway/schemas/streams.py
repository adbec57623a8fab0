"""Bodies of the streams routes: a practitioner's stream, its tiers and posts (with their
polls), follows, the reader's feed and saved posts, and comments on posts."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from chassis.wire import ProtoNames, instant
from estuary.streams.v1 import streams_pb2 as pb
from gateway.schemas.catalog import Money, MoneyIn
from gateway.schemas.common import (
    ID_PATTERN,
    INT32_MAX,
    S3_FORM_FIELDS,
    Int32,
    Int64,
    StrictBody,
    UploadFormOut,
    examples,
)

POST_STATES = ProtoNames(pb.PostState)
POST_KINDS = ProtoNames(pb.PostKind)

if TYPE_CHECKING:
    PostStateName = str
    PostKindName = str
else:
    PostStateName = POST_STATES.literal
    PostKindName = POST_KINDS.literal

# The service checks each bound (and names the field); these keep absurd bodies out early.
TITLE = 200
DESCRIPTION = 2000
BODY = 20000
TIER_NAME = 60
COMMENT = 2000
POLL_OPTIONS = 10
POLL_OPTION = 100
POST_MEDIA = 20  # a gallery's most (services/streams/domain/media.py)

STREAM_ID = "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a11"
TIER = {"level": 1, "display_name": "Friends", "price": {"amount_minor": 500, "currency": "EUR"}}
STREAM = {
    "stream_id": STREAM_ID,
    "owner_user_id": "5f0c8f64-2f2e-4f8e-8a8e-0c1f1f6f2b7d",
    "title": "Morning yoga",
    "description": "A short practice every day.",
    "tiers": [
        {"level": 0, "display_name": "Free", "price": {"amount_minor": 0, "currency": "EUR"}},
        TIER,
    ],
    "created_at": "2026-03-10T09:30:00Z",
    "updated_at": "2026-03-10T09:30:00Z",
}
POST = {
    "post_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a12",
    "stream_id": STREAM_ID,
    "title": "Breathing for sleep",
    "body": "",
    "level": 1,
    "state": "published",
    "locked": True,
    "created_at": "2026-03-10T09:30:00Z",
    "published_at": "2026-03-10T10:00:00Z",
    "scheduled_for": None,
    "poll": None,
    "like_count": 12,
    "comment_count": 3,
    "liked_by_me": False,
    "saved_by_me": False,
    "unlock_price": {"amount_minor": 300, "currency": "EUR"},
    "unlocked": False,
    "kind": "image",
    "media": [],
}
MEDIUM = {
    "media_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a14",
    "content_type": "image/jpeg",
    "size_bytes": 184320,
}
POLL = {
    "options": [
        {"text": "Morning", "vote_count": 7, "chosen_by_me": True},
        {"text": "Evening", "vote_count": 4, "chosen_by_me": False},
    ]
}
COMMENT_EXAMPLE = {
    "comment_id": "0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a13",
    "post_id": POST["post_id"],
    "stream_id": STREAM_ID,
    "reply_to": None,
    "author_user_id": "5f0c8f64-2f2e-4f8e-8a8e-0c1f1f6f2b7e",
    "text": "This helped me sleep.",
    "deleted": False,
    "hidden": False,
    "created_at": "2026-03-10T10:30:00Z",
    "edited_at": None,
}


class Patch(StrictBody):
    """A PATCH body: each field sent is changed to its value, so a null (no value to change
    it to, never "the default") is refused naming the field; except in the fields where
    null is a value of its own (NULLABLE: e.g. no schedule)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("must not be null; leave the field out to keep it")
        return value


class StreamBody(StrictBody):
    model_config = examples({"title": STREAM["title"], "description": STREAM["description"]})
    title: str = Field(max_length=TITLE)
    description: str = Field("", max_length=DESCRIPTION)


class StreamPatch(Patch):
    model_config = examples({"description": "Ten minutes a day."})
    title: str | None = Field(None, max_length=TITLE)
    description: str | None = Field(None, max_length=DESCRIPTION)


class TierBody(StrictBody):
    model_config = examples({"display_name": "Friends", "price": TIER["price"]})
    display_name: str = Field(max_length=TIER_NAME, description="Your own name for it.")
    price: MoneyIn = Field(description="Monthly, above 0.")


class TierPatch(Patch):
    model_config = examples({"price": {"amount_minor": 700, "currency": "EUR"}})
    display_name: str | None = Field(None, max_length=TIER_NAME)
    price: MoneyIn | None = Field(None, description="Monthly, above 0 (not for level 0).")


class PollBody(StrictBody):
    model_config = examples({"options": ["Morning", "Evening"]})
    options: list[str] = Field(
        max_length=POLL_OPTIONS,
        description="2 to 10 option texts of up to 100 characters; none: no poll.",
    )


class PostBody(StrictBody):
    model_config = examples(
        {
            "title": POST["title"],
            "body": "Lie down, breathe out.",
            "level": 1,
            "kind": "image",
            "media_ids": [MEDIUM["media_id"]],
        }
    )
    title: str = Field(max_length=TITLE)
    body: str = Field(max_length=BODY)
    level: Int32 = Field(0, description="The least tier level that reads it whole.")
    poll: PollBody | None = Field(None, description="A poll readers vote in once each.")
    kind: PostKindName = Field("text", description="What it carries beside its text.")
    media_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        default_factory=list,
        max_length=POST_MEDIA,
        description="The ids of your uploads to this stream (POST .../media) it carries, in "
        "order: none for text, one for image, video or audio, 2 to 20 images or videos for a "
        "gallery; each uploaded, of a type its kind takes, carried by no other post.",
    )
    scheduled_for: AwareDatetime | None = Field(
        None,
        description="When the draft goes out by itself (future, at most 366 days ahead); "
        "none: when you publish it.",
    )
    unlock_price: MoneyIn | None = Field(
        None,
        description="A one-off price (above 0) for reading it whole whatever the tier, "
        "bought through payments; none: not sold alone.",
    )


class PostPatch(Patch):
    model_config = examples({"level": 0})
    NULLABLE = frozenset({"scheduled_for", "unlock_price"})
    title: str | None = Field(None, max_length=TITLE)
    body: str | None = Field(None, max_length=BODY)
    level: Int32 | None = None
    poll: PollBody | None = Field(
        None, description="A draft's new poll (no options: none); 409 once published."
    )
    scheduled_for: AwareDatetime | None = Field(
        None,
        description="A draft's new publishing time (null: published only by you); 409 once "
        "published.",
    )
    unlock_price: MoneyIn | None = Field(
        None,
        description="A new one-off price for those who buy from now on (null: not sold "
        "alone); buyers keep what they unlocked.",
    )
    kind: PostKindName | None = Field(
        None, description="A draft's new kind, sent with its media_ids; 409 once published."
    )
    media_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(
        None,
        max_length=POST_MEDIA,
        description="A draft's new media (with its kind; the ones it no longer names are "
        "let go); 409 once published.",
    )


def media_to_proto(media_ids: list[str] | None) -> list[pb.PostMedium]:
    """A body's media as the service reads them: by upload id."""
    return [pb.PostMedium(media_id=m) for m in media_ids or []]


def poll_to_proto(poll: PollBody | None) -> pb.Poll:
    """A body's poll as the service reads it (no options: no poll)."""
    return pb.Poll(options=[pb.PollOption(text=t) for t in (poll.options if poll else [])])


class VoteBody(StrictBody):
    model_config = examples({"option": 0})
    option: Int32 = Field(ge=0, description="The position of the chosen option (0: the first).")


class CommentBody(StrictBody):
    model_config = examples({"text": COMMENT_EXAMPLE["text"], "reply_to": None})
    text: str = Field(max_length=COMMENT)
    reply_to: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="The id of the post's top-level comment this replies to.",
    )


class CommentPatch(Patch):
    model_config = examples({"text": "This helped me sleep, twice."})
    text: str = Field(max_length=COMMENT)


class TierOut(BaseModel):
    """A tier of a stream: level 0 is free; a higher level reads all a lower one does."""

    model_config = examples(TIER)
    level: int = Field(ge=0, le=INT32_MAX)
    display_name: str
    price: Money

    @classmethod
    def from_proto(cls, t: pb.Tier) -> TierOut:
        return cls.model_construct(
            level=t.level, display_name=t.display_name, price=Money.from_proto(t.price)
        )


class StreamOut(BaseModel):
    """A practitioner's stream and its tiers, lowest level first."""

    model_config = examples(STREAM)
    stream_id: str
    owner_user_id: str
    title: str
    description: str
    tiers: list[TierOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, s: pb.Stream) -> StreamOut:
        return cls.model_construct(
            stream_id=s.name.removeprefix("streams/"),
            owner_user_id=s.owner_user_id,
            title=s.title,
            description=s.description,
            tiers=[TierOut.from_proto(t) for t in s.tiers],
            created_at=instant(s.create_time),
            updated_at=instant(s.update_time),
        )


class PollOptionOut(BaseModel):
    """One option of a poll, with how many voted for it and whether you did."""

    text: str
    vote_count: int = Field(ge=0, le=INT32_MAX)
    chosen_by_me: bool


class PollOut(BaseModel):
    """A post's poll and its results; each reader votes once."""

    model_config = examples(POLL)
    options: list[PollOptionOut]

    @classmethod
    def from_proto(cls, p: pb.Poll) -> PollOut:
        return cls.model_construct(
            options=[
                PollOptionOut.model_construct(
                    text=o.text, vote_count=o.vote_count, chosen_by_me=o.chosen_by_me
                )
                for o in p.options
            ]
        )


class PostMediumOut(BaseModel):
    """A file a post carries; GET .../media/{media_id} gives a URL that reads it."""

    model_config = examples(MEDIUM)
    media_id: str
    content_type: str
    size_bytes: Int64

    @classmethod
    def from_proto(cls, m: pb.PostMedium) -> PostMediumOut:
        return cls.model_construct(
            media_id=m.media_id, content_type=m.content_type, size_bytes=m.size_bytes
        )


class PostOut(BaseModel):
    """A post as you may read it: whole, or locked (title, level and kind; no body, poll or
    media) when your level is below its own."""

    model_config = examples(POST)
    post_id: str
    stream_id: str
    title: str
    body: str = Field(description="Empty when locked.")
    level: int = Field(ge=0, le=INT32_MAX, description="The least tier level that reads it whole.")
    state: PostStateName
    locked: bool
    created_at: datetime
    published_at: datetime | None = Field(description="None while a draft.")
    scheduled_for: datetime | None = Field(
        description="A draft's time to go out by itself (you see your own drafts only)."
    )
    poll: PollOut | None = Field(description="None without a poll, or when locked.")
    like_count: int = Field(ge=0, le=INT32_MAX)
    comment_count: int = Field(
        ge=0, le=INT32_MAX, description="The comments everyone sees (not hidden nor deleted)."
    )
    liked_by_me: bool
    saved_by_me: bool
    unlock_price: Money | None = Field(
        description="Its one-off price whatever the tier (POST .../unlock); None: not sold alone."
    )
    unlocked: bool = Field(description="Whether you bought it: it reads whole for you.")
    kind: PostKindName
    media: list[PostMediumOut] = Field(description="Its files in order; empty when locked.")

    @classmethod
    def from_proto(cls, p: pb.Post) -> PostOut:
        return cls.model_construct(
            post_id=p.name.rsplit("/", 1)[-1],
            stream_id=p.stream.removeprefix("streams/"),
            title=p.title,
            body=p.body,
            level=p.level,
            state=POST_STATES.from_proto(p.state) or "draft",
            locked=p.locked,
            created_at=instant(p.create_time),
            published_at=instant(p.publish_time) if p.HasField("publish_time") else None,
            scheduled_for=instant(p.schedule_time) if p.HasField("schedule_time") else None,
            poll=PollOut.from_proto(p.poll) if p.HasField("poll") else None,
            like_count=p.like_count,
            comment_count=p.comment_count,
            liked_by_me=p.liked_by_me,
            saved_by_me=p.saved_by_me,
            unlock_price=Money.from_proto(p.unlock_price) if p.HasField("unlock_price") else None,
            unlocked=p.unlocked,
            kind=POST_KINDS.from_proto(p.kind) or "text",
            media=[PostMediumOut.from_proto(m) for m in p.media],
        )


class MediaUploadBody(StrictBody):
    model_config = examples({"content_type": "image/jpeg"})
    content_type: str = Field(
        min_length=1,
        max_length=255,
        description="The file's type: an image (jpeg, png, webp), video (mp4, webm) or "
        "audio (mpeg, mp4, ogg) type the service allows.",
    )


class MediaUploadOut(UploadFormOut):
    model_config = examples(
        {
            "media_id": MEDIUM["media_id"],
            "url": "https://media.example.com/estuary-media",
            "fields": {**S3_FORM_FIELDS, "key": f"streams/{STREAM_ID}/media/{MEDIUM['media_id']}"},
            "content_type": "image/jpeg",
            "max_bytes": 20971520,
            "expires_at": "2026-12-01T09:15:00Z",
        }
    )
    media_id: str = Field(description="What a post's media_ids name to carry the file.")

    @classmethod
    def from_proto(cls, u: pb.PostMediaUpload) -> MediaUploadOut:
        return cls.model_construct(media_id=u.media_id, **cls.form_of(u))


class MediaUrlOut(BaseModel):
    """Where one of a post's files is read, until expires_at (minutes)."""

    model_config = examples(
        {
            "url": "https://media.example.com/estuary-media/streams/...?X-Amz-Signature=...",
            "expires_at": "2026-12-01T09:05:00Z",
        }
    )
    url: str
    expires_at: datetime

    @classmethod
    def from_proto(cls, u: pb.PostMediaUrl) -> MediaUrlOut:
        return cls.model_construct(url=u.url, expires_at=instant(u.expire_time))


class FollowOut(BaseModel):
    """You follow a stream at this level (0, free, until a paid tier is subscribed)."""

    model_config = examples(
        {"stream_id": STREAM_ID, "level": 0, "created_at": "2026-03-10T09:30:00Z"}
    )
    stream_id: str
    level: int = Field(ge=0, le=INT32_MAX)
    created_at: datetime

    @classmethod
    def from_proto(cls, stream_id: str, f: pb.Follow) -> FollowOut:
        return cls.model_construct(
            stream_id=stream_id, level=f.level, created_at=instant(f.create_time)
        )


class CommentOut(BaseModel):
    """A comment on a post, or a reply to one of its top-level comments. A deleted one keeps
    its place with no text; a hidden one shows only to its author and the stream's owner."""

    model_config = examples(COMMENT_EXAMPLE)
    comment_id: str
    post_id: str
    stream_id: str
    reply_to: str | None = Field(description="The top-level comment it replies to.")
    author_user_id: str
    text: str = Field(description="Empty once deleted.")
    deleted: bool
    hidden: bool
    created_at: datetime
    edited_at: datetime | None = Field(description="None unless its text was changed.")

    @classmethod
    def from_proto(cls, c: pb.Comment) -> CommentOut:
        _, stream_id, _, post_id, _, comment_id = c.name.split("/")
        return cls.model_construct(
            comment_id=comment_id,
            post_id=post_id,
            stream_id=stream_id,
            reply_to=c.reply_to.rsplit("/", 1)[-1] if c.reply_to else None,
            author_user_id=c.author_user_id,
            text=c.text,
            deleted=c.deleted,
            hidden=c.hidden,
            created_at=instant(c.create_time),
            edited_at=instant(c.edit_time) if c.HasField("edit_time") else None,
        )


class LevelFollowersOut(BaseModel):
    level: int = Field(ge=0, le=INT32_MAX)
    followers: int = Field(ge=0, le=INT32_MAX)


class SubscriberDayOut(BaseModel):
    """Followers per tier level at the end of one UTC day."""

    date: date
    levels: list[LevelFollowersOut] = Field(description="Every level of the stream, lowest first.")
    total: int = Field(ge=0, le=INT32_MAX)


class PostEngagementOut(BaseModel):
    """What readers did with one published post."""

    post_id: str
    title: str
    level: int = Field(ge=0, le=INT32_MAX)
    published_at: datetime
    like_count: int = Field(ge=0, le=INT32_MAX)
    save_count: int = Field(ge=0, le=INT32_MAX)
    comment_count: int = Field(
        ge=0, le=INT32_MAX, description="The comments everyone sees (not hidden nor deleted)."
    )
    poll_vote_count: int = Field(ge=0, le=INT32_MAX)


class AnalyticsOut(BaseModel):
    """A stream's followers per level on each day of the window, and its recent posts'
    engagement (revenue will be a section of its own)."""

    model_config = examples(
        {
            "stream_id": STREAM_ID,
            "subscribers": [
                {
                    "date": "2026-12-01",
                    "levels": [{"level": 0, "followers": 120}, {"level": 1, "followers": 14}],
                    "total": 134,
                }
            ],
            "posts": [
                {
                    "post_id": POST["post_id"],
                    "title": POST["title"],
                    "level": 1,
                    "published_at": "2026-12-01T10:00:00Z",
                    "like_count": 12,
                    "save_count": 4,
                    "comment_count": 3,
                    "poll_vote_count": 0,
                }
            ],
        }
    )
    stream_id: str
    subscribers: list[SubscriberDayOut] = Field(description="One per day, oldest first.")
    posts: list[PostEngagementOut] = Field(
        description="The posts published in the window, newest first (at most 100)."
    )

    @classmethod
    def from_proto(cls, a: pb.StreamAnalytics) -> AnalyticsOut:
        return cls.model_construct(
            stream_id=a.name.split("/")[1],
            subscribers=[
                SubscriberDayOut.model_construct(
                    date=date.fromisoformat(d.date),
                    levels=[
                        LevelFollowersOut.model_construct(level=lv.level, followers=lv.followers)
                        for lv in d.levels
                    ],
                    total=d.total,
                )
                for d in a.subscribers
            ],
            posts=[
                PostEngagementOut.model_construct(
                    post_id=p.post.rsplit("/", 1)[-1],
                    title=p.title,
                    level=p.level,
                    published_at=instant(p.publish_time),
                    like_count=p.like_count,
                    save_count=p.save_count,
                    comment_count=p.comment_count,
                    poll_vote_count=p.poll_vote_count,
                )
                for p in a.posts
            ],
        )
