"""Shapes every REST resource shares: the list page and its query parameters."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from chassis.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

T = TypeVar("T")

CURSOR_MAX_LENGTH = 1024

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}."),
]
Cursor = Annotated[
    str | None,
    Query(max_length=CURSOR_MAX_LENGTH, description="next_cursor of the previous page."),
]


class Page(BaseModel, Generic[T]):
    """One page of a list, in a stable order."""

    results: list[T]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )
    has_more: bool
    total: int | None = Field(None, description="How many items match in all, where cheap.")


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know, naming them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def page_of(results: list[T], next_token: str, total: int | None) -> Page[T]:
    """The REST page for a gRPC list response."""
    return Page[T](
        results=results, next_cursor=next_token or None, has_more=bool(next_token), total=total
    )


DEFAULT_LIMIT = DEFAULT_PAGE_SIZE
