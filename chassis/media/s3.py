"""The media store on an S3-compatible object store: presigned POST policy uploads and
presigned GET URLs, signed with SigV4 by aiobotocore; the bucket stays private."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from chassis.clock import Clock
from chassis.errors import Unavailable
from chassis.media.port import (
    SignedUrl,
    StoredObject,
    UploadForm,
    check_key,
    check_lifetime,
    check_upload,
)
from chassis.media.settings import MediaSettings

# What S3 answers for a key that holds nothing (HEAD has no body, so only the status).
ABSENT = frozenset({"404", "NoSuchKey", "NotFound"})


class S3MediaStore:
    """Media objects in one private bucket; the client opens on first use."""

    def __init__(
        self, settings: MediaSettings, *, clock: Clock | None = None, attempts: int = 3
    ) -> None:
        self.settings = settings
        self._clock = clock or Clock()
        self._attempts = attempts
        self._exit_stack = AsyncExitStack()
        self._client: Any = None
        self._opening = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._opening:
            if self._client is None:
                settings = self.settings
                config = AioConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if settings.path_style else "virtual"},
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": self._attempts, "mode": "standard"},
                    # Checksums beyond Content-MD5 are AWS's newer default, which not every
                    # S3-compatible server accepts; nothing here needs them.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._client = await self._exit_stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=settings.endpoint or None,
                        region_name=settings.region,
                        aws_access_key_id=settings.access_key,
                        aws_secret_access_key=settings.secret_key,
                        config=config,
                    )
                )
            return self._client

    async def presign_upload(
        self,
        key: str,
        content_type: str,
        *,
        max_bytes: int | None = None,
        expires_in: int | None = None,
    ) -> UploadForm:
        """A POST policy naming the exact key and content type, and 1..max_bytes bytes."""
        upload = check_upload(self.settings, key, content_type, max_bytes, expires_in)
        expires_at = self._clock.now() + timedelta(seconds=upload.expires_in)
        client = await self._s3()
        post = await client.generate_presigned_post(
            self.settings.bucket,
            upload.key,
            Fields={"Content-Type": upload.content_type},
            Conditions=[
                {"Content-Type": upload.content_type},
                ["content-length-range", 1, upload.max_bytes],
            ],
            ExpiresIn=upload.expires_in,
        )
        return UploadForm(
            url=post["url"],
            fields=dict(post["fields"]),
            key=upload.key,
            content_type=upload.content_type,
            max_bytes=upload.max_bytes,
            expires_at=expires_at,
        )

    async def stat(self, key: str) -> StoredObject | None:
        """The object's size and content type from a HEAD, or None if nothing is there."""
        client = await self._s3()
        try:
            head = await client.head_object(Bucket=self.settings.bucket, Key=check_key(key))
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in ABSENT:
                return None
            raise
        except BotoCoreError as error:
            raise Unavailable("the media store is unreachable") from error
        return StoredObject(
            key=key,
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType") or "application/octet-stream"),
        )

    async def download_url(self, key: str, *, expires_in: int | None = None) -> SignedUrl:
        """A presigned GET of the object."""
        ttl = check_lifetime(expires_in, self.settings.download_url_ttl_seconds)
        expires_at = self._clock.now() + timedelta(seconds=ttl)
        client = await self._s3()
        url = await client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.settings.bucket, "Key": check_key(key)},
            ExpiresIn=ttl,
        )
        return SignedUrl(url=url, expires_at=expires_at)

    async def delete(self, key: str) -> None:
        """Deletes the object; deleting what is not there succeeds, as in S3."""
        client = await self._s3()
        try:
            await client.delete_object(Bucket=self.settings.bucket, Key=check_key(key))
        except BotoCoreError as error:
            raise Unavailable("the media store is unreachable") from error

    async def close(self) -> None:
        """Closes the client's connections."""
        await self._exit_stack.aclose()
        self._client = None
