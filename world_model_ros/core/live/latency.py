"""Latency bookkeeping for a real-time loop: rolling percentiles, deadline misses, stage timings.

The node reports these on ``diagnostics`` and the benchmark reads them back, so the figures a
user sees live and the figures in a report come from the same code. Milliseconds throughout.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

# The stages of one prediction cycle, in order (docs/architecture.md, "Data flow 1").
STAGES = ("convert", "preprocess", "encode", "rollout", "publish")


class RollingStats:
    """The last ``window`` values of one quantity and their p50/p95/max."""

    def __init__(self, window: int = 300):
        self._values: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        self._values.append(float(value))

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    def summary(self) -> dict[str, float]:
        """{"p50", "p95", "max"} over the window; NaN when empty."""
        if not self._values:
            return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
        values = np.fromiter(self._values, dtype=np.float64)
        p50, p95 = np.percentile(values, (50, 95))
        return {"p50": float(p50), "p95": float(p95), "max": float(values.max())}


class StageTimer:
    """Times the named stages of one cycle: ``with timer.stage("encode"): ...``."""

    def __init__(self):
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + 1e3 * (time.perf_counter() - start)


class LatencyMonitor:
    """End-to-end latency against a per-cycle deadline, plus per-stage timings.

    ``deadline_misses`` counts every cycle over ``budget_ms`` since start (never reset, so a
    miss is never absorbed); the rolling windows are cleared on a time reset because latencies
    measured across a clock jump mean nothing.
    """

    def __init__(self, budget_ms: float = 200.0, window: int = 300):
        self.budget_ms = budget_ms
        self.window = window
        self.latency = RollingStats(window)
        self.stages = {name: RollingStats(window) for name in STAGES}
        self.cycles = 0
        self.deadline_misses = 0

    def record(self, latency_ms: float, stage_ms: dict[str, float]) -> bool:
        """Record one published cycle; returns True when it missed its deadline."""
        self.cycles += 1
        self.latency.add(latency_ms)
        for name, value in stage_ms.items():
            self.stages.setdefault(name, RollingStats(self.window)).add(value)
        missed = latency_ms > self.budget_ms
        self.deadline_misses += int(missed)
        return missed

    def clear_windows(self) -> None:
        self.latency.clear()
        for stats in self.stages.values():
            stats.clear()

    def summary(self) -> dict[str, float]:
        """Flat {"latency_p50_ms": ..., "stage_encode_p95_ms": ...} for diagnostics."""
        out: dict[str, float] = {}
        for key, value in self.latency.summary().items():
            out[f"latency_{key}_ms"] = value
        for name, stats in self.stages.items():
            for key, value in stats.summary().items():
                if key != "max":
                    out[f"stage_{name}_{key}_ms"] = value
        return out
