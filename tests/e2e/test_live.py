"""The live WebSocket (/ws) on both shapes: a message sent over REST reaches the other
participant's socket (and the sender's own, for their other devices), typing and read frames
reach the other side, a stranger's socket hears nothing of it, a new notification is pushed;
a socket without a valid token closes 4401, and a suspended user's socket closes 4403 within
seconds; a binary frame or one over the rate is refused with the socket left open, one over
4 KiB closes it 1009, and a closed socket gives its stream at messaging back; a socket
reopened with the last cursor it saw is replayed what it missed (a deleted message as a
deletion), then caught_up, then goes on live, and a forged cursor gets resync. The token and
the cursor ride in the subprotocol (as a browser sends them) or a header, never in the
URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from gateway.routes.live import FRAMES_PER_SECOND, MAX_FRAME_BYTES
from gateway.settings import GatewaySettings
from services.messaging.settings import MessagingSettings
from tests.e2e.accounts import Account, new_email, sign_in_admin, sign_up
from tests.e2e.messaging_steps import CONVERSATIONS
from tests.e2e.stacks import Stack
from tests.e2e.test_account_status import USERS, until
from tests.e2e.test_conversations import approved, start

FRAME_SECONDS = 10.0
QUIET_SECONDS = 0.5


def ws_url(stack: Stack) -> str:
    return stack.base_url.replace("http://", "ws://") + "/ws"


@asynccontextmanager
async def socket(
    stack: Stack, account: Account, *, by_header: bool = False, resume: str = ""
) -> AsyncIterator[ClientConnection]:
    """The account's live socket, open and past its READY frame (and, when it resumes from
    no cursor, past its CAUGHT_UP)."""
    if by_header:
        headers = {**account.headers, **({"Resume-Cursor": resume} if resume else {})}
        opened = websockets.connect(ws_url(stack), additional_headers=headers)
    else:
        offered = ["estuary.v1", f"bearer.{account.access_token}"]
        opened = websockets.connect(
            ws_url(stack), subprotocols=[*offered, *([f"resume.{resume}"] if resume else [])]
        )
    async with opened as connection:
        ready = await next_frame(connection, "ready")
        assert ready["connected_at"], ready
        if not resume:
            assert (await next_frame(connection, "caught_up"))["cursor"]
        yield connection


async def next_frame(connection: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of a kind (others are skipped)."""

    async def wait() -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await connection.recv())
            if frame["type"] == kind:
                return frame

    return await asyncio.wait_for(wait(), timeout=FRAME_SECONDS)


