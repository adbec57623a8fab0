"""Media posts, in the embedded shape (SQLite, the folder store through the gateway's signed
routes) and the production one (PostgreSQL, S3 on SeaweedFS, which checks the forms itself):
a stream's owner asks for an upload slot, the client uploads the file with its form, and a
post carries it; only a reader entitled to the post (its owner, a follower at its level or
above) is handed a URL that reads it, and a locked teaser carries neither URL nor key; an
erased creator's media leave the store through the sweep, and no URL reads them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.accounts import USER_DELETED
from chassis.auth.principal import Principal
from chassis.clock import FrozenClock
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.media import MediaStore, UploadForm
from chassis.money import Money
from estuary.identity.v1 import events_pb2 as identity_pb
from estuary.payments.v1 import events_pb2 as payments_pb
from services.streams.bootstrap import StreamsService
from services.streams.domain.media import PostKind
from services.streams.events import STREAM_ORDER_PAID
from services.streams.wire import post_to_proto
from tests.builders import person
from tests.infrastructure import postgres_database
from tests.integration.streams.test_sales import paid
from tests.integration.streams.world import (
    START,
    built_streams,
    consume,
    follow_at,
    practitioner,
)
from tests.integration.test_media import PNG, folder_settings, forms_outlived, gateway_client
from tests.races import race
from tests.seaweedfs import SeaweedS3

OGG = b"OggS" + b"\x00" * 28
ACCOUNTS = "streams.account-status"


@dataclass
class Studio:
    """Streams on a media store, with a client that reaches where the store's forms and
    URLs point (S3, or the gateway serving the folder store)."""

    service: StreamsService
    http: httpx.AsyncClient

    @property
    def store(self) -> MediaStore:
        return self.service.media.store

    async def upload(self, form: UploadForm, body: bytes, **fields: str) -> int:
        """Posts the form as a browser would (its fields, then the file); the status."""
        answer = await self.http.post(
            form.url,
            data={**form.fields, **fields},
            files={"file": ("file", body, form.content_type)},
        )
        return answer.status_code

    async def uploaded(
        self, owner: Principal, stream_id: str, body: bytes = PNG, content_type: str = "image/png"
    ) -> str:
        """An upload slot on the owner's stream, its file uploaded: the slot's id."""
        media_id, form = await self.service.media.upload(
            owner, f"streams/{stream_id}", content_type
        )
        assert await self.upload(form, body) == 204
        return media_id

    async def stream(self, owner: Principal) -> str:
        """The owner's stream with a paid tier (level 1)."""
        desk = self.service.desk
        stream = await desk.create_stream(owner, "Breath", "")
        await desk.create_tier(owner, f"streams/{stream.id}", "Inner circle", Money(900, "EUR"))
        return stream.id

    async def published(
        self, owner: Principal, stream_id: str, level: int, kind: PostKind, media: list[str]
    ) -> str:
        desk = self.service.desk
        post = await desk.create_post(
            owner, f"streams/{stream_id}", "Morning", "Light", level, kind=kind, media_ids=media
        )
        name = f"streams/{stream_id}/posts/{post.id}"
        await desk.publish_post(owner, name)
        return name


@asynccontextmanager
async def studio(
    shape: str, request: pytest.FixtureRequest, tmp_path: Path, **settings: Any
) -> AsyncIterator[Studio]:
    """Streams in this shape; S3's bucket is shared, so its keys are unique."""
    clock = FrozenClock(START)
    if shape == "production":
        server: SeaweedS3 = request.getfixturevalue("seaweed")
        with postgres_database() as url:
            async with (
                built_streams(url, clock, media=server.media_settings(), **settings) as service,
                httpx.AsyncClient() as http,
            ):
                yield Studio(service, http)
        return
    folder = tmp_path / "media"
    url = f"sqlite+aiosqlite:///{tmp_path}/streams.db"
    async with (
        built_streams(url, clock, media=folder_settings(folder), **settings) as service,
        gateway_client(folder, clock) as http,
    ):
        yield Studio(service, http)


