"""What a goal is and what the controller says about it: tolerance, inputs, status, output.

The plain types of the control cycle (``goal_controller.py``), apart so that callers (the
node's message conversions, the demo, tests) can name them without the controller's logic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..geometry import wrap_angle_np
from ..model.contract import LatentState
from .mppi import MppiResult
from .scan_layer import LaserFrame


@dataclass(frozen=True)
class GoalTolerance:
    """When a goal counts as reached: position within ``xy_m`` and yaw within ``yaw_rad``
    (``yaw_rad >= pi`` ignores the heading)."""

    xy_m: float = 0.15
    yaw_rad: float = 0.35


def goal_reached(pose_xyyaw, goal_xyyaw, tolerance: GoalTolerance) -> bool:
    """Whether ``pose`` is within ``tolerance`` of ``goal`` (both (x, y, yaw), same frame)."""
    pose = np.asarray(pose_xyyaw, dtype=np.float64)
    goal = np.asarray(goal_xyyaw, dtype=np.float64)
    if np.hypot(*(pose[:2] - goal[:2])) > tolerance.xy_m:
        return False
    if tolerance.yaw_rad >= math.pi:
        return True
    return abs(float(wrap_angle_np(goal[2] - pose[2]))) <= tolerance.yaw_rad


@dataclass(frozen=True)
class PlanningInput:
    """The robot's state at ``stamp_s`` as the model encoded it (the twin's published state,
    or a local encode): what one plan starts from."""

    stamp_s: float
    latent: LatentState
    scan: LaserFrame | None = None  # a planar LiDAR's newest scan, for the costmap


class GoalState(str, Enum):
    IDLE = "idle"  # no goal: nothing is sent
    ACTIVE = "active"  # planning and driving
    HOLDING = "holding"  # a goal, but no fresh valid plan: zero is sent every period
    REACHED = "reached"
    FAILED = "failed"


@dataclass(frozen=True)
class ControllerStatus:
    """What the planner is doing and why; ``text`` is the one-line form of the status topic."""

    state: GoalState
    reason: str = ""
    goal_xyyaw: tuple[float, float, float] | None = None
    distance_m: float = math.nan
    predictor: str = ""  # the model planning now (the learned one, or the fallback)
    critic_costs: dict[str, float] = field(default_factory=dict)  # of the chosen plan
    planning_ms: float = math.nan

    @property
    def text(self) -> str:
        return f"{self.state.value}: {self.reason}" if self.reason else self.state.value


@dataclass
class ControlOutput:
    """One cycle's result. ``command_2`` None: send nothing (no goal; teleop may drive)."""

    command_2: np.ndarray | None
    status: ControllerStatus
    result: MppiResult | None = None  # a new plan made this cycle
    planned_from: PlanningInput | None = None