async def frames_within(connection: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within a short while."""
    seen: list[dict[str, Any]] = []
    try:
        while True:
            seen.append(json.loads(await asyncio.wait_for(connection.recv(), timeout=seconds)))
    except TimeoutError:
        return seen


async def conversation(stack: Stack, client: Any) -> tuple[Account, Account, str]:
    """A client (ana) and a practitioner (pat) with a conversation between them."""
    pat = await sign_up(client, new_email("pat"))
    ana = await sign_up(client, new_email("ana"))
    await approved(stack, pat)

    async def open_to_clients() -> bool:
        return (await start(client, ana, pat)).status_code == 201

    await until(open_to_clients, "messaging hears pat was approved")
    return ana, pat, (await start(client, ana, pat)).json()["id"]


async def test_messages_typing_and_reads_reach_the_other_side_and_no_stranger(stack: Stack):
    async with stack.client() as client:
        ana, pat, conversation_id = await conversation(stack, client)
        eve = await sign_up(client, new_email("eve"))
        async with (
            socket(stack, ana) as ana_socket,
            socket(stack, pat, by_header=True) as pat_socket,
            socket(stack, eve) as eve_socket,
        ):
            sent = await client.post(
                f"{CONVERSATIONS}/{conversation_id}/messages",
                json={"text": "Is Tuesday at 10 free?"},
                headers=ana.headers,
            )
            assert sent.status_code == 201, sent.text
            heard = await next_frame(pat_socket, "message")
            assert heard["message"]["id"] == sent.json()["id"]
            assert heard["message"]["text"] == "Is Tuesday at 10 free?"
            assert heard["message"]["conversation_id"] == conversation_id
            mine = await next_frame(ana_socket, "message")  # the sender's other devices
            assert mine["message"]["id"] == sent.json()["id"]

            await pat_socket.send(
                json.dumps({"type": "typing", "conversation_id": conversation_id})
            )
            typing = await next_frame(ana_socket, "typing")
            assert typing == {
                "type": "typing",
                "conversation_id": conversation_id,
                "user_id": pat.id,
            }
            await pat_socket.send(json.dumps({"type": "read", "conversation_id": conversation_id}))
            read = await next_frame(ana_socket, "read")
            assert (read["user_id"], read["last_read_message_id"]) == (pat.id, sent.json()["id"])

            assert await frames_within(eve_socket, QUIET_SECONDS) == []
            await eve_socket.send(
                json.dumps({"type": "typing", "conversation_id": conversation_id})
            )
            refused = await next_frame(eve_socket, "error")
            assert refused["code"] == "CONVERSATION_NOT_FOUND", refused
            await eve_socket.send(json.dumps({"type": "typing", "conversation_id": "../x"}))
            bad = await next_frame(eve_socket, "error")
            assert (bad["code"], bad["field"]) == ("INVALID_FRAME", "conversation_id")
            await eve_socket.send("not json")
            assert (await next_frame(eve_socket, "error"))["code"] == "INVALID_FRAME"
            await eve_socket.send(json.dumps({"type": "ping"}))
            assert await next_frame(eve_socket, "pong") == {"type": "pong"}
            assert [f["type"] for f in await frames_within(ana_socket, QUIET_SECONDS)] == []


async def test_a_new_notification_is_pushed_to_its_recipient(stack: Stack):
    async with stack.client() as client:
        pat = await sign_up(client, new_email("pat"))
        async with socket(stack, pat) as pat_socket:
            await approved(stack, pat)
            pushed = await next_frame(pat_socket, "notification")
            assert pushed["notification"]["kind"] == "practitioner_approved", pushed
            listed = await client.get("/api/v1/me/notifications", headers=pat.headers)
            assert pushed["notification"]["id"] in {n["id"] for n in listed.json()["results"]}


@pytest.mark.parametrize("token", ["", "not-a-token"])
async def test_a_socket_without_a_valid_token_is_closed_4401(stack: Stack, token: str):
    subprotocols = ["estuary.v1", f"bearer.{token}"] if token else ["estuary.v1"]
    async with websockets.connect(ws_url(stack), subprotocols=subprotocols) as connection:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), timeout=FRAME_SECONDS)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_suspended_users_socket_is_closed_4403(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana = await sign_up(client, new_email("ana"))
        async with socket(stack, ana) as ana_socket:
            suspended = await client.post(
                f"{USERS}/{ana.id}/suspend", headers=admin.headers, json={"reason": "spam"}
            )
            assert suspended.status_code == 200, suspended.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ana_socket.recv(), timeout=FRAME_SECONDS)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "ACCOUNT_SUSPENDED")
        # A new socket is closed at once: opening the stream is refused to the account.
        with pytest.raises(websockets.ConnectionClosed) as again:
            async with socket(stack, ana):
                pass
        assert again.value.rcvd is not None and again.value.rcvd.code == 4403


async def test_a_socket_declines_per_message_compression(stack: Stack):
    # Live frames are small JSON: each socket's zlib state would cost the gateway ~44 KiB
    # of memory, idle, for little saved on the wire (docs/performance.md).
    async with stack.client() as client:
        ana = await sign_up(client, new_email("ana"))
    offered = ["estuary.v1", f"bearer.{ana.access_token}"]
    async with websockets.connect(
        ws_url(stack), subprotocols=offered, compression="deflate"
    ) as connection:
        assert (await next_frame(connection, "ready"))["connected_at"]
        assert connection.response is not None
        assert "Sec-WebSocket-Extensions" not in connection.response.headers


async def test_a_quiet_socket_outlives_the_backends_call_deadline(stack: Stack):
    # A socket is one long gRPC stream: the deadline that bounds every other backend call
    # (3 s) must not end it.
    deadline = GatewaySettings().backend_deadline_seconds
    async with stack.client() as client:
        ana, pat, conversation_id = await conversation(stack, client)
        async with socket(stack, pat) as pat_socket:
            await asyncio.sleep(deadline + 1)
            sent = await client.post(
                f"{CONVERSATIONS}/{conversation_id}/messages",
                json={"text": "Still there?"},
                headers=ana.headers,
            )
            assert sent.status_code == 201, sent.text
            heard = await next_frame(pat_socket, "message")
            assert heard["message"]["id"] == sent.json()["id"]


async def test_a_reconnecting_socket_is_replayed_what_it_missed_then_goes_on_live(stack: Stack):
    async with stack.client() as client:
        ana, pat, conversation_id = await conversation(stack, client)
        messages = f"{CONVERSATIONS}/{conversation_id}/messages"

        async def send(text: str) -> str:
            sent = await client.post(messages, json={"text": text}, headers=ana.headers)
            assert sent.status_code == 201, sent.text
            message_id: str = sent.json()["id"]
            return message_id

        async with socket(stack, pat) as pat_socket:
            await send("Before the tunnel")
            cursor = (await next_frame(pat_socket, "message"))["cursor"]
        missed, regretted = await send("While away"), await send("Wrong chat")
        deleted = await client.delete(f"{messages}/{regretted}", headers=ana.headers)
        assert deleted.status_code == 204, deleted.text

        async with socket(stack, pat, resume=cursor) as pat_socket:
            replayed = await frames_within(pat_socket, QUIET_SECONDS)
            assert [f["type"] for f in replayed] == ["message", "message", "caught_up"]
            assert replayed[0]["message"]["id"] == missed
            assert replayed[1]["message"]["id"] == regretted
            assert replayed[1]["message"]["deleted"] and replayed[1]["message"]["text"] == ""
            assert all(f["cursor"] for f in replayed)
            live = await send("Back online")
            heard = await next_frame(pat_socket, "message")
            assert heard["message"]["id"] == live and heard["cursor"]

        forged = cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")
        async with socket(stack, pat, by_header=True, resume=forged) as pat_socket:
            resync = await next_frame(pat_socket, "resync")
            assert resync["reason"] == "CURSOR_INVALID" and resync["cursor"]


async def test_refused_frames_leave_the_socket_open_until_one_is_too_large(stack: Stack):
    async with stack.client() as client:
        ana = await sign_up(client, new_email("ana"))
    async with socket(stack, ana) as ana_socket:
        await ana_socket.send(json.dumps({"type": "ping"}).encode())
        refused = await next_frame(ana_socket, "error")
        assert (refused["code"], refused["detail"]) == (
            "INVALID_FRAME",
            "frames are text: one JSON object each",
        )
        await ana_socket.send(json.dumps({"type": "ping"}))
        assert await next_frame(ana_socket, "pong") == {"type": "pong"}

        await ana_socket.send(json.dumps({"type": "ping", "pad": "x" * MAX_FRAME_BYTES}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ana_socket.recv(), timeout=FRAME_SECONDS)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1009, "FRAME_TOO_LARGE")


async def test_frames_over_the_rate_are_refused_and_the_socket_goes_on(stack: Stack):
    async with stack.client() as client:
        ana = await sign_up(client, new_email("ana"))
    async with socket(stack, ana) as ana_socket:
        # Past the socket's first second, so that the burst opens a window of its own.
        await asyncio.sleep(1.1)
        for _ in range(FRAMES_PER_SECOND + 5):
            await ana_socket.send(json.dumps({"type": "ping"}))
        answers = [f["type"] for f in await frames_within(ana_socket, QUIET_SECONDS)]
        assert answers.count("pong") == FRAMES_PER_SECOND, answers
        assert answers.count("error") == 5, answers
        await asyncio.sleep(1.1)
        await ana_socket.send(json.dumps({"type": "ping"}))
        assert await next_frame(ana_socket, "pong") == {"type": "pong"}


async def test_a_closed_socket_gives_its_stream_back(stack: Stack):
    # Messaging holds at most this many streams a user; if closing a socket left its stream
    # open, the next full set of sockets would be refused TOO_MANY_STREAMS for good.
    per_user = MessagingSettings().live_streams_per_user
    async with stack.client() as client:
        ana = await sign_up(client, new_email("ana"))

    async def a_full_set_opens() -> bool:
        try:
            async with contextlib.AsyncExitStack() as sockets:
                for _ in range(per_user):
                    await sockets.enter_async_context(socket(stack, ana))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.reason == "TOO_MANY_STREAMS"
            return False
        return True

    assert await a_full_set_opens()
    await until(a_full_set_opens, "a second full set of sockets opens once the first closed")
