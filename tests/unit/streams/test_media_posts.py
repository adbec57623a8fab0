"""Who reads a post whole (the one entitlement rule), what a locked teaser keeps of a media
post, and how many and which uploads each kind of post carries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chassis.errors import InvalidArgument
from chassis.ids import new_id
from services.streams.domain.media import PostKind, PostMedium, fits_kind, post_media_ids
from services.streams.domain.streams import Post, PostState, entitled

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("post_level", "reader_level", "unlocked", "reads"),
    [
        (0, None, False, False),  # not a follower
        (0, 0, False, True),
        (1, 0, False, False),  # a lower tier
        (1, 1, False, True),
        (1, 2, False, True),  # a higher tier reads everything a lower one does
        (2, None, True, True),  # an unlocked post, whatever the level
        (2, 1, True, True),
    ],
)
def test_a_reader_is_entitled_at_the_posts_level_or_above_or_having_unlocked_it(
    post_level, reader_level, unlocked, reads
):
    assert entitled(post_level, reader_level, unlocked=unlocked) is reads


def test_a_locked_teaser_keeps_its_kind_and_nothing_of_its_media():
    medium = PostMedium(new_id(), "image/png", 100)
    post = Post(
        new_id(),
        new_id(),
        "View",
        "Text",
        1,
        PostState.PUBLISHED,
        NOW,
        kind=PostKind.IMAGE,
        media=(medium,),
    )
    assert post.as_read_at(1).media == (medium,)
    teaser = post.as_read_at(0)
    assert (teaser.locked, teaser.kind, teaser.media, teaser.body) == (
        True,
        PostKind.IMAGE,
        (),
        "",
    )
    bought = replace(post, unlocked=True)
    assert bought.as_read_at(0) == bought


@pytest.mark.parametrize(
    ("kind", "count", "fits"),
    [
        (PostKind.TEXT, 0, True),
        (PostKind.TEXT, 1, False),
        (PostKind.IMAGE, 1, True),
        (PostKind.IMAGE, 0, False),
        (PostKind.AUDIO, 2, False),
        (PostKind.GALLERY, 1, False),
        (PostKind.GALLERY, 2, True),
        (PostKind.GALLERY, 20, True),
        (PostKind.GALLERY, 21, False),
    ],
)
def test_each_kind_carries_its_number_of_media(kind, count, fits):
    ids = [new_id() for _ in range(count)]
    if fits:
        assert post_media_ids(kind, ids) == ids
        return
    with pytest.raises(InvalidArgument) as refused:
        post_media_ids(kind, ids)
    assert [(v.field, v.code) for v in refused.value.violations] == [("post.media", "wrong_count")]


@pytest.mark.parametrize(
    ("kind", "content_type", "fits"),
    [
        (PostKind.IMAGE, "image/webp", True),
        (PostKind.IMAGE, "video/mp4", False),
        (PostKind.VIDEO, "video/webm", True),
        (PostKind.AUDIO, "audio/ogg", True),
        (PostKind.AUDIO, "image/png", False),
        (PostKind.GALLERY, "video/mp4", True),
        (PostKind.GALLERY, "audio/mpeg", False),
    ],
)
def test_each_kind_carries_its_types_only(kind, content_type, fits):
    if fits:
        fits_kind(kind, content_type, "post.media[0]")
        return
    with pytest.raises(InvalidArgument) as refused:
        fits_kind(kind, content_type, "post.media[0]")
    assert [(v.field, v.code) for v in refused.value.violations] == [
        ("post.media[0]", "wrong_type")
    ]
