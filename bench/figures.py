"""The figures the bench reports: latency summaries and throughput, and their printing."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def say(message: str) -> None:
    """Progress and warnings, on stderr so the table on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Latencies:
    """A latency distribution in milliseconds, summarised."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latencies:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan)
        ordered = sorted(seconds)
        return cls(
            samples=len(ordered),
            p50_ms=_percentile(ordered, 50) * 1000,
            p99_ms=_percentile(ordered, 99) * 1000,
            max_ms=ordered[-1] * 1000,
        )


def pace(instants: Iterable[float]) -> float:
    """How many a second happened, from the first instant to the last (0 for fewer than 2)."""
    times = sorted(instants)
    return (
        (len(times) - 1) / (times[-1] - times[0])
        if len(times) > 1 and times[-1] > times[0]
        else 0.0
    )


def _percentile(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of an already sorted sequence."""
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Figure:
    """One line of the report, measured on one shape, with its target when it has one."""

    name: str
    shape: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def render_table(figures: Sequence[Figure], shapes: Sequence[str]) -> str:
    """The figures as a table: one row per figure, one column per shape, then the target."""
    rows: dict[str, dict[str, Figure]] = {}
    for figure in figures:
        rows.setdefault(figure.name, {})[figure.shape] = figure
    header = ["figure", *shapes, "target"]
    lines = [header]
    for name, by_shape in rows.items():
        target = next((f.target for f in by_shape.values() if f.target), "")
        lines.append([name, *(_cell(by_shape.get(shape)) for shape in shapes), target])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _cell(figure: Figure | None) -> str:
    if figure is None:
        return "-"
    if math.isnan(figure.value):
        return "n/a"
    number = f"{figure.value:,.2f}" if abs(figure.value) < 100 else f"{figure.value:,.0f}"
    verdict = {True: " ok", False: " MISSED", None: ""}[figure.met]
    return f"{number} {figure.unit}{verdict}"
