"""Rejecting bad input loudly but cheaply: typed errors, per-topic counters, throttled warnings.

Every message the node receives can be wrong. A rejected message raises ``InputError`` with a
short stable ``reason`` (the key counted on ``diagnostics``) and a detail naming the offending
value; ``RejectionCounter`` keeps the counts per (topic, reason); ``WarningThrottle`` lets the
first warning of each kind through at once and then at most one per period, saying how many
were held back, so a flood of bad input neither floods the log nor goes unnoticed.

Finite is not enough: a Twist of 1e308 m/s is finite, and a model fed it overflows to NaN.
``InputBounds`` says what a robot can physically report (speed, yaw rate, how far from the
origin, a unit quaternion, a finite covariance); input outside it is rejected as
``out_of_bounds`` (``bad_quaternion``, ``non_finite`` for a covariance) like non-finite input.
Every node carries one as its ``input_bounds.*`` parameters.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..config import setting, validate_settings


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


@dataclass(frozen=True)
class InputBounds:
    """What a robot's messages can physically say; the defaults leave room for any ground
    robot and catch values no sensor reports (1e308 m/s, a pose 1e12 m away, a quaternion of
    norm 2). Checked after finiteness; ``out_of_bounds`` is the reason counted."""

    max_speed_mps: float = setting(
        20.0,
        "largest plausible linear speed (m/s, norm of the linear twist) in odometry, commands, "
        "plans and states; beyond it the message is rejected (out_of_bounds)",
        low=0.0,
        high=1e6,
    )
    max_yaw_rate_radps: float = setting(
        20.0,
        "largest plausible angular rate (rad/s, any axis) in odometry, commands, plans and "
        "states (out_of_bounds beyond it)",
        low=0.0,
        high=1e6,
    )
    max_position_m: float = setting(
        1e5,
        "largest plausible |x|, |y|, |z| of a pose (m) in odometry, goals and states "
        "(out_of_bounds beyond it)",
        low=1.0,
        high=1e12,
    )
    quaternion_norm_tolerance: float = setting(
        0.05,
        "an orientation is used only when | |q| - 1 | is at most this (bad_quaternion otherwise)",
        low=0.0,
        high=1.0,
    )
    require_finite_covariance: bool = setting(
        True, "reject odometry whose pose or twist covariance holds NaN or inf (non_finite)"
    )
    max_latent_abs: float = setting(
        1e4,
        "largest |value| in a twin state's latent vector (out_of_bounds beyond it: rolled out, "
        "it would overflow)",
        low=1.0,
        high=1e30,
    )

    def __post_init__(self) -> None:
        validate_settings(self)

    def position(self, what: str, values: Sequence[float]) -> None:
        """Each coordinate within ``max_position_m``."""
        require_finite(what, values)
        if any(abs(v) > self.max_position_m for v in values):
            raise InputError(
                "out_of_bounds",
                f"{what} {_short(values)} is beyond input_bounds.max_position_m="
                f"{self.max_position_m:g}",
            )

    def twist(self, what: str, linear: Sequence[float], angular: Sequence[float]) -> None:
        """Linear speed (norm) within ``max_speed_mps``, every angular rate within
        ``max_yaw_rate_radps``."""
        require_finite(what, (*linear, *angular))
        speed = math.sqrt(sum(v * v for v in linear))  # finite values: overflows to inf at most
        if speed > self.max_speed_mps:
            raise InputError(
                "out_of_bounds",
                f"{what} linear speed {speed:.3g} m/s is beyond input_bounds.max_speed_mps="
                f"{self.max_speed_mps:g}",
            )
        if any(abs(w) > self.max_yaw_rate_radps for w in angular):
            raise InputError(
                "out_of_bounds",
                f"{what} angular rate {_short(angular)} rad/s is beyond "
                f"input_bounds.max_yaw_rate_radps={self.max_yaw_rate_radps:g}",
            )

    def quaternion(self, what: str, x: float, y: float, z: float, w: float) -> None:
        """A unit quaternion within ``quaternion_norm_tolerance``."""
        require_finite(what, (x, y, z, w))
        norm = math.sqrt(x * x + y * y + z * z + w * w)
        if not abs(norm - 1.0) <= self.quaternion_norm_tolerance:
            raise InputError(
                "bad_quaternion",
                f"{what} ({x:g}, {y:g}, {z:g}, {w:g}) has norm {norm:.4g}, not 1 within "
                f"input_bounds.quaternion_norm_tolerance={self.quaternion_norm_tolerance:g}",
            )

    def covariance(self, what: str, values: Sequence[float]) -> None:
        if self.require_finite_covariance and not all(math.isfinite(v) for v in values):
            raise InputError("non_finite", f"{what} covariance contains NaN or inf")

    def latent(self, largest_abs: float) -> None:
        if largest_abs > self.max_latent_abs:
            raise InputError(
                "out_of_bounds",
                f"latent value {largest_abs:.3g} is beyond input_bounds.max_latent_abs="
                f"{self.max_latent_abs:g}",
            )


def _short(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


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
