"""Posts taking their media: a stream owner's uploads, checked against what the media store
holds before a post carries them."""

from __future__ import annotations

from collections.abc import Sequence

from chassis.media import MediaStore
from chassis.media.port import check_stored
from services.streams.domain.media import (
    MediaUpload,
    PostKind,
    PostMedium,
    fits_kind,
    not_your_upload,
)
from services.streams.uow import StreamsUnitOfWork


async def attach_media(
    uow: StreamsUnitOfWork,
    store: MediaStore,
    uploader_user_id: str,
    post_id: str,
    stream_id: str,
    kind: PostKind,
    media_ids: Sequence[str],
) -> tuple[PostMedium, ...]:
    """The uploads a post of this kind carries, in order, each taken by the post once the
    store shows it holds what its slot allowed; the post's other media are let go. Each
    must be the uploader's upload to this stream that no other post carries, of a type the
    kind takes; else an error naming post.media[i]."""
    uploads: list[MediaUpload] = []
    for i, media_id in enumerate(media_ids):
        field = f"post.media[{i}]"
        upload = await uow.media.attachable(media_id, uploader_user_id, stream_id, post_id)
        if upload is None:
            raise not_your_upload(field)
        fits_kind(kind, upload.content_type, field)
        uploads.append(upload)
    carried = []
    for i, upload in enumerate(uploads):
        field = f"post.media[{i}]"
        stored = await store.stat(upload.key)
        size = check_stored(field, stored, upload.content_type, upload.max_bytes)
        if not await uow.media.attach(upload.id, post_id, i, size):
            raise not_your_upload(field)
        carried.append(PostMedium(upload.id, upload.content_type, size))
    await uow.media.discard_others(post_id, [u.id for u in uploads])
    return tuple(carried)
