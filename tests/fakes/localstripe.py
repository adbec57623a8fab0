"""localstripe (PyPI), a real server speaking Stripe's HTTP API, run for a test session.

It keeps its state in a fixed /tmp/localstripe.pickle, rewritten on every change, so two at
once on one machine would overwrite each other's: a lock file serialises them across
processes (another engineer's test run waits for ours).
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.fakes.stripe_api import free_port

LOCK_FILE = Path("/tmp/localstripe.pickle.lock")
WAIT_FOR_LOCK_SECONDS = 300
WAIT_FOR_START_SECONDS = 20


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """The one localstripe of this machine is ours while this lasts."""
    with LOCK_FILE.open("a") as handle:
        deadline = time.monotonic() + WAIT_FOR_LOCK_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{LOCK_FILE} stayed locked by another test run") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def running_localstripe() -> Iterator[str]:
    """`localstripe --port P --from-scratch` on a free port; yields its API base."""
    with machine_lock(), tempfile.TemporaryFile() as output:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(port, process, output)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(port: int, process: subprocess.Popen[bytes], output: IO[bytes]) -> None:
    deadline = time.monotonic() + WAIT_FOR_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    output.seek(0)
    raise RuntimeError(
        f"localstripe did not start on port {port} (exit code {process.poll()}): "
        + output.read().decode(errors="replace")[-2000:]
    )
