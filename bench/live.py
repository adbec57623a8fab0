"""Live updates, through the gateway's WebSocket.

**message sent -> the other's socket**: 16 clients each hold a conversation with one staff
member, whose single socket (/ws) hears them all; each client sends a message every 2 s (the
messaging rate limit is 30 a minute a sender) for the run's duration. Measured from just
before the client's POST to the frame's arrival on the staff socket: the REST call, the
message's transaction, the broadcast on the bus (RabbitMQ in the production shape) to every
messaging replica, the gRPC stream to the gateway and the socket. Target p99 < 100 ms.

**messages not heard**: sent and answered 201, yet no frame came within 5 s of the end: a
live update is at most once, so this is the loss a client would repair by listing; it must be
0 on a healthy machine.

**resident memory per idle socket**: `--idle-sockets` (default 5,000) sockets held open by
accounts of their own (8 each, the default per-user limit), each past its READY frame; the
growth of the gateway's resident set (embedded: the one process, so messaging's side of each
socket is in it too; production: the gateway process, with messaging's growth in the detail)
over the sockets. Target < 50 KiB each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from bench.booking import Setup
from bench.figures import Figure, Latencies, say
from bench.process import resident_mb
from bench.shapes import BenchRun, Shape

SENDERS = 16
SEND_EVERY_SECONDS = 2.0
SETTLE_SECONDS = 5.0
P99_TARGET_MS = 100.0
# ESTUARY_LIVE_STREAMS_PER_USER's default: each account holds this many idle sockets.
SOCKETS_PER_ACCOUNT = 8
IDLE_TARGET_KIB = 50.0
# Signing up hashes a password (argon2, slow on purpose), and the sockets open in parallel.
SIGN_UPS_AT_ONCE = 8
OPENING_AT_ONCE = 64


async def live_figures(shape: Shape, run: BenchRun, duration_seconds: float) -> list[Figure]:
    """How long a message takes from its sender's POST to the other side's socket."""
    setup = Setup(shape, run)
    client = httpx.AsyncClient(
        base_url=shape.base_url, timeout=30.0, headers={"X-Forwarded-For": run.client_address}
    )
    try:
        staff = await setup.staff()
        senders = [await setup.account("client") for _ in range(SENDERS)]
        conversations = []
        for _, user_id in senders:
            started = await client.post(
                "/api/v1/conversations",
                json={"participant_user_id": user_id},
                headers={"Authorization": f"Bearer {staff}"},
            )
            started.raise_for_status()
            conversations.append(started.json()["id"])
        say(f"{shape.name}: live: {SENDERS} senders to one socket for {duration_seconds:.0f} s")
        sent: dict[str, float] = {}
        heard: dict[str, float] = {}
        url = shape.base_url.replace("http://", "ws://") + "/ws"
        offered = [Subprotocol("estuary.v1"), Subprotocol(f"bearer.{staff}")]
        async with websockets.connect(url, subprotocols=offered) as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if ready["type"] != "ready":
                raise RuntimeError(f"the socket opened with {ready}")
            listening = asyncio.create_task(_hear(ws, heard))
            deadline = time.perf_counter() + duration_seconds
            await asyncio.gather(
                *(
                    _send(client, token, conversation, index, deadline, sent)
                    for index, ((token, _), conversation) in enumerate(
                        zip(senders, conversations, strict=True)
                    )
                )
            )
            await asyncio.sleep(SETTLE_SECONDS)
            listening.cancel()
        latencies = Latencies.of([heard[key] - at for key, at in sent.items() if key in heard])
        lost = sum(1 for key in sent if key not in heard)
        detail = f"{latencies.samples} messages, max {latencies.max_ms:.1f} ms"
        return [
            Figure(
                "message sent -> the other's socket p50",
                shape.name,
                latencies.p50_ms,
                "ms",
                detail=detail,
            ),
            Figure(
                "message sent -> the other's socket p99",
                shape.name,
                latencies.p99_ms,
                "ms",
                target=f"< {P99_TARGET_MS:.0f} ms",
                met=latencies.p99_ms < P99_TARGET_MS,
            ),
            Figure(
                "messages not heard on the socket", shape.name, lost, "", target="0", met=lost == 0
            ),
        ]
    finally:
        await client.aclose()
        await setup.close()


async def _send(
    client: httpx.AsyncClient,
    token: str,
    conversation: str,
    index: int,
    deadline: float,
    sent: dict[str, float],
) -> None:
    """One sender's messages, each named by sender and number, every SEND_EVERY_SECONDS."""
    # Spread the senders over the interval, so the socket hears a steady flow.
    await asyncio.sleep(SEND_EVERY_SECONDS * index / SENDERS)
    number = 0
    while time.perf_counter() < deadline:
        key = f"bench-{index}-{number}"
        sent[key] = time.perf_counter()
        answer = await client.post(
            f"/api/v1/conversations/{conversation}/messages",
            json={"text": key},
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer.status_code != 201:
            del sent[key]
            say(f"live: a message was refused {answer.status_code}: {answer.text}")
        number += 1
        await asyncio.sleep(SEND_EVERY_SECONDS)


async def _hear(ws: Any, heard: dict[str, float]) -> None:
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "message":
            heard.setdefault(frame["message"]["text"], time.perf_counter())


async def idle_socket_figures(shape: Shape, run: BenchRun, sockets: int) -> list[Figure]:
    """What one open, idle socket costs the gateway in resident memory."""
    setup = Setup(shape, run)
    gate = asyncio.Semaphore(SIGN_UPS_AT_ONCE)

    async def signed_up() -> str:
        async with gate:
            return (await setup.account("idle"))[0]

    try:
        say(f"{shape.name}: live: {sockets} idle sockets")
        accounts = math.ceil(sockets / SOCKETS_PER_ACCOUNT)
        tokens = await asyncio.gather(*(signed_up() for _ in range(accounts)))
    finally:
        await setup.close()
    edge = "gateway" if shape.name == "production" else "estuary-up"
    watched = [s for s in shape.servers if s.name in {edge, "messaging"}]
    await asyncio.sleep(1.0)
    before = {server.name: resident_mb(server.pid) for server in watched}
    url = shape.base_url.replace("http://", "ws://") + "/ws"
    opening = asyncio.Semaphore(OPENING_AT_ONCE)

    async def opened(stack: contextlib.AsyncExitStack, token: str) -> None:
        offered = [Subprotocol("estuary.v1"), Subprotocol(f"bearer.{token}")]
        async with opening:
            ws = await stack.enter_async_context(websockets.connect(url, subprotocols=offered))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if ready["type"] != "ready":
            raise RuntimeError(f"an idle socket opened with {ready}")

    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(
            *(opened(stack, tokens[n // SOCKETS_PER_ACCOUNT]) for n in range(sockets))
        )
        await asyncio.sleep(2.0)
        after = {server.name: resident_mb(server.pid) for server in watched}
    grown = {name: (after[name] - before[name]) * 1024 / sockets for name in after}
    detail = f"{sockets} sockets; " + ", ".join(
        f"{name} {before[name]:.0f} -> {after[name]:.0f} MiB ({kib:.1f} KiB each)"
        for name, kib in grown.items()
    )
    return [
        Figure(
            "resident memory per idle socket",
            shape.name,
            grown[edge],
            "KiB",
            target=f"< {IDLE_TARGET_KIB:.0f} KiB",
            met=grown[edge] < IDLE_TARGET_KIB,
            detail=detail,
        )
    ]
