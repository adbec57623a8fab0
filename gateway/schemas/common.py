"""Shapes every REST resource shares: the list page and its query parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from chassis.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from chassis.wire import instant

T = TypeVar("T")

# Every integer a client sends becomes a proto field; these are the ranges of its type, so a
# number the proto cannot hold is a 422 naming the field rather than a crash at the backend.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]

CURSOR_MAX_LENGTH = 1024

Limit = Annotated[
    Int32,
    Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}."),
]
Cursor = Annotated[
    str | None,
    Query(max_length=CURSOR_MAX_LENGTH, description="next_cursor of the previous page."),
]


def _page_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A page's example: one of its items' (their model's first example) and a cursor."""
    items = model.model_fields["results"].annotation
    item = next(iter(getattr(items, "__args__", ())), None)
    extra = getattr(item, "model_config", {}).get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("examples"):
        schema["examples"] = [
            {
                "results": [extra["examples"][0]],
                "next_cursor": "eyJrIjpbIjAxOTNiMGE0Il0sInEiOiIifQ.c2lnbmF0dXJl",
                "has_more": True,
                "total": 153,
            }
        ]


class Page(BaseModel, Generic[T]):
    """One page of a list, in a stable order."""

    model_config = ConfigDict(json_schema_extra=_page_example)

    results: list[T]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )
    has_more: bool
    total: Int32 | None = Field(None, description="How many items match in all, where cheap.")


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know, naming them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def page_of(results: list[T], next_token: str, total: int | None) -> Page[T]:
    """The REST page for a gRPC list response."""
    return Page[T](
        results=results, next_cursor=next_token or None, has_more=bool(next_token), total=total
    )


DEFAULT_LIMIT = DEFAULT_PAGE_SIZE

# A canonical UUID, as the services' ids are: anything else is refused here, naming the field.
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's examples for the OpenAPI document; each validates against the model's schema
    (tests/unit/test_openapi_document.py)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


# An S3 POST policy form's fields, as an example (the folder store's has key, Content-Type,
# policy and signature).
S3_FORM_FIELDS = {
    "Content-Type": "image/jpeg",
    "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTItMDFUMDk6MTU6MDBaIiwgLi4ufQ==",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "x-amz-credential": "AKIA.../20261201/us-east-1/s3/aws4_request",
    "x-amz-date": "20261201T090000Z",
    "x-amz-signature": "...",
}


class UploadFormOut(BaseModel):
    """An upload form a service hands out: POST its fields, then the file (named file,
    last), as multipart/form-data to url before expires_at, straight to the media store."""

    url: str = Field(description="Where the form is posted (multipart/form-data).")
    fields: dict[str, str] = Field(
        description="The form's fields, posted as given before the file (named file, last)."
    )
    content_type: str = Field(description="The type the file is uploaded as.")
    max_bytes: Int64 = Field(description="The largest file the form takes.")
    expires_at: datetime = Field(description="Until when the form may be posted.")

    @staticmethod
    def form_of(upload: Any) -> dict[str, Any]:
        """The form of a service's upload message (upload_url, upload_fields, content_type,
        max_bytes, expire_time), as this model's fields."""
        return {
            "url": upload.upload_url,
            "fields": dict(upload.upload_fields),
            "content_type": upload.content_type,
            "max_bytes": upload.max_bytes,
            "expires_at": instant(upload.expire_time),
        }
