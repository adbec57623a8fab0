"""The baseline: what a FastAPI edge over one grpc.aio call costs with nothing else in it.

A bare grpc.aio echo server (bytes in, the same bytes out, no protos) and a bare FastAPI app
whose one route awaits one unary call to it, served by uvicorn exactly as the gateway is
(`suite.embedded.serve_http`, on asyncio.run's loop). The gateway's own figures are read
against it: what the gateway adds is middleware, auth, validation, the identity service's
interceptors and its database.

    python -m bench.baseline --echo-port 0 --edge-port 8100           # one process
    python -m bench.baseline --echo-port 50100                         # two processes...
    python -m bench.baseline --edge-port 8100 --echo-address 127.0.0.1:50100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import grpc
from fastapi import FastAPI
from starlette.responses import Response

from suite.embedded import QuietServer, serve_http

ECHO_METHOD = "/estuary.bench.v1.EchoService/Echo"
ECHO_PATH = "/echo"
# About the size of a user's JSON, so both sides move similar bytes.
PAYLOAD = b'{"echo": "' + b"x" * 320 + b'"}'


async def _echo(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    return request


async def start_echo_server(port: int) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with one unary method that answers what it is sent."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "estuary.bench.v1.EchoService",
                # No (de)serializers: the bytes travel as they are.
                {"Echo": grpc.unary_unary_rpc_method_handler(_echo)},
            ),
        )
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


def edge_app(echo_address: str) -> tuple[FastAPI, grpc.aio.Channel]:
    """A FastAPI app whose one route awaits one echo call."""
    channel = grpc.aio.insecure_channel(echo_address)
    echo = channel.unary_unary(ECHO_METHOD)
    app = FastAPI()

    @app.get(ECHO_PATH)
    async def echoed() -> Response:
        reply = await echo(PAYLOAD, timeout=5.0)
        return Response(reply, media_type="application/json")

    return app, channel


async def serve(echo_port: int | None, edge_port: int | None, echo_address: str) -> None:
    """Runs the echo server, the edge or both until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Stopped in reverse: the edge first, then its channel, then the echo server.
    async with contextlib.AsyncExitStack() as running:
        if echo_port is not None:
            echo_server, bound = await start_echo_server(echo_port)
            running.push_async_callback(echo_server.stop, 1.0)
            echo_address = f"127.0.0.1:{bound}"
        if edge_port is not None:
            app, channel = edge_app(echo_address)
            running.push_async_callback(channel.close)
            http_server, http_task, _ = await serve_http(app, "127.0.0.1", edge_port)
            running.push_async_callback(_stop_http, http_server, http_task)
        await stop.wait()


async def _stop_http(server: QuietServer, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--echo-port", type=int, help="serve the gRPC echo on this port")
    parser.add_argument("--edge-port", type=int, help="serve the FastAPI edge on this port")
    parser.add_argument("--echo-address", default="", help="the echo server, if not this process")
    args = parser.parse_args()
    if args.edge_port is not None and args.echo_port is None and not args.echo_address:
        parser.error("the edge needs --echo-port or --echo-address")
    asyncio.run(serve(args.echo_port, args.edge_port, args.echo_address))


if __name__ == "__main__":
    main()
