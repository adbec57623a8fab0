"""The media store in a folder, for the embedded mode: the same interface as S3, with upload
forms and download URLs signed (HMAC-SHA256) for the gateway's media routes, which hand the
requests back here to be checked and carried out."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from chassis.clock import Clock
from chassis.errors import InvalidArgument, NotFound, PermissionDenied
from chassis.media.port import (
    SignedUrl,
    StoredObject,
    UploadForm,
    check_key,
    check_lifetime,
    check_upload,
)
from chassis.media.settings import MediaSettings

UPLOADS_PATH = "/api/v1/media-uploads"
OBJECTS_PATH = "/api/v1/media-objects"
# The form's fields, named as S3 names them, so a client uploads to either store alike.
KEY_FIELD = "key"
TYPE_FIELD = "Content-Type"
POLICY_FIELD = "policy"
SIGNATURE_FIELD = "signature"
# Beside an incoming file, its content type until both are moved into place.
TYPE_SUFFIX = ".type"


class MediaMisconfigured(ValueError):
    """The media settings do not make a store; the message names the setting."""


@dataclass(frozen=True)
class Download:
    """A verified request to read an object: where its bytes are and what they are."""

    path: Path
    stored: StoredObject


class FolderMediaStore:
    """Objects as files under `settings.folder`, named by their key's SHA-256 (objects/ab/
    abcd...), their content types beside them in types/: any key S3 takes ('a' and 'a/b'
    both, segments of any length) makes a file name."""

    def __init__(self, settings: MediaSettings, *, clock: Clock | None = None) -> None:
        if not settings.signing_secret:
            raise MediaMisconfigured(
                "ESTUARY_MEDIA_SIGNING_SECRET must be set for the folder backend: the "
                "services sign its URLs with it and the gateway checks them"
            )
        self.settings = settings
        self._clock = clock or Clock()
        self._key = settings.signing_secret.encode()
        root = Path(settings.folder)
        self._objects = root / "objects"
        self._types = root / "types"
        # Keys never start with a dot, so no object can be named like this folder's files.
        self._incoming = root / ".incoming"

    async def presign_upload(
        self,
        key: str,
        content_type: str,
        *,
        max_bytes: int | None = None,
        expires_in: int | None = None,
    ) -> UploadForm:
        """A form for the gateway's upload route, its policy signed."""
        upload = check_upload(self.settings, key, content_type, max_bytes, expires_in)
        expires_at = self._expiry(upload.expires_in)
        policy = _encode(
            {
                "key": upload.key,
                "content_type": upload.content_type,
                "max_bytes": upload.max_bytes,
                "expires": int(expires_at.timestamp()),
            }
        )
        return UploadForm(
            url=self.settings.public_url + UPLOADS_PATH,
            fields={
                KEY_FIELD: upload.key,
                TYPE_FIELD: upload.content_type,
                POLICY_FIELD: policy,
                SIGNATURE_FIELD: self._sign("POST", policy),
            },
            key=upload.key,
            content_type=upload.content_type,
            max_bytes=upload.max_bytes,
            expires_at=expires_at,
        )

    async def accept_upload(
        self, fields: Mapping[str, str], content: AsyncIterable[bytes]
    ) -> StoredObject:
        """Stores a posted form's file if its policy is signed, unexpired and met: the key and
        content type it names, 1..max_bytes bytes; else PermissionDenied or InvalidArgument
        and nothing stored."""
        policy = self._verified(
            "POST", fields.get(POLICY_FIELD, ""), fields.get(SIGNATURE_FIELD, "")
        )
        try:
            key = check_key(str(policy["key"]))
            content_type = str(policy["content_type"])
            max_bytes = int(policy["max_bytes"])
            expires = int(policy["expires"])
        except (KeyError, TypeError, ValueError) as error:
            raise PermissionDenied(
                "the upload policy is malformed", reason="MEDIA_POLICY_INVALID"
            ) from error
        if self._now() > expires:
            raise PermissionDenied("the upload form has expired", reason="MEDIA_URL_EXPIRED")
        if fields.get(KEY_FIELD) != key or fields.get(TYPE_FIELD) != content_type:
            raise PermissionDenied(
                "the form's key or Content-Type is not the one its policy names",
                reason="MEDIA_POLICY_CONDITION_FAILED",
            )
        await asyncio.to_thread(self._incoming.mkdir, parents=True, exist_ok=True)
        partial = self._incoming / secrets.token_hex(16)
        try:
            size = await self._receive(partial, content, max_bytes)
            if size == 0:
                raise InvalidArgument.field("file", "must not be empty", "too_small")
            await asyncio.to_thread(self._keep, partial, key, content_type)
        finally:
            partial.unlink(missing_ok=True)
            partial.with_suffix(TYPE_SUFFIX).unlink(missing_ok=True)
        return StoredObject(key=key, size=size, content_type=content_type)

    async def stat(self, key: str) -> StoredObject | None:
        """The stored file's size and content type, or None."""
        return await asyncio.to_thread(self._stat, check_key(key))

    async def download_url(self, key: str, *, expires_in: int | None = None) -> SignedUrl:
        """A signed URL of the gateway's object route."""
        key = check_key(key)
        expires_at = self._expiry(
            check_lifetime(expires_in, self.settings.download_url_ttl_seconds)
        )
        expires = str(int(expires_at.timestamp()))
        query = urlencode({"expires": expires, "signature": self._sign("GET", key, expires)})
        url = f"{self.settings.public_url}{OBJECTS_PATH}/{quote(key)}?{query}"
        return SignedUrl(url=url, expires_at=expires_at)

    async def open_download(self, key: str, expires: str, signature: str) -> Download:
        """The object a signed URL reads, if the signature is ours and unexpired."""
        self._verify(signature, "GET", key, expires)
        if not expires.isdigit() or self._now() > int(expires):
            raise PermissionDenied("the URL has expired", reason="MEDIA_URL_EXPIRED")
        stored = await self.stat(key)
        if stored is None:
            raise NotFound("no such media object", reason="MEDIA_OBJECT_NOT_FOUND")
        return Download(path=self._file(self._objects, key), stored=stored)

    async def delete(self, key: str) -> None:
        """Removes the file and its type; removing what is not there succeeds."""
        key = check_key(key)
        for folder in (self._objects, self._types):
            await asyncio.to_thread(self._file(folder, key).unlink, missing_ok=True)

    async def close(self) -> None:
        """Nothing to release: each call opens and closes its own files."""

    @staticmethod
    def _file(folder: Path, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()
        return folder / name[:2] / name

    def _now(self) -> int:
        # Whole seconds, as expiries are signed and as S3 compares them.
        return int(self._clock.now().timestamp())

    def _expiry(self, ttl_seconds: int) -> datetime:
        return datetime.fromtimestamp(self._now(), UTC) + timedelta(seconds=ttl_seconds)

    def _sign(self, *parts: str) -> str:
        message = "\n".join(parts).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _verify(self, signature: str, *parts: str) -> None:
        if not hmac.compare_digest(self._sign(*parts), signature):
            raise PermissionDenied("the signature does not match", reason="MEDIA_SIGNATURE_INVALID")

    def _verified(self, method: str, policy: str, signature: str) -> dict[str, Any]:
        self._verify(signature, method, policy)
        try:
            decoded = json.loads(base64.b64decode(policy, validate=True))
        except ValueError as error:
            raise PermissionDenied(
                "the upload policy is malformed", reason="MEDIA_POLICY_INVALID"
            ) from error
        if not isinstance(decoded, dict):
            raise PermissionDenied("the upload policy is malformed", reason="MEDIA_POLICY_INVALID")
        return decoded

    async def _receive(self, partial: Path, content: AsyncIterable[bytes], max_bytes: int) -> int:
        size = 0
        with await asyncio.to_thread(partial.open, "wb") as file:
            async for chunk in content:
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidArgument.field(
                        "file", f"must be at most {max_bytes} bytes", "too_large"
                    )
                await asyncio.to_thread(file.write, chunk)
        return size

    def _keep(self, partial: Path, key: str, content_type: str) -> None:
        target, type_file = self._file(self._objects, key), self._file(self._types, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        type_file.parent.mkdir(parents=True, exist_ok=True)
        # The type first: a reader who finds the object finds its type beside it.
        typed = partial.with_suffix(TYPE_SUFFIX)
        typed.write_text(content_type)
        os.replace(typed, type_file)
        os.replace(partial, target)

    def _stat(self, key: str) -> StoredObject | None:
        try:
            size = self._file(self._objects, key).stat().st_size
            content_type = self._file(self._types, key).read_text()
        except FileNotFoundError:
            return None
        return StoredObject(key=key, size=size, content_type=content_type)


def _encode(policy: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(policy, sort_keys=True).encode()).decode()
