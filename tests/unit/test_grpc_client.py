"""The chassis's gRPC client retries UNAVAILABLE, and nothing else, within the deadline."""

from __future__ import annotations

import time

import grpc
import pytest

from chassis.grpc_client import retrying


def failure(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "test")


class FlakyStub:
    """A stand-in for a generated stub whose calls fail as scripted, then succeed."""

    def __init__(self, *failures: grpc.StatusCode) -> None:
        self.failures = list(failures)
        self.calls: list[float] = []

    async def GetUser(self, request: str, *, timeout: float, **kwargs: object) -> str:
        self.calls.append(timeout)
        if self.failures:
            raise failure(self.failures.pop(0))
        return f"user {request}"


async def test_unavailable_is_retried_until_the_call_gets_through():
    stub = FlakyStub(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    assert await retrying(stub).GetUser("ana") == "user ana"
    assert len(stub.calls) == 3
    assert stub.calls[0] > stub.calls[1] > stub.calls[2], "each try gets what is left"


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.ABORTED,
    ],
)
async def test_other_failures_go_straight_back(code):
    stub = FlakyStub(code)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await retrying(stub).GetUser("ana")
    assert raised.value.code() is code
    assert len(stub.calls) == 1


async def test_retries_stop_after_four_attempts_and_within_the_deadline():
    stub = FlakyStub(*[grpc.StatusCode.UNAVAILABLE] * 10)
    with pytest.raises(grpc.aio.AioRpcError):
        await retrying(stub).GetUser("ana")
    assert len(stub.calls) == 4
    stub = FlakyStub(*[grpc.StatusCode.UNAVAILABLE] * 10)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError):
        await retrying(stub, deadline=0.06).GetUser("ana")
    assert time.monotonic() - started < 0.5
