"""wrk as the load generator: a C client, so the load does not compete as Python for the
cores the servers run on. Used for the reads every connection sends alike (the baseline and
GET /users/me), where the issue's comparison was measured with wrk -t2 -c64."""

from __future__ import annotations

import asyncio
import re
import shutil

from bench.figures import Latencies
from bench.loadgen import LoadPlan, LoadResult
from bench.process import cpu_seconds

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", re.MULTILINE)
_PERCENTILE = re.compile(r"^[ \t]*(50|99)%[ \t]+([\d.]+)(us|ms|s|m)[ \t]*$", re.MULTILINE)
_MAX = re.compile(r"^[ \t]*Latency[ \t]+\S+[ \t]+\S+[ \t]+([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def available() -> bool:
    """Whether wrk is installed (Debian: apt install wrk)."""
    return shutil.which("wrk") is not None


def _seconds(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


def parse(output: str, server_cpu: float) -> LoadResult:
    """A LoadResult from wrk's --latency report; ValueError if the report lacks a figure."""
    requests = _REQUESTS.search(output)
    percentiles = {m[1]: _seconds(m[2], m[3]) for m in _PERCENTILE.finditer(output)}
    longest = _MAX.search(output)
    if requests is None or set(percentiles) != {"50", "99"} or longest is None:
        raise ValueError(f"wrk's report lacks a figure:\n{output}")
    count = int(requests[1])
    failures = sum(int(n) for n in _NON_2XX.findall(output))
    errors = _SOCKET_ERRORS.search(output)
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return LoadResult(
        requests=count,
        failures=failures,
        seconds=_seconds(requests[2], requests[3]),
        latencies=Latencies(
            samples=count,
            p50_ms=percentiles["50"] * 1000,
            p99_ms=percentiles["99"] * 1000,
            max_ms=_seconds(longest[1], longest[2]) * 1000,
        ),
        server_cpu_seconds=server_cpu,
    )


async def _wrk(plan: LoadPlan, seconds: float) -> str:
    endpoint = plan.endpoints[0]
    command = [
        "wrk",
        "-t2",
        f"-c{len(plan.endpoints)}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-H",
        f"X-Forwarded-For: {plan.forwarded_for}",
    ]
    if endpoint.bearer:
        command += ["-H", f"Authorization: Bearer {endpoint.bearer}"]
    command.append(f"http://{plan.host}:{plan.port}{endpoint.path}")
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output.decode()}")
    return output.decode()


async def drive(plan: LoadPlan) -> LoadResult:
    """Warms up, then measures: every connection sends the plan's first endpoint (a GET)."""
    endpoint = plan.endpoints[0]
    if endpoint.method != "GET" or endpoint.body is not None or endpoint.further_paths:
        raise ValueError("wrk drives one GET alike on every connection")
    if plan.warmup_seconds > 0:
        await _wrk(plan, plan.warmup_seconds)
    before = cpu_seconds(plan.server_pids)
    output = await _wrk(plan, plan.duration_seconds)
    return parse(output, cpu_seconds(plan.server_pids) - before)
