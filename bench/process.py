"""Other processes: the spawned one that runs load and producers, and what servers consume."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time (user + system, every thread) the processes have used so far."""
    total = 0
    for pid in pids:
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass(frozen=True)
class MachineTime:
    """The machine's CPU time so far, every core's: busy (working, whatever process for) and
    stolen (wanted, but the host ran another guest: a shared machine's disturbance)."""

    busy: float
    stolen: float
    cores: int

    def __sub__(self, earlier: MachineTime) -> MachineTime:
        return MachineTime(self.busy - earlier.busy, self.stolen - earlier.stolen, self.cores)


def machine_time() -> MachineTime:
    """The machine's CPU time so far, from /proc/stat."""
    lines = Path("/proc/stat").read_text().splitlines()
    # cpu  user nice system idle iowait irq softirq steal ...
    user, nice, system, _, _, irq, softirq, steal = (int(f) for f in lines[0].split()[1:9])
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3].isdigit())
    busy = user + nice + system + irq + softirq
    return MachineTime(busy / CLOCK_TICKS, steal / CLOCK_TICKS, cores)


async def until_quiet(
    pids: Iterable[int], *, busy_share: float = 0.1, window: float = 0.5, within: float = 60.0
) -> float:
    """Waits until the processes together use less than busy_share of one core over a window
    (the events of a setup consumed, its mail sent), or `within` seconds pass; returns the
    seconds waited."""
    chosen = list(pids)
    started = time.monotonic()
    while time.monotonic() - started < within:
        before = cpu_seconds(chosen)
        await asyncio.sleep(window)
        if cpu_seconds(chosen) - before < busy_share * window:
            break
    return time.monotonic() - started


def resident_mb(pid: int) -> float:
    """A process's resident set size in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _run(work: Callable[..., Coroutine[Any, Any, T]], args: tuple[Any, ...]) -> T:
    return asyncio.run(work(*args))


class SeparateProcess:
    """One spawned process, kept warm, running one coroutine function at a time."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )

    async def run(self, work: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Runs work(*args) on the other process's own event loop; work must be importable."""
        return await asyncio.wrap_future(self._pool.submit(_run, work, args))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
