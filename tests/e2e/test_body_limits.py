"""The body limit: a body past it is a 413 before the gateway reads the rest, however it is sent,
and the gateway's memory does not grow with what a client tries to send."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.e2e.accounts import PASSWORD, new_email, sign_up
from tests.e2e.stacks import ProductionStack, Stack

MiB = 1024 * 1024
LIMIT = MiB  # the default of ESTUARY_MAX_BODY_BYTES
PIECE = b"a" * MiB


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # how much of the body the gateway took before it answered


def send_body(
    base_url: str,
    path: str,
    body: bytes | int,
    *,
    chunked: bool,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    """Sends a body (or that many bytes of one) while reading the answer, as a browser does,
    so that an early answer is seen; stops sending once the gateway answers or hangs up."""
    size = body if isinstance(body, int) else len(body)
    url = urlsplit(base_url)
    connection = socket.create_connection((url.hostname, url.port), timeout=60)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    connection.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: {url.hostname}\r\n{extra}"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode()
    )
    answered = threading.Event()
    sent = 0

    def send() -> None:
        nonlocal sent
        try:
            while sent < size and not answered.is_set():
                end = min(sent + len(PIECE), size)
                piece = PIECE[: end - sent] if isinstance(body, int) else body[sent:end]
                connection.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked and not answered.is_set():
                connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the gateway hung up on the rest, as it should

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            received += connection.recv(65536) or b""
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("content-length", 0)):
            body += connection.recv(65536)
    finally:
        answered.set()
        sender.join(timeout=30)
        connection.close()
    return Answer(int(lines[0].split()[1]), headers, body, sent)


def resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def gateway_pid(stack: Stack) -> int:
    """The process that serves HTTP: this one for the embedded shape."""
    if isinstance(stack, ProductionStack):
        [gateway] = [p for p in stack.processes if p.args[-1] == "gateway"]  # type: ignore[index]
        return gateway.pid
    return os.getpid()


class PeakMemory:
    """Samples a process's resident memory until stopped; the peak is what a spike costs."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.before = resident_mib(pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, resident_mib(self._pid))
            time.sleep(0.005)

    def stop(self) -> float:
        """The growth at the peak, in MiB."""
        self._stop.set()
        self._thread.join()
        return self.peak - self.before


def assert_refused_as_too_large(answer: Answer) -> None:
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    problem = json.loads(answer.body)
    assert problem["code"] == "PAYLOAD_TOO_LARGE"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("body", "too_large")]
    assert answer.headers["x-request-id"] == problem["request_id"]


async def test_a_300_mb_body_is_refused_and_the_gateway_does_not_grow(stack: Stack):
    pid = gateway_pid(stack)
    huge = 300 * MiB
    for chunked in (True, False):
        peak = PeakMemory(pid)
        answer = await asyncio.to_thread(
            send_body, stack.base_url, "/api/v1/auth/register", huge, chunked=chunked
        )
        growth = peak.stop()
        assert_refused_as_too_large(answer)
        # It answered long before the end and took no more: the rest was never read.
        assert answer.sent < 50 * MiB, (chunked, answer.sent)
        assert growth < 50, (chunked, growth)


async def test_the_limit_holds_on_every_route_and_a_body_within_it_is_read(stack: Stack):
    for chunked in (True, False):
        over = await asyncio.to_thread(
            send_body, stack.base_url, "/api/v1/auth/login", LIMIT + 1, chunked=chunked
        )
        assert_refused_as_too_large(over)
    # A route that takes no body: the declared length alone is refused, up front.
    declared = await asyncio.to_thread(
        send_body, stack.base_url, "/api/v1/services", LIMIT + 1, chunked=False, method="GET"
    )
    assert_refused_as_too_large(declared)

    async with stack.client() as client:
        # Right at the limit, chunked: read and judged as usual.
        login = json.dumps({"email": new_email(), "password": PASSWORD}).encode()
        padded = login[:-1] + b" " * (LIMIT - len(login)) + b"}"

        async def chunks():
            for start in range(0, len(padded), 64 * 1024):
                yield padded[start : start + 64 * 1024]

        answer = await client.post(
            "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
        assert answer.status_code == 401, answer.text
        assert answer.json()["code"] == "INVALID_CREDENTIALS"


def objects_nested(levels: int) -> dict[str, object]:
    """{"l1": {"l2": ... {"lN": true}}}: N levels of objects."""
    value: object = True
    for level in range(levels, 0, -1):
        value = {f"l{level}": value}
    assert isinstance(value, dict)
    return value


async def test_free_form_preferences_too_deep_or_too_large_are_refused_naming_them(stack: Stack):
    async with stack.client() as client:
        ana = await sign_up(client)
        deep: object = 1
        for _ in range(95):
            deep = [deep]
        for preferences, code in (
            ({"layout": deep}, "too_deep"),
            (objects_nested(11), "too_deep"),
            ({"note": "x" * 9000}, "too_long"),
        ):
            answer = await client.patch(
                "/api/v1/users/me", json={"preferences": preferences}, headers=ana.headers
            )
            assert answer.status_code == 400, answer.text
            assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [
                ("preferences", code)
            ]
        huge = json.dumps({"preferences": {"note": "x" * (4 * MiB)}}).encode()
        too_large = await asyncio.to_thread(
            send_body,
            stack.base_url,
            "/api/v1/users/me",
            huge,
            chunked=False,
            method="PATCH",
            headers=ana.headers,
        )
        assert_refused_as_too_large(too_large)
        kept = objects_nested(10)
        answer = await client.patch(
            "/api/v1/users/me", json={"preferences": kept}, headers=ana.headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["preferences"] == kept