@pytest.fixture(params=["embedded", "production"])
def shape(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def s(shape: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Studio]:
    async with studio(shape, request, tmp_path) as made:
        yield made


def refused_field(error: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str]:
    [violation] = error.value.violations
    return violation.field, violation.code


async def test_a_posts_media_url_goes_to_readers_entitled_to_it_only(s: Studio):
    owner, free, paid, stranger = practitioner(), person(), person(), person()
    stream_id = await s.stream(owner)
    await follow_at(s.service, stream_id, free, 0)
    await follow_at(s.service, stream_id, paid, 1)
    desk, media = s.service.desk, s.service.media
    image = await s.uploaded(owner, stream_id)
    # Its owner reads a draft's image before anyone else.
    draft = await desk.create_post(
        owner,
        f"streams/{stream_id}",
        "For the circle",
        "Look",
        1,
        kind=PostKind.IMAGE,
        media_ids=[image],
    )
    name = f"streams/{stream_id}/posts/{draft.id}"
    owners = await media.url(owner, f"{name}/media/{image}")
    read = await s.http.get(owners.url)
    assert (read.status_code, read.content) == (200, PNG)
    with pytest.raises(NotFound):
        await media.url(paid, f"{name}/media/{image}")
    await desk.publish_post(owner, name)

    # The paid tier's follower reads the post and its image.
    whole = await desk.get_post(paid, name)
    assert (whole.kind, [(m.id, m.content_type, m.size) for m in whole.media]) == (
        PostKind.IMAGE,
        [(image, "image/png", len(PNG))],
    )
    signed = await media.url(paid, f"{name}/media/{image}")
    read = await s.http.get(signed.url)
    assert (read.status_code, read.content) == (200, PNG)

    # The free tier's follower and a stranger see a teaser with neither key nor URL, and
    # are refused one.
    key = f"streams/{stream_id}/media/{image}"
    for reader in (free, stranger):
        teaser = await desk.get_post(reader, name)
        assert (teaser.locked, teaser.kind, teaser.media) == (True, PostKind.IMAGE, ())
        wire = post_to_proto(teaser).SerializeToString()
        assert image.encode() not in wire and key.encode() not in wire
        with pytest.raises(PermissionDenied) as locked:
            await media.url(reader, f"{name}/media/{image}")
        assert locked.value.reason == "POST_LOCKED"
    [in_feed] = (await desk.feed(free, 10, "")).items
    assert (in_feed.locked, in_feed.media) == (True, ())
    [in_paid_feed] = (await desk.feed(paid, 10, "")).items
    assert [m.id for m in in_paid_feed.media] == [image]

    # A free post's audio is the free follower's, still not a stranger's.
    audio = await s.uploaded(owner, stream_id, OGG, "audio/ogg")
    open_name = await s.published(owner, stream_id, 0, PostKind.AUDIO, [audio])
    assert (
        await s.http.get((await media.url(free, f"{open_name}/media/{audio}")).url)
    ).content == OGG
    with pytest.raises(PermissionDenied):
        await media.url(stranger, f"{open_name}/media/{audio}")
    # A medium of another post is not this post's.
    with pytest.raises(NotFound) as elsewhere:
        await media.url(paid, f"{open_name}/media/{image}")
    assert elsewhere.value.reason == "MEDIA_NOT_FOUND"


async def test_the_store_refuses_a_file_over_the_slots_size_or_of_another_type(
    shape: str, request: pytest.FixtureRequest, tmp_path: Path
):
    limits = {"image": 64, "video": 1024, "audio": 1024}
    async with studio(shape, request, tmp_path, post_media_max_bytes=limits) as s:
        owner = practitioner()
        stream_id = await s.stream(owner)
        media_id, form = await s.service.media.upload(owner, f"streams/{stream_id}", "image/png")
        assert (form.content_type, form.max_bytes) == ("image/png", 64)
        assert form.fields["key"] == f"streams/{stream_id}/media/{media_id}"
        # The store itself refuses a bigger file than the form allows, and another type.
        assert await s.upload(form, b"x" * 65) == 400
        assert await s.upload(form, b"<html>", **{"Content-Type": "text/html"}) == 403
        assert await s.store.stat(form.key) is None
        # Nothing uploaded: the post is refused, naming the medium.
        with pytest.raises(InvalidArgument) as missing:
            await s.published(owner, stream_id, 0, PostKind.IMAGE, [media_id])
        assert refused_field(missing) == ("post.media[0]", "not_uploaded")
        # A file put past the form (a store that did not check): streams' own look refuses it.
        wider = await s.store.presign_upload(form.key, "image/png", max_bytes=1000)
        assert await s.upload(wider, b"x" * 100) == 204
        with pytest.raises(InvalidArgument) as too_big:
            await s.published(owner, stream_id, 0, PostKind.IMAGE, [media_id])
        assert refused_field(too_big) == ("post.media[0]", "wrong_size")
        assert await s.upload(form, PNG) == 204
        name = await s.published(owner, stream_id, 0, PostKind.IMAGE, [media_id])
        assert [m.size for m in (await s.service.desk.get_post(owner, name)).media] == [len(PNG)]


async def test_a_post_carries_only_its_owners_uploads_of_the_kinds_it_takes(s: Studio):
    owner, rival = practitioner(), practitioner()
    stream_id, rival_stream = await s.stream(owner), await s.stream(rival)
    media, desk = s.service.media, s.service.desk
    with pytest.raises(PermissionDenied):
        await media.upload(rival, f"streams/{stream_id}", "image/png")
    with pytest.raises(InvalidArgument) as unsupported:
        await media.upload(owner, f"streams/{stream_id}", "application/pdf")
    assert refused_field(unsupported) == ("content_type", "unsupported_type")
    image = await s.uploaded(owner, stream_id)
    audio = await s.uploaded(owner, stream_id, OGG, "audio/ogg")
    theirs = await s.uploaded(rival, rival_stream)
    refusals = [
        (PostKind.IMAGE, [theirs], ("post.media[0]", "not_found")),
        (PostKind.IMAGE, [audio], ("post.media[0]", "wrong_type")),
        (PostKind.IMAGE, [image, audio], ("post.media", "wrong_count")),
        (PostKind.GALLERY, [image], ("post.media", "wrong_count")),
        (PostKind.GALLERY, [image, image], ("post.media[1]", "duplicate")),
        (PostKind.TEXT, [image], ("post.media", "wrong_count")),
        (PostKind.VIDEO, ["not-an-id"], ("post.media[0]", "invalid")),
    ]
    for kind, carried, refusal in refusals:
        with pytest.raises(InvalidArgument) as refused:
            await s.published(owner, stream_id, 0, kind, carried)
        assert refused_field(refused) == refusal, kind
    assert (await desk.list_posts(owner, f"streams/{stream_id}", 10, "")).items == []
    # One post takes an upload; another post cannot.
    await s.published(owner, stream_id, 0, PostKind.IMAGE, [image])
    with pytest.raises(InvalidArgument) as taken:
        await s.published(owner, stream_id, 0, PostKind.IMAGE, [image])
    assert refused_field(taken) == ("post.media[0]", "not_found")


async def test_a_drafts_media_change_and_a_published_posts_stay(s: Studio):
    owner = practitioner()
    stream_id = await s.stream(owner)
    desk = s.service.desk
    first, second, third = [await s.uploaded(owner, stream_id) for _ in range(3)]
    draft = await desk.create_post(
        owner, f"streams/{stream_id}", "Set", "Three", 0, kind=PostKind.IMAGE, media_ids=[first]
    )
    name = f"streams/{stream_id}/posts/{draft.id}"
    gallery = await desk.update_post(
        owner, name, ["media"], "", "", 0, kind=PostKind.GALLERY, media_ids=[third, second]
    )
    assert (gallery.kind, [m.id for m in gallery.media]) == (PostKind.GALLERY, [third, second])
    # The image it let go is nobody's to carry any more.
    with pytest.raises(InvalidArgument):
        await s.published(owner, stream_id, 0, PostKind.IMAGE, [first])
    await desk.publish_post(owner, name)
    with pytest.raises(FailedPrecondition) as published:
        await desk.update_post(owner, name, ["media"], "", "", 0)
    assert published.value.reason == "POST_PUBLISHED"
    assert [m.id for m in (await desk.get_post(owner, name)).media] == [third, second]


async def test_two_posts_taking_one_upload_at_once_leave_it_to_one(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        owner = practitioner()
        stream = await service.desk.create_stream(owner, "Breath", "")
        media_id, form = await service.media.upload(owner, f"streams/{stream.id}", "image/png")
        # The folder store's own way in, as the gateway's upload route hands it the file.
        await service.media.store.accept_upload(form.fields, _chunks(PNG))  # type: ignore[attr-defined]
        attempts = [
            partial(
                service.desk.create_post,
                owner,
                f"streams/{stream.id}",
                f"Take {n}",
                "Mine",
                0,
                kind=PostKind.IMAGE,
                media_ids=[media_id],
            )
            for n in range(8)
        ]
        outcome = await race(attempts)
        outcome.one_winner(losers=(InvalidArgument,))
        posts = (await service.desk.list_posts(owner, f"streams/{stream.id}", 20, "")).items
        assert [[m.id for m in p.media] for p in posts] == [[media_id]]


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def test_media_a_draft_let_go_and_uploads_never_used_lose_their_objects(s: Studio):
    owner = practitioner()
    stream_id = await s.stream(owner)
    desk, sweeper = s.service.desk, s.service.sweeper
    kept, let_go, unused = [await s.uploaded(owner, stream_id) for _ in range(3)]
    draft = await desk.create_post(
        owner, f"streams/{stream_id}", "Set", "One", 0, kind=PostKind.IMAGE, media_ids=[let_go]
    )
    name = f"streams/{stream_id}/posts/{draft.id}"
    await desk.update_post(owner, name, ["media"], "", "", 0, kind=PostKind.IMAGE, media_ids=[kept])

    def key(media_id: str) -> str:
        return f"streams/{stream_id}/media/{media_id}"

    assert await sweeper.sweep() == 1
    assert await s.store.stat(key(let_go)) is None
    assert await s.store.stat(key(unused)) is not None
    # An upload no post took within ESTUARY_POST_MEDIA_PENDING_HOURS (24) goes too, and the
    # let-go upload's row, kept while its form could still be used, with it.
    s.service.runtime.clock.advance(timedelta(hours=25))  # type: ignore[attr-defined]
    assert await sweeper.sweep() == 2
    assert await s.store.stat(key(unused)) is None
    assert await s.store.stat(key(kept)) is not None
    assert await sweeper.sweep() == 0
    signed = await s.service.media.url(owner, f"{name}/media/{kept}")
    assert (await s.http.get(signed.url)).content == PNG


async def test_a_file_sent_with_a_form_from_before_the_erasure_goes_too(s: Studio):
    owner = practitioner()
    stream_id = await s.stream(owner)
    media_id, form = await s.service.media.upload(owner, f"streams/{stream_id}", "image/png")
    key = f"streams/{stream_id}/media/{media_id}"
    erasure = identity_pb.UserDeleted(user_id=owner.user_id)
    assert (await consume(s.service, ACCOUNTS, USER_DELETED, erasure)).settled == ["ack"]
    assert await s.service.sweeper.sweep() == 1  # nothing there yet: deleted as done

    # The creator's app sends the file after the sweep, while its form is still good.
    assert await s.upload(form, PNG) == 204
    assert await s.store.stat(key) is not None
    assert await s.service.sweeper.sweep() == 1
    assert await s.store.stat(key) is None
    # Once no form for it can be used, its row goes and nothing is left to do.
    s.service.runtime.clock.advance(forms_outlived(s.store))  # type: ignore[attr-defined]
    assert await s.service.sweeper.sweep() == 1
    assert await s.service.sweeper.sweep() == 0


async def test_a_buyer_of_a_post_gets_its_media_url_whatever_their_tier(s: Studio):
    owner, buyer, other = practitioner(), person(), person()
    stream_id = await s.stream(owner)
    parent = f"streams/{stream_id}"
    image = await s.uploaded(owner, stream_id)
    draft = await s.service.desk.create_post(
        owner,
        parent,
        "Deep",
        "Look",
        1,
        unlock_price=Money(300, "EUR"),
        kind=PostKind.IMAGE,
        media_ids=[image],
    )
    name = f"{parent}/posts/{draft.id}"
    await s.service.desk.publish_post(owner, name)
    for reader in (buyer, other):
        await follow_at(s.service, stream_id, reader, 0)
    unlock = paid(
        parent, name, {"kind": payments_pb.STREAM_ORDER_KIND_UNLOCK, "user_id": buyer.user_id}
    )
    assert (await consume(s.service, "streams.sales", STREAM_ORDER_PAID, unlock)).settled == ["ack"]
    signed = await s.service.media.url(buyer, f"{name}/media/{image}")
    assert (await s.http.get(signed.url)).content == PNG
    assert [m.id for m in (await s.service.desk.get_post(buyer, name)).media] == [image]
    with pytest.raises(PermissionDenied):
        await s.service.media.url(other, f"{name}/media/{image}")


async def test_an_erased_creators_media_leave_the_store_and_no_url_reads_them(s: Studio):
    owner, follower = practitioner(), person()
    stream_id = await s.stream(owner)
    carried, started = await s.uploaded(owner, stream_id), await s.uploaded(owner, stream_id)
    name = await s.published(owner, stream_id, 0, PostKind.IMAGE, [carried])
    await follow_at(s.service, stream_id, follower, 0)
    handed_out = await s.service.media.url(follower, f"{name}/media/{carried}")
    erasure = identity_pb.UserDeleted(user_id=owner.user_id)

    assert (await consume(s.service, ACCOUNTS, USER_DELETED, erasure)).settled == ["ack"]
    with pytest.raises(NotFound):
        await s.service.media.url(follower, f"{name}/media/{carried}")

    def key(media_id: str) -> str:
        return f"streams/{stream_id}/media/{media_id}"

    # As a sweep that died after deleting the object, before forgetting its row, leaves it.
    await s.store.delete(key(started))
    assert await s.service.sweeper.sweep() == 2
    assert [await s.store.stat(key(m)) for m in (carried, started)] == [None, None]
    assert (await s.http.get(handed_out.url)).status_code == 404
    # Their rows stay, and each sweep deletes again, while a form for them could be used.
    assert await s.service.sweeper.sweep() == 2
    s.service.runtime.clock.advance(forms_outlived(s.store))  # type: ignore[attr-defined]
    assert await s.service.sweeper.sweep() == 2
    assert await s.service.sweeper.sweep() == 0
    # The event again finds nothing more to delete.
    assert (await consume(s.service, ACCOUNTS, USER_DELETED, erasure)).settled == ["ack"]
    assert await s.service.sweeper.sweep() == 0
