"""Media objects (post media, message attachments): one port, an S3 and a folder adapter."""

from __future__ import annotations

from chassis.clock import Clock
from chassis.media.folder import FolderMediaStore, MediaMisconfigured
from chassis.media.port import MediaStore, SignedUrl, StoredObject, UploadForm
from chassis.media.s3 import S3MediaStore
from chassis.media.settings import MediaSettings

__all__ = [
    "FolderMediaStore",
    "MediaMisconfigured",
    "MediaSettings",
    "MediaStore",
    "S3MediaStore",
    "SignedUrl",
    "StoredObject",
    "UploadForm",
    "media_store",
]


def media_store(settings: MediaSettings, *, clock: Clock | None = None) -> MediaStore:
    """The store the settings name: S3, or the folder (whose URLs the gateway serves)."""
    if settings.backend == "s3":
        return S3MediaStore(settings, clock=clock)
    return FolderMediaStore(settings, clock=clock)
