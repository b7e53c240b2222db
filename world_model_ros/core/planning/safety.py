"""The planner's safety contract, enforced in one place: every command passes ``SafetyGate``.

The contract (docs/planner.md, "Safety contract"):

1. The robot gets a zero command whenever no fresh, valid plan exists for
   ``stale_timeout_s``, whatever the reason: inputs missing, frozen, duplicated, out of sync
   or invalid, the model failing, planning failing, the node shutting down.
2. While a goal is held that way, zero is sent at every control period, not once: a single
   message can be lost on a best-effort link, and a base without its own command timeout
   would keep the last non-zero command.
3. No command is ever non-finite or outside the configured velocity limits.

``SafetyGate`` is the last step between a plan and the wire: it knows when the newest valid
plan was made and the limits, and returns either the plan's command or zero with the reason.
It holds no ROS state, so the node, the lockstep demo and the tests check the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

ZERO_2 = np.zeros(2)


@dataclass(frozen=True)
class VelocityLimits:
    v_min: float  # m/s, <= 0
    v_max: float  # m/s
    w_max: float  # rad/s, |w| limit

    def violation(self, command_2: np.ndarray) -> str | None:
        """Why ``command_2`` may not be sent; None when it may."""
        v, w = float(command_2[0]), float(command_2[1])
        if not (math.isfinite(v) and math.isfinite(w)):
            return f"command ({v}, {w}) is not finite"
        # A hair of slack: the plan is a convex combination of limited samples in float32.
        if not (self.v_min - 1e-6 <= v <= self.v_max + 1e-6) or abs(w) > self.w_max + 1e-6:
            return (
                f"command (v {v:.3f} m/s, w {w:.3f} rad/s) is outside the limits "
                f"v in [{self.v_min:g}, {self.v_max:g}], |w| <= {self.w_max:g}"
            )
        return None


class SafetyGate:
    """Decides what is sent: the plan's command, or zero and why (see the module docstring)."""

    def __init__(self, limits: VelocityLimits, stale_timeout_s: float):
        self.limits = limits
        self.stale_timeout_s = stale_timeout_s
        self.last_plan_s: float | None = None  # when the newest valid plan was made
        self.rejected = 0  # commands replaced by zero because they broke rule 3

    def plan_made(self, now_s: float) -> None:
        self.last_plan_s = now_s

    def forget(self) -> None:
        """No plan is valid any more (a new goal, a stop, a model change)."""
        self.last_plan_s = None

    def plan_age_s(self, now_s: float) -> float:
        return math.inf if self.last_plan_s is None else now_s - self.last_plan_s

    def filter(self, command_2: np.ndarray | None, now_s: float) -> tuple[np.ndarray, str]:
        """(command to send, '' or why it is zero)."""
        if command_2 is None:
            return ZERO_2.copy(), "no plan"
        age_s = self.plan_age_s(now_s)
        if age_s > self.stale_timeout_s:
            return ZERO_2.copy(), (
                f"no valid plan for {age_s:.2f} s (stale_timeout_s={self.stale_timeout_s:g})"
            )
        problem = self.limits.violation(command_2)
        if problem:
            self.rejected += 1
            return ZERO_2.copy(), f"refused: {problem}"
        return np.asarray(command_2, dtype=np.float64), ""


def plan_not_finite(result) -> str | None:
    """Why a plan (an ``MppiResult``) may not be driven on: NaN or inf in its commands or in the
    poses the model predicts under them; None when it may."""
    if not bool(torch.isfinite(result.commands_h2).all()):
        return "its commands hold NaN or inf"
    if not bool(torch.isfinite(result.plan_rollout.poses_bh3).all()):
        return "its predicted poses hold NaN or inf"
    return None
