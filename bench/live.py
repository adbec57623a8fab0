"""Live updates, through the gateway's WebSocket.

**message sent -> the receiver's socket**: 100 conversations, each a group of the bench's
staff member, a sender and a receiver (accounts of their own); the senders post 200 messages a
second in all (`--messages-per-second`), each at an even pace, for the run's duration, and
each receiver holds one socket (/ws). Production: two gateways and two messaging replicas
(gateway 1 -> messaging 1, gateway 2 -> messaging 2); senders post through gateway 1,
receivers listen on gateway 2, so every message crosses replicas through RabbitMQ's live
exchange. Measured from just before
the POST's first byte (in the load process) to the frame's arrival (in this one), both on
CLOCK_MONOTONIC: the REST call, the message's transaction, the broadcast to every messaging
replica, the gRPC stream to the other gateway and the socket. Target p99 < 50 ms.

**messages not heard**: sent and answered 201, yet no frame came within 5 s of the end: a
live update is at most once, so this is the loss a client would repair by listing; it must be
0 on a healthy machine.

**server CPU per message**: the CPU of the shape's processes over the sending, per message
sent, divided between them in the detail.

**machine CPU per message**: every core's busy time over the sending, per message sent,
whatever it went to: the servers, PostgreSQL, RabbitMQ, Redis, the load process and this one's
receivers. The detail gives the cores' busy share (near 100%, the latency figures measure the
queue) and the share the host stole for other guests (not counted as busy).

**resident memory per idle socket**: `--idle-sockets` (default 5,000) sockets held open by
accounts of their own (8 each, the default per-user limit), each past its READY frame; the
growth of the gateway's resident set (embedded: the one process, so messaging's side of each
socket is in it too; production: the first gateway process, with messaging's growth in the
detail) over the sockets. Target < 50 KiB each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from bench.booking import Setup
from bench.figures import Figure, Latencies, pace, say
from bench.loadgen import Connection, Endpoint, LoadPlan
from bench.process import (
    MachineTime,
    SeparateProcess,
    cpu_seconds,
    machine_time,
    resident_mb,
    until_quiet,
)
from bench.shapes import HOST, BenchRun, ProductionShape, Shape

CONVERSATIONS = 100
SETTLE_SECONDS = 5.0
P99_TARGET_MS = 50.0
# Where the senders post and the receivers listen, by gateway replica (the same one when
# the shape has only one).
SENDING_GATEWAY = 0
LISTENING_GATEWAY = 1
# The production shape the live part runs on: each message crosses from one replica pair to
# the other.
LIVE_REPLICAS = {"gateway": 2, "messaging": 2}
# ESTUARY_LIVE_STREAMS_PER_USER's default: each account holds this many idle sockets.
SOCKETS_PER_ACCOUNT = 8
IDLE_TARGET_KIB = 50.0
# The sockets open in parallel, this many at a time.
OPENING_AT_ONCE = 64


@dataclass(frozen=True)
class SendingPlan:
    """The senders' messages: one keep-alive connection per sender, each at its own pace."""

    port: int
    forwarded_for: str
    # (bearer token, conversation id) of each sender.
    senders: tuple[tuple[str, str], ...]
    every_seconds: float
    duration_seconds: float


def message_text(sender: int, number: int) -> str:
    """A message's text, by which its frame is told from the others'."""
    return f"bench-{sender}-{number}"


def send_offset(sender: int, senders: int, every_seconds: float) -> float:
    """When a sender starts within the first interval, so that the senders together post at
    an even pace rather than all at once."""
    return every_seconds * sender / senders


