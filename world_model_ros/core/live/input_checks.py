"""Rejecting bad input loudly but cheaply: typed errors, per-topic counters, throttled warnings.

Every message the node receives can be wrong. A rejected message raises ``InputError`` with a
short stable ``reason`` (the key counted on ``diagnostics``) and a detail naming the offending
value; ``RejectionCounter`` keeps the counts per (topic, reason); ``WarningThrottle`` lets the
first warning of each kind through at once and then at most one per period, saying how many
were held back, so a flood of bad input neither floods the log nor goes unnoticed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable


class InputError(ValueError):
    """A message that cannot be used; ``reason`` is a short stable key for counting."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def require_finite(what: str, values: Iterable[float]) -> None:
    values = list(values)
    if not all(math.isfinite(v) for v in values):
        raise InputError("non_finite", f"{what} contains NaN or inf: {values}")


def require_frame_id(frame_id: str) -> None:
    if not frame_id:
        raise InputError("empty_frame_id", "header.frame_id is empty")


class RejectionCounter:
    """Counts of rejected (or skipped) inputs per (topic, reason)."""

    def __init__(self):
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, topic: str, reason: str) -> int:
        self.counts[(topic, reason)] += 1
        return self.counts[(topic, reason)]

    def total(self) -> int:
        return sum(self.counts.values())

    def by_reason(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (_, reason), count in self.counts.items():
            totals[reason] += count
        return totals


class WarningThrottle:
    """At most one warning per ``key`` every ``period_s`` (the first one at once)."""

    def __init__(self, period_s: float = 5.0):
        self.period_s = period_s
        self._last_s: dict[object, float] = {}
        self._held: Counter[object] = Counter()

    def allow(self, key: object, now_s: float) -> tuple[bool, int]:
        """(whether to log now, how many warnings of this key were held back since the last
        one)."""
        last = self._last_s.get(key)
        if last is None or now_s - last >= self.period_s:
            self._last_s[key] = now_s
            held = self._held.pop(key, 0)
            return True, held
        self._held[key] += 1
        return False, 0
