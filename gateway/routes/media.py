"""The folder media store's signed routes, for the embedded mode: a POST of an upload form
(/api/v1/media-uploads) and a GET of an object's signed URL (/api/v1/media-objects/{key}).
The chassis's store signed them and checks them; these routes only carry the bytes. With
the S3 store, clients talk to S3 and these routes answer 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Form, Path, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, Response

from chassis.errors import NotFound
from chassis.media import FolderMediaStore
from chassis.media.folder import (
    KEY_FIELD,
    OBJECTS_PATH,
    POLICY_FIELD,
    SIGNATURE_FIELD,
    TYPE_FIELD,
    UPLOADS_PATH,
)
from chassis.media.port import KEY_MAX_LENGTH
from gateway.problems import responses
from gateway.routes.common import GatewayRouter

router = GatewayRouter(tags=["media"])

CHUNK_BYTES = 1024 * 1024
# What a form's own fields and part headers add to the file's bytes in an upload's body.
FORM_OVERHEAD_BYTES = 64 * 1024
SIGNATURE_PATTERN = "^[0-9a-f]{64}$"


def folder_store(request: Request) -> FolderMediaStore:
    """The folder store whose URLs this gateway serves, or 404 when media live in S3."""
    store: FolderMediaStore | None = request.app.state.media
    if store is None:
        raise NotFound("this gateway serves no media: the media store is S3", reason="NOT_FOUND")
    return store


class MediaUploadForm(BaseModel):
    """An upload form as the client posts it: the fields a service handed out, then the file."""

    model_config = ConfigDict(populate_by_name=True)

    key: str = Field(max_length=KEY_MAX_LENGTH, description="The form's key.")
    content_type: str = Field(
        alias="Content-Type", max_length=255, description="The form's Content-Type."
    )
    policy: str = Field(max_length=4096, description="The form's signed policy.")
    signature: str = Field(pattern=SIGNATURE_PATTERN, description="The policy's signature.")
    file: UploadFile = Field(description="The object's bytes, as the last part.")


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(CHUNK_BYTES):
        yield chunk


@router.post(
    UPLOADS_PATH,
    operation_id="media.upload",
    status_code=204,
    responses=responses(400, 403),
)
async def upload(
    request: Request, form: Annotated[MediaUploadForm, Form(media_type="multipart/form-data")]
) -> Response:
    """Stores the file of an upload form a service handed out (its fields as given, then the
    file): refused unless its policy is signed and unexpired and the file has the policy's
    content type and at most its size."""
    fields = {
        KEY_FIELD: form.key,
        TYPE_FIELD: form.content_type,
        POLICY_FIELD: form.policy,
        SIGNATURE_FIELD: form.signature,
    }
    await folder_store(request).accept_upload(fields, _chunks(form.file))
    return Response(status_code=204)


@router.get(
    OBJECTS_PATH + "/{key:path}",
    operation_id="media.get",
    response_class=FileResponse,
    responses={
        # Declared as bytes (the header says the object's real type): SDK generators turn
        # application/octet-stream into a file, and refuse a bare */*.
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "description": "The object, as its content type.",
        },
        **responses(403),
    },
)
async def get_object(
    request: Request,
    key: Annotated[str, Path(max_length=KEY_MAX_LENGTH, description="The object's key.")],
    expires: Annotated[
        str, Query(pattern="^[0-9]{1,12}$", description="When the URL expires (Unix time).")
    ],
    signature: Annotated[str, Query(pattern=SIGNATURE_PATTERN, description="The URL's signature.")],
) -> Response:
    """A private object, through the signed URL a service handed out (until it expires)."""
    download = await folder_store(request).open_download(key, expires, signature)
    return FileResponse(
        download.path,
        media_type=download.stored.content_type,
        headers={
            "Cache-Control": "private, max-age=60",
            # Served as its stored type only: a browser never guesses HTML into it.
            "X-Content-Type-Options": "nosniff",
        },
    )