async def send_messages(plan: SendingPlan) -> tuple[dict[str, float], dict[int, int]]:
    """Runs in the load process: every sender's messages, each sent at its planned time (or
    at once if the previous answer came late); returns the monotonic time each message was
    sent at (answered 201 only) and the count of each status."""
    per_sender = max(round(plan.duration_seconds / plan.every_seconds), 1)
    load = LoadPlan(HOST, plan.port, (), 0.0, plan.duration_seconds, plan.forwarded_for, ())
    sent: dict[str, float] = {}
    statuses: dict[int, int] = {}
    started = time.monotonic()

    async def sender(index: int, token: str, conversation: str) -> None:
        texts = [message_text(index, n) for n in range(per_sender)]
        endpoint = Endpoint(
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            bearer=token,
            body={"text": texts[0]},
            further_bodies=tuple({"text": text} for text in texts[1:]),
        )
        connection = Connection(load, endpoint)
        first = started + send_offset(index, len(plan.senders), plan.every_seconds)
        try:
            for number, text in enumerate(texts):
                await asyncio.sleep(first + number * plan.every_seconds - time.monotonic())
                at = time.monotonic()
                try:
                    status, _ = await connection.exchange()
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    # Counted as status 0; the next message opens a new connection.
                    status = 0
                    await connection.close()
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    sent[text] = at
        finally:
            await connection.close()

    await asyncio.gather(
        *(
            sender(index, token, conversation)
            for index, (token, conversation) in enumerate(plan.senders)
        )
    )
    return sent, statuses


async def live_figures(
    shape: Shape,
    run: BenchRun,
    load: SeparateProcess,
    duration_seconds: float,
    messages_per_second: int,
) -> list[Figure]:
    """How long a message takes from its sender's POST to the receiver's socket, at
    messages_per_second across 100 conversations."""
    setup = Setup(shape, run)
    client = httpx.AsyncClient(
        base_url=shape.base_url, timeout=30.0, headers={"X-Forwarded-For": run.client_address}
    )
    try:
        staff = await setup.staff()
        say(f"{shape.name}: live: {CONVERSATIONS} senders and {CONVERSATIONS} receivers sign up")
        senders = await setup.accounts("sender", CONVERSATIONS)
        receivers = await setup.accounts("receiver", CONVERSATIONS)
        conversations = []
        for (_, sender_id), (_, receiver_id) in zip(senders, receivers, strict=True):
            made = await client.post(
                "/api/v1/conversations/groups",
                json={"title": "Bench", "participant_user_ids": [sender_id, receiver_id]},
                headers={"Authorization": f"Bearer {staff}"},
            )
            made.raise_for_status()
            conversations.append(made.json()["id"])
    finally:
        await client.aclose()
        await setup.close()
    sending, listening = _gateways(shape)
    every = CONVERSATIONS / messages_per_second
    plan = SendingPlan(
        port=int(sending.rsplit(":", 1)[1]),
        forwarded_for=run.client_address,
        senders=tuple(
            (token, conversation)
            for (token, _), conversation in zip(senders, conversations, strict=True)
        ),
        every_seconds=every,
        duration_seconds=duration_seconds,
    )
    heard: dict[str, float] = {}
    url = listening.replace("http://", "ws://") + "/ws"
    async with contextlib.AsyncExitStack() as stack:
        for token, _ in receivers:
            offered = [Subprotocol("estuary.v1"), Subprotocol(f"bearer.{token}")]
            ws = await stack.enter_async_context(websockets.connect(url, subprotocols=offered))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if ready["type"] != "ready":
                raise RuntimeError(f"a receiver's socket opened with {ready}")
            hearing = asyncio.create_task(_hear(ws, heard))
            stack.callback(hearing.cancel)
        say(
            f"{shape.name}: live: {messages_per_second} messages/s in {CONVERSATIONS}"
            f" conversations for {duration_seconds:.0f} s"
        )
        # The sign-ups' events (a verification mail each) are handled before, not during.
        await until_quiet(server.pid for server in shape.servers)
        before = {server.name: cpu_seconds([server.pid]) for server in shape.servers}
        machine_before, started = machine_time(), time.monotonic()
        sent, statuses = await load.run(send_messages, plan)
        used = {s.name: cpu_seconds([s.pid]) - before[s.name] for s in shape.servers}
        machine = Busy(machine_time() - machine_before, time.monotonic() - started)
        await asyncio.sleep(SETTLE_SECONDS)
    return _message_figures(shape.name, sent, heard, statuses, used, machine)


