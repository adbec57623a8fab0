"""Media posts' handlers: a stream's owner asks for an upload slot (a form the client posts
straight to the media store, limited to one allowed type and size, the object private), a
post then carries the owner's uploads, and a reader entitled to the post (the entitlement
rule of domain/streams.py) gets a short-lived URL to read one. A locked teaser carries no
media, so no key or URL reaches a reader below the post's level."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chassis.auth.principal import Principal
from chassis.clock import Clock
from chassis.errors import InvalidArgument, NotFound, PermissionDenied
from chassis.ids import is_uuid, new_id
from chassis.media import MediaStore, SignedUrl, UploadForm
from chassis.media.port import allowed_type
from services.streams.desk import (
    reader_level,
    require_owner,
    stream_id_in,
    stream_of,
    visible_post,
)
from services.streams.domain.media import MediaUpload
from services.streams.settings import StreamsSettings
from services.streams.uow import StreamsUnitOfWork


def media_name_in(field: str, name: str) -> tuple[str, str, str]:
    """The stream, post and medium ids of "streams/{id}/posts/{id}/media/{id}"."""
    parts = name.split("/")
    if (
        len(parts) != 6
        or (parts[0], parts[2], parts[4]) != ("streams", "posts", "media")
        or not all(is_uuid(parts[n]) for n in (1, 3, 5))
    ):
        raise InvalidArgument.field(field, "must be streams/{id}/posts/{id}/media/{id}", "invalid")
    return parts[1], parts[3], parts[5]


@dataclass
class MediaDesk:
    """Uploads for posts, and URLs to read a post's media."""

    unit_of_work: Callable[..., StreamsUnitOfWork]
    clock: Clock
    store: MediaStore
    settings: StreamsSettings

    async def upload(
        self, caller: Principal, parent: str, content_type: str
    ) -> tuple[str, UploadForm]:
        """An upload slot on the caller's own stream: a form for one object of an allowed
        type, at most the settings' size for it; the slot's id, which a post then names."""
        stream_id = stream_id_in("parent", parent)
        content_type = allowed_type(content_type, self.settings.post_media_types)
        async with self.unit_of_work() as uow:
            require_owner(caller, await stream_of(uow, stream_id))
            upload = MediaUpload(
                new_id(),
                stream_id,
                caller.user_id,
                content_type,
                self.settings.largest_post_medium(content_type),
                self.clock.now(),
            )
            form = await self.store.presign_upload(
                upload.key, content_type, max_bytes=upload.max_bytes
            )
            await uow.media.add_pending(upload)
            await uow.commit()
        return upload.id, form

    async def url(self, caller: Principal, name: str) -> SignedUrl:
        """A URL that reads one of a post's media for a short while, for a reader entitled to
        the post (its owner, a draft's too; a follower at its level or above; its buyer);
        PERMISSION_DENIED POST_LOCKED for the others."""
        stream_id, post_id, media_id = media_name_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
            post = await visible_post(uow, caller, stream, post_id)
            # An unlock bought through payments opens it whatever the level.
            (post,) = await uow.engagement.as_read_by([post], caller.user_id)
            if not post.readable_at(await reader_level(uow, caller, stream)):
                raise PermissionDenied(
                    "the post is above the tier level you follow its stream at",
                    reason="POST_LOCKED",
                )
            key = await uow.media.key_of(post.id, media_id)
        if key is None:
            raise NotFound(f"{name} was not found", reason="MEDIA_NOT_FOUND")
        return await self.store.download_url(key)
