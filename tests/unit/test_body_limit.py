"""The body limit's own rules: the default for every route, a larger one for the paths given
one, judged on the declared length and on the bytes as they arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from gateway.middleware import BodyLimit
from gateway.problems import install_problem_handlers

DEFAULT = 100
UPLOAD = 1000


def limited_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter()

    @router.post("/notes")
    async def take_note(request: Request) -> dict[str, int]:
        return {"read": len(await request.body())}

    @router.post("/uploads/{name}")
    async def upload(name: str, request: Request) -> dict[str, int]:
        return {"read": len(await request.body())}

    app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=DEFAULT, larger={"/uploads/": UPLOAD})
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        yield client


async def in_pieces(size: int) -> AsyncIterator[bytes]:
    """A body without a Content-Length, arriving 10 bytes at a time."""
    for start in range(0, size, 10):
        yield b"x" * min(10, size - start)


def assert_too_large(answer: httpx.Response, limit: int) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["connection"] == "close"
    problem = answer.json()
    assert problem["code"] == "PAYLOAD_TOO_LARGE"
    assert problem["errors"] == [
        {"field": "body", "message": f"must be at most {limit} bytes", "code": "too_large"}
    ]


@pytest.mark.parametrize("declared", [True, False])
async def test_the_default_limit_holds_to_the_byte(client, declared):
    def body(size: int) -> bytes | AsyncIterator[bytes]:
        return b"x" * size if declared else in_pieces(size)

    within = await client.post("/notes", content=body(DEFAULT))
    assert within.json() == {"read": DEFAULT}
    assert_too_large(await client.post("/notes", content=body(DEFAULT + 1)), DEFAULT)


@pytest.mark.parametrize("declared", [True, False])
async def test_a_path_given_more_gets_more_and_no_more(client, declared):
    def body(size: int) -> bytes | AsyncIterator[bytes]:
        return b"x" * size if declared else in_pieces(size)

    within = await client.post("/uploads/mat.png", content=body(UPLOAD))
    assert within.json() == {"read": UPLOAD}
    assert_too_large(await client.post("/uploads/mat.png", content=body(UPLOAD + 1)), UPLOAD)


async def test_a_declared_length_past_the_limit_is_refused_before_the_route_runs():
    reached = []

    async def route(scope, receive, send) -> None:
        reached.append(scope["path"])

    app = BodyLimit(route, max_bytes=DEFAULT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        answer = await client.post("/anything", content=b"x" * (DEFAULT + 1))
    assert_too_large(answer, DEFAULT)
    assert reached == []