@dataclass(frozen=True)
class Busy:
    """The machine's CPU time over a span of wall time."""

    used: MachineTime
    wall_seconds: float

    def share(self, seconds: float) -> float:
        """seconds as a share of what every core could give in the span."""
        capacity = self.wall_seconds * self.used.cores
        return seconds / capacity if capacity else math.nan


def _gateways(shape: Shape) -> tuple[str, str]:
    """Where the senders post and where the receivers listen."""
    if isinstance(shape, ProductionShape):
        last = len(shape.gateway_ports) - 1
        return (
            shape.gateway_url(min(SENDING_GATEWAY, last)),
            shape.gateway_url(min(LISTENING_GATEWAY, last)),
        )
    return shape.base_url, shape.base_url


def _message_figures(
    shape: str,
    sent: dict[str, float],
    heard: dict[str, float],
    statuses: dict[int, int],
    used: dict[str, float],
    machine: Busy,
) -> list[Figure]:
    latencies = Latencies.of([heard[key] - at for key, at in sent.items() if key in heard])
    lost = sum(1 for key in sent if key not in heard)
    refused = {status: n for status, n in statuses.items() if status != 201}
    cpu_ms = sum(used.values()) * 1000 / len(sent) if sent else math.nan
    by_process = ", ".join(
        f"{name} {seconds * 1000 / len(sent):.2f}"
        for name, seconds in sorted(used.items(), key=lambda item: -item[1])
        if sent
    )
    return [
        Figure(
            "message sent -> the receiver's socket p50",
            shape,
            latencies.p50_ms,
            "ms",
            detail=f"{latencies.samples} messages, {pace(sent.values()):.0f}/s sent, "
            f"max {latencies.max_ms:.1f} ms; refused: {refused or 'none'}",
        ),
        Figure(
            "message sent -> the receiver's socket p99",
            shape,
            latencies.p99_ms,
            "ms",
            target=f"< {P99_TARGET_MS:.0f} ms",
            met=latencies.p99_ms < P99_TARGET_MS,
        ),
        Figure("messages not heard on the socket", shape, lost, "", target="0", met=lost == 0),
        Figure(
            "live: server CPU per message",
            shape,
            cpu_ms,
            "ms",
            detail=f"by process: {by_process}",
        ),
        Figure(
            "live: machine CPU per message",
            shape,
            machine.used.busy * 1000 / len(sent) if sent else math.nan,
            "ms",
            detail=f"{machine.used.cores} cores {machine.share(machine.used.busy):.0%} busy and"
            f" {machine.share(machine.used.stolen):.0%} stolen by the host while sending; the"
            " servers' share above, the rest PostgreSQL, RabbitMQ, Redis and the bench's load",
        ),
    ]


async def _hear(ws: Any, heard: dict[str, float]) -> None:
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "message":
            heard.setdefault(frame["message"]["text"], time.monotonic())


async def idle_socket_figures(shape: Shape, run: BenchRun, sockets: int) -> list[Figure]:
    """What one open, idle socket costs the gateway in resident memory."""
    setup = Setup(shape, run)
    try:
        say(f"{shape.name}: live: {sockets} idle sockets")
        accounts = math.ceil(sockets / SOCKETS_PER_ACCOUNT)
        tokens = [token for token, _ in await setup.accounts("idle", accounts)]
    finally:
        await setup.close()
    edge = shape.servers[0].name if shape.name == "embedded" else _first_gateway(shape)
    watched = [s for s in shape.servers if s.name == edge or s.name.startswith("messaging")]
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


def _first_gateway(shape: Shape) -> str:
    return next(s.name for s in shape.servers if s.name.startswith("gateway"))
