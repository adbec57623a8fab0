"""The gateway's HTTP server (suite.embedded.serve_http), as every shape and the bench run it."""

from __future__ import annotations

import socket

import httpx
from fastapi import FastAPI

from suite.embedded import serve_http


def _ping_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"answer": "pong"}

    return app


async def test_accepted_connections_send_without_waiting_for_acks():
    """TCP_NODELAY on every accepted connection: without it, a keep-alive response written
    in two parts waits for the client's delayed ACK (about 40 ms per request on Linux)."""
    server, task, port = await serve_http(_ping_app(), "127.0.0.1", 0, "the test's port")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/ping")).json() == {"answer": "pong"}
            connections = list(server.server_state.connections)
            assert len(connections) == 1
            accepted = connections[0].transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert (await client.get("/ping")).status_code == 200
    finally:
        server.should_exit = True
        await task
